package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/secret"
)

// AWSHelperPath locates the AWS binary: CURRENTS_AWS_HELPER, else beside the
// running executable (symlinks resolved, so a PATH symlink to an install
// directory still finds its sibling).
func AWSHelperPath() (string, error) {
	if p := os.Getenv(product.EnvAWSHelper); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating %s: %w; set %s", product.AWSHelperCommand, err, product.EnvAWSHelper)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	return filepath.Join(filepath.Dir(self), product.AWSHelperCommand), nil
}

// Subprocess is the lean binary's Refresher: it runs the AWS binary's `get`
// with the server URL on stdin — never in argv — and relays its answer.
// The AWS binary's stderr (its logs) passes straight through to docker.
type Subprocess struct {
	// Path is the AWS binary; empty means AWSHelperPath, looked up only when a
	// refresh is due so that a warm get spends no syscalls on it.
	Path string
}

// Relayed is an error message the AWS binary wrote, already complete and
// already reported on stderr by that process.
type Relayed struct{ msg string }

func (r Relayed) Error() string { return r.msg }

// Refresh implements Refresher.
func (s Subprocess) Refresh(ctx context.Context, req Request) (credential.Token, error) {
	if s.Path == "" {
		p, err := AWSHelperPath()
		if err != nil {
			return credential.Token{}, fmt.Errorf("%s: %w", req.Target.Registry.Host, err)
		}
		s.Path = p
	}
	cmd := exec.CommandContext(ctx, s.Path, "get")
	cmd.Stdin = strings.NewReader(req.ServerURL + "\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		msg := strings.TrimSpace(out.String())
		switch {
		case ctx.Err() != nil:
			return credential.Token{}, fmt.Errorf("%s: %s did not answer in time (%v); raise timeout in the config or %s",
				req.Target.Registry.Host, s.Path, ctx.Err(), "CURRENTS_TIMEOUT")
		case errors.As(err, &exit) && credentials.IsErrCredentialsNotFoundMessage(msg):
			return credential.Token{}, credentials.NewErrCredentialsNotFound()
		case errors.As(err, &exit) && msg != "":
			return credential.Token{}, Relayed{msg}
		case errors.As(err, &exit):
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return credential.Token{}, fmt.Errorf("%s: the AWS helper %s was stopped by signal %q before it answered (killed, or out of memory); retry, and look at the system log if it repeats",
					req.Target.Registry.Host, s.Path, ws.Signal())
			}
			return credential.Token{}, fmt.Errorf("%s: the AWS helper %s failed (%v) without an answer; its own output, if any, is above; reinstall both binaries from one build if it repeats",
				req.Target.Registry.Host, s.Path, err)
		default:
			return credential.Token{}, fmt.Errorf("%s: cannot run the AWS helper %s: %v; reinstall (make install) so it sits beside docker-credential-currents, or set %s",
				req.Target.Registry.Host, s.Path, err, product.EnvAWSHelper)
		}
	}
	var c credentials.Credentials
	if err := json.Unmarshal(out.Bytes(), &c); err != nil || c.Secret == "" {
		return credential.Token{}, fmt.Errorf("%s: the AWS helper %s gave an answer that is not credentials; reinstall both binaries from one build", req.Target.Registry.Host, s.Path)
	}
	return credential.Token{Username: c.Username, Password: secret.New(c.Secret)}, nil
}
