package shim

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Issue 10, defect 7: with config.json a symlink (into a dotfiles checkout, say), install left its backup
// beside the link's target, where uninstall never looked, and uninstall could replace the link with a file.
func TestInstallThenUninstallThroughASymlinkedConfig(t *testing.T) {
	for name, before := range configs {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			dotfiles := filepath.Join(t.TempDir(), "dotfiles")
			if err := os.MkdirAll(dotfiles, 0o700); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dotfiles, "docker.json")
			if err := os.WriteFile(target, []byte(before), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, e.p.Config); err != nil {
				t.Fatal(err)
			}
			if _, err := Install(e.p, e.exe, InstallOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := Uninstall(e.p); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(e.p.Config); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("config.json is no longer the link: %v", err)
			}
			if after, _ := os.ReadFile(target); string(after) != before {
				t.Errorf("the link's target = %q, want %q", after, before)
			}
			for _, dir := range []string{dotfiles, filepath.Dir(e.p.Config)} {
				entries, _ := os.ReadDir(dir)
				for _, f := range entries {
					if filepath.Ext(f.Name()) == ".bak" {
						t.Errorf("uninstall left %s in %s", f.Name(), dir)
					}
				}
			}
		})
	}
}
