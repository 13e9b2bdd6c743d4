package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/fix"
)

// deployLock is held while a watch changes the project's containers (a
// deploy, a rollback, finishing either after a restart). The journal's lock
// keeps one watch per state directory; two with different ones (two units,
// a unit and a manual run) would deploy one project at once, each rolling
// back what the other put up. It is keyed by the compose project's name,
// the engine's own key for a project's containers (whatever directory or
// files a watch loaded it from), in the runtime directory, which no state
// directory moves.
type deployLock struct {
	f      *flock.Flock
	holder string // this watch, as the lock file names it to the others
	depth  int    // held by this watch, however deep: a deploy's rollback runs under it
}

// deployLockPath is the project's deploy lock in the runtime directory dir.
func deployLockPath(dir, project string) string {
	return filepath.Join(dir, "watch", project+".deploy.lock")
}

func newDeployLock(dir, project, journal string) (*deployLock, error) {
	path := deployLockPath(dir, project)
	if err := dirs.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fix.New(fmt.Errorf("runtime directory %s: %w", filepath.Dir(path), err),
			"make it writable for this user (root's is /run/currents; another user's $XDG_RUNTIME_DIR/currents)")
	}
	return &deployLock{f: flock.New(path, flock.SetPermissions(0o600)), holder: fmt.Sprintf("pid %d, journal %s", os.Getpid(), journal)}, nil
}

// held runs fn holding the project's deploy lock; when another watch holds
// it, fn does not run and the error names that watch. A watch that does
// not deploy has none, and changes no container.
func (l *deployLock) held(fn func()) error {
	if l == nil {
		fn()
		return nil
	}
	if l.depth > 0 {
		l.depth++
		defer func() { l.depth-- }()
		fn()
		return nil
	}
	ok, err := l.f.TryLock()
	if err != nil {
		return fix.New(fmt.Errorf("deploy lock %s: %w", l.f.Path(), err),
			"it must be a file this user can read and write: `chown` one left by another user, or remove it while no watch runs")
	}
	if !ok {
		other, _ := os.ReadFile(l.f.Path())
		who := strings.TrimSpace(string(other))
		if who == "" {
			who = "unknown"
		}
		return fix.New(fmt.Errorf("another watch is deploying this project (%s; it holds %s)", who, l.f.Path()),
			"this watch deploys once it is done (retried with backoff); run one deploying watch per project and engine, and stop the other")
	}
	defer l.f.Unlock()
	// Said to a watch that finds the lock held: which one holds it.
	_ = os.WriteFile(l.f.Path(), []byte(l.holder+", since "+time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
	l.depth++
	defer func() { l.depth-- }()
	fn()
	return nil
}
