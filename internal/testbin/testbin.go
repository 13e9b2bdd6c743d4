// Package testbin builds the product's binaries for tests that run them as
// users do. Each set of packages and flags is built into one directory per
// checkout under the user's cache, which go build brings up to date in about
// a second when nothing changed (it relinks only a binary whose inputs did),
// instead of linking every binary again in every test process. A lock lets
// test packages that run at once share one build.
package testbin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/product"
)

// Binaries are the product's binaries, linked as `make build` and the
// packages link them: static, without cgo (see BuildFlags).
type Binaries struct {
	// Helpers is the directory of the credential helper and its AWS half:
	// the one to put on PATH.
	Helpers string
	// Plugin is docker-currents (the plugin's front), in a directory of its
	// own, with the full plugin beside it (PluginFull) as installs place them:
	// docker finds a plugin through its cli-plugins directories, never
	// through PATH. A symbolic link to it in a cli-plugins directory works.
	Plugin string
}

// PluginFull is the full plugin its front runs.
func (b Binaries) PluginFull() string { return dirs.PluginFull(b.Plugin) }

// Lean is the credential helper docker runs.
func (b Binaries) Lean() string { return filepath.Join(b.Helpers, product.HelperCommand) }

// AWS is the helper's AWS half.
func (b Binaries) AWS() string { return filepath.Join(b.Helpers, product.AWSHelperCommand) }

// Product builds the helper, its AWS half and the plugin (see Build: once
// per checkout, shared by every test package that asks).
func Product() (Binaries, error) {
	root, err := moduleRoot()
	if err != nil {
		return Binaries{}, err
	}
	flags := BuildFlags
	helpers, err := Build(flags, filepath.Join(root, "credhelper", product.HelperCommand), filepath.Join(root, "credhelper", product.AWSHelperCommand))
	if err != nil {
		return Binaries{}, err
	}
	plugins, err := Build(flags, filepath.Join(root, "composeplugin", product.PluginCommand), filepath.Join(root, "composeplugin", product.PluginFullCommand))
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{Helpers: helpers, Plugin: filepath.Join(plugins, product.PluginCommand)}, nil
}

// BuildFlags are `make build`'s tags; Build adds its CGO_ENABLED=0.
var BuildFlags = []string{"-tags=osusergo,netgo,grpcnotrace"}

// Build builds pkgs (import paths, or directories relative to the working
// directory) with the go build flags, and returns the directory holding the
// binaries, each named after its package's directory. Nothing else writes
// there: callers copy a binary before changing it.
func Build(flags []string, pkgs ...string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	key := sha256.New()
	fmt.Fprintln(key, root)
	fmt.Fprintln(key, strings.Join(flags, "\x00"))
	for _, p := range pkgs {
		if strings.HasPrefix(p, ".") {
			if p, err = filepath.Abs(p); err != nil {
				return "", err
			}
		}
		fmt.Fprintln(key, p)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "currents-testbin", hex.EncodeToString(key.Sum(nil))[:16])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	args := append(append([]string{"build"}, flags...), "-o", dir+string(os.PathSeparator))
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return dir, nil
}

// moduleRoot is the directory of the go.mod the tests run in.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}
