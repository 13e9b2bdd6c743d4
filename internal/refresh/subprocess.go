package refresh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/tokencache"
)

// AWSHelperPath locates the AWS binary: CURRENTS_AWS_HELPER, else beside the
// running executable (symlinks resolved, so a PATH symlink to an install
// directory still finds its sibling). A CURRENTS_AWS_HELPER without a slash
// is a command looked up in PATH: a refresh runs it with exec.Command, which
// would look it up, and the lean binary execs it for every other command,
// which would take it for a file in the working directory.
func AWSHelperPath() (string, error) {
	if p := os.Getenv(product.EnvAWSHelper); p != "" {
		if !strings.Contains(p, "/") {
			if found, err := exec.LookPath(p); err == nil {
				return found, nil
			}
		}
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

// CannotRun explains why the AWS binary at path, as AWSHelperPath gave it,
// could not be started (err, from exec): naming CURRENTS_AWS_HELPER when
// that chose the path, else where the binary was looked for.
func CannotRun(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // exec's "fork/exec PATH: " would say the path twice
	}
	if env := os.Getenv(product.EnvAWSHelper); env != "" {
		return fix.New(fmt.Errorf("%s=%s: cannot run it: %v", product.EnvAWSHelper, env, err),
			fmt.Sprintf("point %s at the %s binary (installed beside %s), or unset it", product.EnvAWSHelper, product.AWSHelperCommand, product.HelperCommand))
	}
	return fix.New(fmt.Errorf("cannot run the AWS helper %s: %v", path, err),
		fmt.Sprintf("reinstall (make install) so it sits beside %s, or set %s to where it is", product.HelperCommand, product.EnvAWSHelper))
}

// StartAs is env (os.Environ() when nil) for a process started as the AWS
// binary from path (product.EnvStartedAs).
func StartAs(env []string, path string) []string {
	if env == nil {
		env = os.Environ()
	}
	return append(withoutVar(env, product.EnvStartedAs), product.EnvStartedAs+"="+path)
}

// StartedInItsPlace is the error of a lean binary started as the AWS binary
// (product.EnvStartedAs), and nil for any other start. The lean binary asks it only
// where it would start its AWS half, so a warm get spends nothing on it.
func StartedInItsPlace() error {
	path := os.Getenv(product.EnvStartedAs)
	if path == "" {
		return nil
	}
	err := fmt.Errorf("%s, run as %s, is %s itself, which would only run itself again", path, product.AWSHelperCommand, product.HelperCommand)
	if os.Getenv(product.EnvAWSHelper) != "" {
		return fix.New(err, fmt.Sprintf("point %s at the %s binary (installed beside %s), or unset it", product.EnvAWSHelper, product.AWSHelperCommand, product.HelperCommand))
	}
	return fix.New(err, fmt.Sprintf("reinstall both binaries from one build (make install): %s beside %s must be the AWS binary, not a copy of or a link to %s",
		product.AWSHelperCommand, product.HelperCommand, product.HelperCommand))
}

// Subprocess is the lean binary's Refresher. It takes the principal's cache
// lock itself and reads the cache again once it holds it, so of a burst of
// parallel cold gets only the first starts the AWS binary: the others find
// its token (or its failure) when the lock frees. The AWS binary's `get` gets
// the server URL on stdin — never in argv — and the lock file, which it
// adopts (product.EnvLockFD); its answer is relayed, its stderr (its logs)
// passes straight through to docker.
type Subprocess struct {
	// Path is the AWS binary; empty means AWSHelperPath, looked up only when a
	// refresh is due so that a warm get spends no syscalls on it.
	Path string
	// Cache is where the lock is taken and the token found; nil leaves both
	// to the AWS binary.
	Cache *tokencache.Cache
	// Timeout bounds the wait for another process's refresh.
	Timeout time.Duration
	Log     *slog.Logger
}

// Relayed is an error message the AWS binary wrote, already complete and
// already reported on stderr by that process.
type Relayed struct{ msg string }

func (r Relayed) Error() string { return r.msg }

// Refresh implements Refresher.
func (s Subprocess) Refresh(ctx context.Context, req Request) (credential.Token, error) {
	if err := StartedInItsPlace(); err != nil {
		return credential.Token{}, fmt.Errorf("%s: %w", req.Target.Registry.Host, err)
	}
	var held *tokencache.Held
	if s.Cache != nil {
		h, tok, done, err := LeanTurn(ctx, s.Cache, req, s.Timeout, s.Log)
		if done || err != nil {
			return tok, err
		}
		if h != nil {
			defer h.Unlock()
		}
		held = h
	}
	return s.run(ctx, req, held)
}

// LeanTurn is the lean binary's turn at refreshing req: it takes the
// principal's cache lock (waiting at most timeout for another process's
// refresh) and reads the cache again once it holds it. done reports that
// what another process did meanwhile answers req: its token, or its failure
// (err). Otherwise the caller runs the AWS binary, handing it held (HandDown)
// and unlocking after; a nil held means the cache cannot lock, and the AWS
// binary refreshes without the lock.
func LeanTurn(ctx context.Context, cache *tokencache.Cache, req Request, timeout time.Duration, log *slog.Logger) (held *tokencache.Held, tok credential.Token, done bool, err error) {
	if log == nil {
		log = logging.Discard()
	}
	asked := cache.Clock().Now()
	key, settings := tokencache.TokenKey(req.Target.Registry), failureSettings(timeout, req)
	// One wait for the turn, however it is taken, within the timeout.
	turnCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var h *tokencache.Held
	if cache.Usable() == nil {
		// Behind another process's refresh, wait for it with the other
		// gets of the burst and read what it left, all at once, rather
		// than each taking the lock in turn to read it.
		held, werr := cache.AwaitLock(turnCtx, req.Identity)
		if held == nil && werr == nil {
			e := cache.Load(req.Identity)
			if tok, err, done := settled(e, key, asked, cache.Clock().Now(), settings, log); done {
				return nil, tok, true, err
			}
		}
		h = held
	}
	// The AWS binary says what is wrong with the cache, once.
	if h == nil {
		h, err = waitTurn(turnCtx, cache, req, timeout, log, slog.LevelDebug)
	}
	if err != nil || h == nil {
		return nil, credential.Token{}, false, err
	}
	e := cache.Load(req.Identity)
	if tok, err, done := settled(e, key, asked, cache.Clock().Now(), settings, log); done {
		h.Unlock()
		return nil, tok, true, err
	}
	return h, credential.Token{}, false, nil
}

// HandDown gives cmd, the AWS binary about to run, the lock the lean binary
// holds: the file as descriptor 3, named by product.EnvLockFD, which the AWS
// binary adopts (InheritedLock) instead of waiting for a lock it would never
// get. A killed lean binary thus leaves the lock with the refresh it started.
func HandDown(cmd *exec.Cmd, held *tokencache.Held) {
	if held == nil {
		return
	}
	cmd.ExtraFiles = []*os.File{held.File()} // descriptor 3
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutVar(env, product.EnvLockFD), product.EnvLockFD+"=3")
}

// run runs the AWS binary's get, handing it the lock when we hold it.
func (s Subprocess) run(ctx context.Context, req Request, held *tokencache.Held) (credential.Token, error) {
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
	cmd.Env = StartAs(nil, s.Path)
	HandDown(cmd, held)
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
			return credential.Token{}, fmt.Errorf("%s: %w", req.Target.Registry.Host, CannotRun(s.Path, err))
		}
	}
	var c credentials.Credentials
	if err := json.Unmarshal(out.Bytes(), &c); err != nil || c.Secret == "" {
		return credential.Token{}, fmt.Errorf("%s: the AWS helper %s gave an answer that is not credentials; reinstall both binaries from one build", req.Target.Registry.Host, s.Path)
	}
	return credential.Token{Username: c.Username, Password: secret.New(c.Secret)}, nil
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
