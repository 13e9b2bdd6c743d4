// Package shim installs and runs the opt-in compose shim: our binary placed
// as a `docker-compose` CLI plugin in a dedicated directory listed first in
// the docker config's cliPluginsExtraDirs, so `docker compose currents …`
// reaches us while everything else is exec'd, untouched, to the real compose.
//
// Compose has no way to add sub-commands (docker/compose#7494) and the docker
// CLI refuses aliases for `compose`; shadowing the plugin is the one way to
// answer `docker compose currents check`. It is opt-in and fully reversible:
// install proves, before writing, that uninstall restores config.json byte
// for byte.
package shim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/compose"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/product"
)

// settingsFile holds the shim's settings and what install changed, inside
// the shim directory. It holds no secrets.
const settingsFile = "shim.json"

// DirName is the shim directory inside the docker config directory.
const DirName = "currents-compose-shim"

// Settings are read by the shim at run time and by uninstall.
type Settings struct {
	// CheckBeforeUp runs `docker currents check` before `docker compose up`.
	CheckBeforeUp bool `json:"checkBeforeUp"`
	// Config is the config.json install edited.
	Config string `json:"config"`
	// CreatedConfig: config.json did not exist before install, so uninstall
	// removes it again when nothing else was added meanwhile.
	CreatedConfig bool `json:"createdConfig"`
	// OriginalSHA256 is the hash of config.json before install (never the
	// content: it may hold registry tokens), so uninstall can tell whether
	// it restored the exact bytes or kept later changes.
	OriginalSHA256 string `json:"originalSha256,omitempty"`
	// InstalledSHA256 is the hash of config.json as install wrote it.
	InstalledSHA256 string `json:"installedSha256,omitempty"`
	// Original is config.json before install, kept only in the rare case
	// where removing the entry again cannot give the same bytes (an empty
	// cliPluginsExtraDirs array, which removal drops). The file is then 0600.
	Original []byte `json:"original,omitempty"`
	// WroteBackup: install's edit left config.json.bak (dockerconfig keeps
	// the previous bytes there). BackupExisted: a config.json.bak was there
	// before, and its bytes are kept in the shim directory (0600, as the
	// original) so uninstall can put it back.
	WroteBackup   bool `json:"wroteBackup,omitempty"`
	BackupExisted bool `json:"backupExisted,omitempty"`
}

// savedBackup holds the config.json.bak that install's edit replaced.
const savedBackup = "config.json.bak.orig"

// Paths locates the shim for one docker config directory.
type Paths struct {
	ConfigDir string // the docker config directory
	Config    string // its config.json
	Dir       string // the shim directory
}

// Locate resolves the docker config directory as the docker CLI does
// (--config flag value, else DOCKER_CONFIG, else ~/.docker).
func Locate(configFlag string) (Paths, error) {
	dir, err := dirs.DockerConfig(configFlag)
	if err != nil {
		return Paths{}, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return Paths{}, err
	}
	return Paths{ConfigDir: dir, Config: filepath.Join(dir, dirs.DockerConfigName), Dir: filepath.Join(dir, DirName)}, nil
}

// Binary is the shim plugin's path: the plugin's front (package front),
// which answers docker's metadata question with the real compose's.
func (p Paths) Binary() string { return filepath.Join(p.Dir, compose.PluginName) }

// Full is the full plugin beside the shim's front: the shim itself for
// everything but that question.
func (p Paths) Full() string { return filepath.Join(p.Dir, product.PluginFullCommand) }

// LoadSettings reads the settings next to the running shim; a missing file
// means defaults.
func LoadSettings(dir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %v", filepath.Join(dir, settingsFile), err)
	}
	return s, nil
}

// InstallOptions tune Install.
type InstallOptions struct {
	CheckBeforeUp bool
}

