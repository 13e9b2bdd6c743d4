package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/refresh"
	"github.com/currentsdev/currents/internal/tokencache"
)

// ServeLean is the lean binary's kubelet mode: a warm answer from the cache;
// otherwise, as get does, it takes the principal's cache lock and looks again
// (so of a pod's parallel cold requests only the first starts the AWS
// binary), and then the AWS binary's kubelet mode answers the same request
// (which it reads on stdin, never in argv) holding the lock handed down, and
// its answer is relayed. If the AWS binary gives no answer at all, a cached
// token that is still safe is served with cacheDuration 0.
func ServeLean(ctx context.Context, a *Answerer, in io.Reader, out io.Writer) error {
	req, raw, err := ReadRequest(in, a.Config.Timeout)
	if err != nil {
		return err
	}
	resp, ok, err := a.Cached(req)
	if err != nil {
		return err
	}
	if ok {
		return resp.Write(out)
	}
	answer, err := a.turn(ctx, req, raw)
	if err != nil {
		var r refresh.Relayed
		if resp, ok := a.Servable(req); ok && !errors.As(err, &r) {
			return resp.Write(out)
		}
		return err
	}
	_, err = out.Write(answer)
	return err
}

// turn waits for the principal's lock; the token or failure another process
// left meanwhile answers, else the AWS binary does, holding the lock.
func (a *Answerer) turn(ctx context.Context, req Request, raw []byte) ([]byte, error) {
	r, _, err := a.Target(req)
	if err != nil {
		return nil, err
	}
	if err := refresh.StartedInItsPlace(); err != nil {
		return nil, err
	}
	held, tok, done, err := refresh.LeanTurn(ctx, a.Cache, r, a.Config.Timeout, a.Log)
	if err != nil {
		return nil, err
	}
	if done {
		var b bytes.Buffer
		if err := a.answer(req, tok, a.Cache.Clock().Now()).Write(&b); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	if held != nil {
		defer held.Unlock()
	}
	return relay(ctx, raw, held)
}

// relay runs the AWS binary's kubelet mode with the request on stdin and the
// lock, when held, handed down.
func relay(ctx context.Context, request []byte, held *tokencache.Held) ([]byte, error) {
	path, err := refresh.AWSHelperPath()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, path, "kubelet")
	cmd.Stdin = bytes.NewReader(request)
	cmd.Env = refresh.StartAs(nil, path)
	refresh.HandDown(cmd, held)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr // its error, already phrased, reaches the kubelet's log
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s did not answer in time (%v); raise timeout in the config or CURRENTS_TIMEOUT", path, ctx.Err())
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return nil, refresh.Relayed{}
	case err != nil:
		return nil, refresh.CannotRun(path, err)
	}
	var check struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(stdout.Bytes(), &check) != nil || check.Kind != "CredentialProviderResponse" {
		return nil, fmt.Errorf("the AWS helper %s gave an answer that is not a CredentialProviderResponse; reinstall both binaries from one build", path)
	}
	return stdout.Bytes(), nil
}

// Report writes err as the kubelet shows a plugin's stderr: one line, the
// helper's name first, as `get` reports to docker. An error the AWS binary
// relayed was reported by it already.
func Report(w io.Writer, err error) {
	var r refresh.Relayed
	if errors.As(err, &r) {
		return
	}
	fmt.Fprintf(w, "%s: %s\n", product.HelperCommand, strings.TrimSpace(err.Error()))
}
