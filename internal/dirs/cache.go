package dirs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/currentsdev/currents/internal/fix"
)

// EnvCache overrides the token cache directory.
const EnvCache = "CURRENTS_CACHE_DIR"

// cacheName is this project's directory in a cache base directory.
const cacheName = "currents"

// rootCache is root's cache when no home directory serves (a variable so tests
// need not touch /var).
var rootCache = "/var/cache/currents"

// Cache chooses the token cache directory. use is handed each candidate in
// turn; it creates the directory (with MkdirAll) and checks it, and the first
// it accepts is the cache. The order: $CURRENTS_CACHE_DIR alone when set (an
// explicit choice is never silently replaced); else $XDG_CACHE_HOME/currents;
// <home>/.cache/currents, with the home Home gives config lookup (HOME, else
// the user database); the user database's home when it differs from HOME
// (root with a user's HOME); /var/cache/currents for root; last, a directory
// of this user's own under the temp directory, made by MkdirTemp, so nobody
// can take its name first.
//
// skipped lists, one line each, the candidates use refused and why: the
// caller says them at warning level, since a cache in an unexpected place
// (or none) is something a user must be able to find out.
func Cache(use func(dir string) error) (dir string, skipped []string, err error) {
	if d := os.Getenv(EnvCache); d != "" {
		if err := use(d); err != nil {
			if _, hint := fix.Split(err); hint != "" {
				// use already said what to do (a shared directory: give
				// the cache one of its own).
				return "", nil, fmt.Errorf("%s=%s: %w", EnvCache, d, err)
			}
			return "", nil, fmt.Errorf("%w; set %s to a writable directory", err, EnvCache)
		}
		return d, nil, nil
	}
	try := func(d string) bool {
		if err := use(d); err != nil {
			skipped = append(skipped, err.Error())
			return false
		}
		return true
	}
	// Lazily: a warm get stops at the first, and must not read the user database to get there.
	for _, candidate := range cacheCandidates {
		if d := candidate(); d != "" && try(d) {
			return d, skipped, nil
		}
	}
	if d, ok := tempCache(use); ok {
		return d, skipped, nil
	}
	if d, err := os.MkdirTemp("", cacheName+"-"+strconv.Itoa(os.Geteuid())+"-"); err != nil {
		skipped = append(skipped, err.Error())
	} else if try(d) {
		return d, skipped, nil
	} else {
		os.Remove(d)
	}
	return "", skipped, fmt.Errorf("no usable cache directory (%s); set %s to a writable directory", strings.Join(skipped, "; "), EnvCache)
}

// cacheCandidates each give one directory to try, "" when they have none.
var cacheCandidates = []func() string{
	func() string {
		if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, cacheName)
		}
		return ""
	},
	func() string {
		if home, err := Home(); err == nil && filepath.IsAbs(home) {
			return filepath.Join(home, ".cache", cacheName)
		}
		return ""
	},
	func() string { // root with a user's HOME: root's own home
		home, _ := Home()
		if u, err := currentUser(); err == nil && filepath.IsAbs(u.HomeDir) && u.HomeDir != home {
			return filepath.Join(u.HomeDir, ".cache", cacheName)
		}
		return ""
	},
	func() string {
		if os.Geteuid() == 0 {
			return rootCache
		}
		return ""
	},
}

// tempCache finds the directory a previous run made under the temp directory,
// if use still accepts it (ours, private, writable).
func tempCache(use func(dir string) error) (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), cacheName+"-"+strconv.Itoa(os.Geteuid())+"-*"))
	for _, d := range matches {
		if owner, ok := Owner(d); !ok || owner != os.Geteuid() {
			continue
		}
		if use(d) == nil {
			return d, true
		}
	}
	return "", false
}

// SetRootCache makes Cache offer dir instead of /var/cache/currents, for
// tests in other packages; it returns the function that restores it.
func SetRootCache(dir string) (restore func()) {
	old := rootCache
	rootCache = dir
	return func() { rootCache = old }
}