// Install places exe as the docker-compose plugin in the shim directory and
// lists that directory first in cliPluginsExtraDirs. It refuses when no real
// compose plugin can be found, since the shim would have nothing to hand
// over to. Running it again updates the binary and the settings.
func Install(p Paths, exe string, o InstallOptions) (Status, error) {
	cfg, err := dockerconfig.Load(p.Config)
	if err != nil {
		return Status{}, err
	}
	real, err := compose.FindReal(p.ConfigDir, cfg.PluginsExtraDirs(), p.Dir)
	if err != nil {
		return Status{}, err
	}
	prev, err := LoadSettings(p.Dir)
	if err != nil {
		return Status{}, err
	}
	if err := cfg.PrependPluginsExtraDir(p.Dir); err != nil {
		return Status{}, err
	}
	var keep []byte
	if cfg.Changed() {
		reversible, err := provesReversible(cfg, p.Dir)
		if err != nil {
			return Status{}, err
		}
		if !reversible {
			keep = cfg.Original()
		}
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return Status{}, err
	}
	if err := placeBinaries(exe, p); err != nil {
		return Status{}, err
	}
	s := Settings{CheckBeforeUp: o.CheckBeforeUp, Config: p.Config, CreatedConfig: !cfg.Exists(), OriginalSHA256: digest(cfg.Original())}
	s.InstalledSHA256, s.Original = digest(cfg.Bytes()), keep
	if prev.Config != "" {
		// A reinstall: what install found first is still what to restore.
		s.CreatedConfig, s.OriginalSHA256 = prev.CreatedConfig, prev.OriginalSHA256
		s.WroteBackup, s.BackupExisted = prev.WroteBackup, prev.BackupExisted
		if prev.Original != nil {
			s.Original = prev.Original
		}
	}
	if cfg.Changed() && cfg.Exists() {
		// Saving will overwrite config.json.bak: keep the one there now.
		s.WroteBackup = true
		old, err := os.ReadFile(p.Config + dockerconfig.BackupSuffix)
		switch {
		case err == nil:
			s.BackupExisted = true
			if err := atomicfile.WriteFile(filepath.Join(p.Dir, savedBackup), old, 0o600); err != nil {
				return Status{}, err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return Status{}, err
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	mode := fs.FileMode(0o644)
	if s.Original != nil {
		mode = 0o600 // it may hold registry tokens
	}
	if err := atomicfile.WriteFile(filepath.Join(p.Dir, settingsFile), append(b, '\n'), mode); err != nil {
		return Status{}, err
	}
	if _, err := cfg.Save(); err != nil {
		return Status{}, err
	}
	st := Inspect(p)
	st.RealCompose = real
	return st, nil
}

// provesReversible replays uninstall on the edited bytes and reports whether
// that gives the original back exactly.
func provesReversible(cfg *dockerconfig.File, dir string) (bool, error) {
	tmp, err := os.MkdirTemp("", "currents-shim-*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "config.json")
	if err := os.WriteFile(path, cfg.Bytes(), 0o600); err != nil {
		return false, err
	}
	replay, err := dockerconfig.Load(path)
	if err != nil {
		return false, err
	}
	if err := replay.RemovePluginsExtraDir(dir); err != nil {
		return false, err
	}
	if !cfg.Exists() {
		return isEmptyObject(replay.Bytes()), nil
	}
	return bytes.Equal(replay.Bytes(), cfg.Original()), nil
}

func isEmptyObject(b []byte) bool {
	var m map[string]json.RawMessage
	return len(bytes.TrimSpace(b)) == 0 || (json.Unmarshal(b, &m) == nil && len(m) == 0)
}

// placeBinaries places the full plugin exe and its front beside it (the
// full plugin first: the front runs it). A full plugin run without its front
// beside it is placed as the shim itself, which it can be on its own, as
// before the front.
func placeBinaries(exe string, p Paths) error {
	front := dirs.PluginFront(exe)
	if _, err := os.Stat(front); err != nil {
		if err := placeBinary(exe, p.Binary()); err != nil {
			return err
		}
		return removeIfThere(p.Full())
	}
	if err := placeBinary(exe, p.Full()); err != nil {
		return err
	}
	return placeBinary(front, p.Binary())
}

func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// placeBinary hard-links exe into place (same inode, no copy), or copies it
// when they live on different file systems; either way atomically.
func placeBinary(exe, dst string) error {
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(exe, tmp); err != nil {
		in, err := os.ReadFile(exe)
		if err != nil {
			return err
		}
		if err := os.WriteFile(tmp, in, 0o755); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// UninstallResult says what uninstall did.
type UninstallResult struct {
	// Exact: config.json is back to its bytes before install (or gone, if
	// install created it).
	Exact bool
	// Kept: config.json changed after install (docker login, another tool);
	// only the shim entry was removed and those changes stay.
	Kept bool
	// Backup of config.json before this change, "" if none was written.
	Backup string
}

// Uninstall removes the shim directory from cliPluginsExtraDirs and deletes
// the files install placed. Other changes to config.json since install are
// kept.
func Uninstall(p Paths) (UninstallResult, error) {
	s, err := LoadSettings(p.Dir)
	if err != nil {
		return UninstallResult{}, err
	}
	cfgPath := p.Config
	if s.Config != "" {
		cfgPath = s.Config
	}
	cfg, err := dockerconfig.Load(cfgPath)
	if err != nil {
		return UninstallResult{}, err
	}
	if err := cfg.RemovePluginsExtraDir(p.Dir); err != nil {
		return UninstallResult{}, err
	}
	res, err := restoreConfig(cfg, cfgPath, s)
	if err != nil {
		return res, err
	}
	if res.Exact && s.WroteBackup {
		// config.json is as before install; so is config.json.bak.
		if err := restoreBackup(cfgPath, p.Dir, s.BackupExisted); err != nil {
			return res, err
		}
		res.Backup = ""
	}
	for _, f := range []string{compose.PluginName, compose.PluginName + ".tmp", product.PluginFullCommand, product.PluginFullCommand + ".tmp", settingsFile, savedBackup} {
		if err := os.Remove(filepath.Join(p.Dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, err
		}
	}
	if err := os.Remove(p.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("%s holds files the shim did not put there; left in place: %w", p.Dir, err)
	}
	return res, nil
}

// restoreConfig writes config.json without the shim's entry: the exact
// bytes from before install when nothing changed since, no file when
// install created it and nothing else was added, else the edit, keeping
// what changed since install.
func restoreConfig(cfg *dockerconfig.File, cfgPath string, s Settings) (UninstallResult, error) {
	var res UninstallResult
	var err error
	switch {
	case s.Original != nil && digest(cfg.Original()) == s.InstalledSHA256:
		// Untouched since install, and editing could not restore it: put
		// the original bytes back.
		if err := atomicfile.WriteFile(cfgPath, s.Original, 0o600, atomicfile.FollowLinks()); err != nil {
			return res, err
		}
		res.Exact = true
	case s.CreatedConfig && cfg.Exists() && isEmptyObject(cfg.Bytes()):
		// Install created the file and nothing else was added: leave none.
		if err := os.Remove(cfgPath); err != nil {
			return res, err
		}
		res.Exact = true
	default:
		if res.Backup, err = cfg.Save(); err != nil {
			return res, err
		}
		res.Exact = s.OriginalSHA256 != "" && digest(cfg.Bytes()) == s.OriginalSHA256
		res.Kept = !res.Exact
	}
	return res, nil
}

// restoreBackup puts back the config.json.bak install replaced, or removes
// the one install created.
func restoreBackup(cfgPath, dir string, existed bool) error {
	bak := cfgPath + dockerconfig.BackupSuffix
	if !existed {
		if err := os.Remove(bak); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	old, err := os.ReadFile(filepath.Join(dir, savedBackup))
	if err != nil {
		return fmt.Errorf("the config.json.bak from before install: %w", err)
	}
	return atomicfile.WriteFile(bak, old, 0o600)
}

// Status describes the shim for one docker config.
type Status struct {
	Installed bool // the shim binary is in place
	Listed    bool // the shim directory is in cliPluginsExtraDirs
	First     bool // ... and docker finds the shim before any other docker-compose
	Settings  Settings
	// Active is the docker-compose docker runs for `docker compose`.
	Active string
	// RealCompose is the compose the shim hands over to.
	RealCompose string
	Problem     string
}

// Inspect reports the shim's state as docker would see it.
func Inspect(p Paths) Status {
	st := Status{}
	if fi, err := os.Stat(p.Binary()); err == nil && fi.Mode().IsRegular() {
		st.Installed = true
	}
	st.Settings, _ = LoadSettings(p.Dir)
	cfg, err := dockerconfig.Load(p.Config)
	if err != nil {
		st.Problem = err.Error()
		return st
	}
	extras := cfg.PluginsExtraDirs()
	for _, d := range extras {
		if filepath.Clean(d) == p.Dir {
			st.Listed = true
		}
	}
	if cands := compose.Candidates(p.ConfigDir, extras); len(cands) > 0 {
		st.Active = cands[0]
		st.First = filepath.Dir(cands[0]) == p.Dir
	}
	if real, err := compose.FindReal(p.ConfigDir, extras, p.Dir); err == nil {
		st.RealCompose = real
	} else {
		st.Problem = err.Error()
	}
	switch {
	case st.Installed && !st.First && st.Problem == "":
		st.Problem = fmt.Sprintf("the shim is installed but docker runs %s first; run `docker currents shim install` again", st.Active)
	case !st.Installed && st.Listed && st.Problem == "":
		st.Problem = fmt.Sprintf("%s is listed in cliPluginsExtraDirs but holds no shim; run `docker currents shim uninstall`", p.Dir)
	}
	return st
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Stale reports whether the installed shim is a different build than exe
// (the full plugin running) and its front, as after upgrading the plugin: a
// hard link keeps the old file. A shim installed without the front (the
// full plugin alone as docker-compose, as before the front) is stale too once
// exe has its front beside it, which install would now place.
func Stale(p Paths, exe string) bool {
	if _, err := os.Stat(p.Full()); err != nil {
		_, front := os.Stat(dirs.PluginFront(exe))
		return differ(p.Binary(), exe) || front == nil
	}
	return differ(p.Full(), exe) || differ(p.Binary(), dirs.PluginFront(exe))
}

// differ: the files at a and b are not the same bytes (false when either
// cannot be read: nothing to say then).
func differ(a, b string) bool {
	x, errA := os.Stat(a)
	y, errB := os.Stat(b)
	if errA != nil || errB != nil || os.SameFile(x, y) {
		return false
	}
	if x.Size() != y.Size() {
		return true
	}
	s, errA := os.ReadFile(a)
	t, errB := os.ReadFile(b)
	return errA == nil && errB == nil && !bytes.Equal(s, t)
}
