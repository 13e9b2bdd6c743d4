// Package configure sets a registry up for the helper: its entry in
// currents.yaml and the credHelpers entry in docker's config.json, each file
// read, edited keeping every byte it does not own, and replaced atomically
// with a backup. It returns what changed (or, for a dry run, the redacted
// diffs) and errors that carry their fix; the command renders both.
package configure

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"time"

	"github.com/currentsdev/currents/internal/atomicfile"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/fix"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/product"
)

// Request is one configure run.
type Request struct {
	Spec            config.EntrySpec
	RemoveStaleAuth bool // drop the host's static "auths" entries from config.json
	DryRun          bool // compute the diffs, write nothing
	// DropExternalID removes the entry's external_id. Without it, a run that gives none (Spec.ExternalID
	// empty) keeps the one the entry has: a secret the user may no longer hold is not lost to a re-run.
	DropExternalID bool
}

// What became of an entry's external_id that the run did not give (Result.ExternalID).
const (
	ExternalIDKept    = "kept"    // the entry's own, kept
	ExternalIDRemoved = "removed" // removed: asked to (DropExternalID), or a web identity entry, which takes none
)

// File is what happened to one of the two files.
type File struct {
	Path    string
	Changed bool   // its content differs from what was on disk
	Backup  string // where the previous version went ("" for a new file, or when nothing was written)
	Diff    string // DryRun only: the unified diff, credentials redacted
	// Tightened is the mode the file had before configure took group and other access away from it (it holds
	// a secret now); 0 when it did not.
	Tightened fs.FileMode
}

// Result is what a run did, for the command to render.
type Result struct {
	Host   string // the registry, normalised
	Config File   // currents.yaml
	Docker File   // config.json
	// PreviousHelper is the credHelpers value the host had before, when it named another helper.
	PreviousHelper string
	// Stale are the host's static "auths" entries (an old docker login) as they were.
	Stale []dockerconfig.StaticAuth
	// RemovedStale is true when those entries were removed from config.json.
	RemovedStale bool
	// CredsStore is config.json's credsStore, where a login without a secret of its own keeps it.
	CredsStore string
	// ExternalID is ExternalIDKept or ExternalIDRemoved when the entry had an external_id the run did not
	// give; "" otherwise.
	ExternalID string
	DryRun     bool
	Warnings   []string // things the user must act on
}

// Option adjusts Run.
type Option func(*runner)

type runner struct {
	yamlPath, dockerPath string
	lookPath             func(string) (string, error)
	now                  func() time.Time
	getenv               func(string) string
}

// WithGetenv replaces os.Getenv, which says whether this CI job can get the
// OIDC token a web_identity entry needs.
func WithGetenv(f func(string) string) Option { return func(r *runner) { r.getenv = f } }

// WithPaths edits these files instead of the ones dirs locates.
func WithPaths(currentsYAML, configJSON string) Option {
	return func(r *runner) { r.yamlPath, r.dockerPath = currentsYAML, configJSON }
}

// WithLookPath replaces exec.LookPath, which says whether docker can run the helper.
func WithLookPath(f func(string) (string, error)) Option { return func(r *runner) { r.lookPath = f } }

// plan is both files read and edited in memory.
type plan struct {
	res       *Result
	oldYAML   []byte
	newYAML   []byte
	yamlFound bool
	dc        *dockerconfig.File
}

// Run makes the host's entries exactly what req says.
func Run(req Request, opts ...Option) (*Result, error) {
	r := &runner{lookPath: exec.LookPath, now: time.Now, getenv: os.Getenv}
	for _, o := range opts {
		o(r)
	}
	if err := r.locate(); err != nil {
		return nil, err
	}
	// A first plan, without the locks, rejects bad input before anything (a lock file, a directory) is
	// created; the plan that is written is made again under the locks, from what is on disk then.
	p, err := r.plan(req)
	if err != nil {
		return nil, err
	}
	if !req.DryRun {
		unlock, err := lockBoth(r.yamlPath, r.dockerPath)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if p, err = r.plan(req); err != nil {
			return nil, err
		}
	}
	if req.DryRun {
		p.res.Config.Diff, p.res.Docker.Diff = diffs(r.yamlPath, p.oldYAML, p.newYAML, r.dockerPath, p.dc.Original(), p.dc.Bytes())
		p.res.Warnings = append(p.res.Warnings, r.staleWarnings(p.res, req.RemoveStaleAuth)...)
		return p.res, nil
	}
	if err := r.write(p); err != nil {
		return nil, err
	}
	p.res.Warnings = append(p.res.Warnings, r.staleWarnings(p.res, req.RemoveStaleAuth)...)
	if _, err := r.lookPath(product.HelperCommand); err != nil {
		p.res.Warnings = append(p.res.Warnings, product.HelperCommand+" is not on PATH, so docker cannot run it; run `make install` or add its directory to PATH")
	}
	p.res.Warnings = append(p.res.Warnings, r.ciWarnings(req.Spec)...)
	return p.res, nil
}

func (r *runner) locate() error {
	var err error
	if r.yamlPath == "" {
		if r.yamlPath, err = dirs.Config(); err != nil {
			return err
		}
	}
	if r.dockerPath == "" {
		if r.dockerPath, err = dirs.DockerConfigFile(""); err != nil {
			return err
		}
	}
	return nil
}

// lockBoth holds both files' locks from before they are read until both are written, always in the same
// order (currents.yaml, then config.json), so parallel runs queue instead of replacing each other's entry.
func lockBoth(yamlPath, dockerPath string) (unlock func(), err error) {
	unlockYAML, err := atomicfile.Lock(yamlPath)
	if err != nil {
		return nil, dirFix(err)
	}
	unlockJSON, err := atomicfile.Lock(dockerPath)
	if err != nil {
		unlockYAML()
		return nil, dirFix(err)
	}
	return func() { unlockJSON(); unlockYAML() }, nil
}

// dirFix says what to do when the docker config directory would have to be created in a home that belongs
// to another user (root with that user's HOME).
func dirFix(err error) error {
	var fe *dirs.ForeignError
	if !errors.As(err, &fe) {
		return err
	}
	return fix.New(err, fmt.Sprintf("run configure as the owner of %s (without sudo), or create %s as that user first, "+
		"or set %s to a directory of this user's", fe.Parent, fe.Dir, dirs.EnvDockerConfig))
}

// plan reads both files and computes their new content.
func (r *runner) plan(req Request) (*plan, error) {
	host, err := ecrhost.Normalize(req.Spec.Host)
	if err != nil {
		return nil, fix.New(fmt.Errorf("--registry %q: %v", req.Spec.Host, err), "give the registry host as in image references")
	}
	p := &plan{res: &Result{Host: host, DryRun: req.DryRun, Config: File{Path: r.yamlPath}, Docker: File{Path: r.dockerPath}}}
	if p.oldYAML, p.yamlFound, err = atomicfile.ReadFile(r.yamlPath); err != nil {
		return nil, dirFix(err)
	}
	spec := req.Spec
	if spec.ExternalID == "" {
		spec.ExternalID, p.res.ExternalID = keptExternalID(p.oldYAML, r.yamlPath, host, req)
	}
	if p.newYAML, err = config.Upsert(p.oldYAML, r.yamlPath, spec); err != nil {
		return nil, flagErrors(err, host)
	}
	if p.dc, err = dockerconfig.Load(r.dockerPath); err != nil {
		return nil, err
	}
	if prev, ok := p.dc.CredHelper(host); ok && prev != product.HelperName {
		p.res.PreviousHelper = prev
	}
	if err := p.dc.SetCredHelper(host, product.HelperName); err != nil {
		return nil, err
	}
	p.res.Stale = p.dc.StaticAuths(host)
	p.res.CredsStore = p.dc.CredsStore()
	if req.RemoveStaleAuth {
		if err := p.dc.RemoveAuth(host); err != nil {
			return nil, err
		}
		p.res.RemovedStale = len(p.res.Stale) > 0
	}
	p.res.Config.Changed = !bytes.Equal(p.oldYAML, p.newYAML)
	p.res.Docker.Changed = p.dc.Changed()
	return p, nil
}

// write replaces currents.yaml first: once credHelpers names the helper, docker's next pull already needs
// the entry.
func (r *runner) write(p *plan) error {
	if err := r.writeYAML(p); err != nil {
		return err
	}
	backup, err := p.dc.Save()
	if err != nil {
		if p.res.Config.Changed {
			// Half done is safe (docker does not yet send the host to the helper), but the user must know which half.
			return fix.New(fmt.Errorf("%w\n%s was already updated; config.json was not changed, so docker does not use the helper for %s yet",
				err, r.yamlPath, p.res.Host), "fix the problem above and run the same configure command again")
		}
		return err
	}
	p.res.Docker.Backup = backup
	if !p.res.Docker.Changed {
		p.res.RemovedStale = false
	}
	return nil
}

// writeYAML replaces currents.yaml when it changed. A file that holds an external ID (which vendors treat
// as confidential) loses group and other access, keeping its owner, whether or not its content changed.
func (r *runner) writeYAML(p *plan) error {
	var opts []atomicfile.Option
	secret := holdsSecret(r.yamlPath, p.newYAML)
	if secret {
		opts = append(opts, atomicfile.MaxMode(0o600))
		if mode, _, exists, err := atomicfile.Existing(r.yamlPath, 0o600); err == nil && exists && mode&0o077 != 0 {
			p.res.Config.Tightened = mode
		}
	}
	if !p.res.Config.Changed {
		if p.res.Config.Tightened != 0 {
			if err := os.Chmod(r.yamlPath, p.res.Config.Tightened&0o600); err != nil {
				return fmt.Errorf("%s holds an external ID and is readable by others, and tightening its mode failed: %w", r.yamlPath, err)
			}
		}
		return nil
	}
	backup, err := atomicfile.Replace(r.yamlPath, p.oldYAML, p.yamlFound, p.newYAML, 0o600, opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", r.yamlPath, err)
	}
	p.res.Config.Backup = backup
	return nil
}

// keptExternalID is the external_id the host's entry in data already has, when the run gives none: kept
// unless req drops it or the entry becomes a web identity one (AssumeRoleWithWebIdentity takes none). what
// says which ("" when the entry has none, or the file does not parse: Upsert reports that).
func keptExternalID(data []byte, path, host string, req Request) (id, what string) {
	cfg, err := config.Parse(path, data)
	if err != nil {
		return "", ""
	}
	t, ok := cfg.Lookup(host)
	if !ok || t.Entry == nil || t.Entry.ExternalID == "" {
		return "", ""
	}
	if req.DropExternalID || req.Spec.WebIdentity != "" || req.Spec.WebIdentityTokenFile != "" {
		return "", ExternalIDRemoved
	}
	return t.Entry.ExternalID, ExternalIDKept
}

// holdsSecret reports whether currents.yaml content names an external ID.
func holdsSecret(path string, data []byte) bool {
	cfg, err := config.Parse(path, data)
	if err != nil {
		return true // unreadable here means unknown: keep it private
	}
	for _, e := range cfg.Registries {
		if e.ExternalID != "" {
			return true
		}
	}
	return false
}

// staleWarnings explains a static `docker login` entry for a host the helper now serves. credHelpers wins
// for pulls, but docker still hands every "auths" entry to builds when a helper fails, and the entry keeps
// an old credential on disk.
func (r *runner) staleWarnings(res *Result, removed bool) []string {
	if removed {
		return nil
	}
	var out []string
	for _, s := range res.Stale {
		what := "a login stored in credsStore"
		if s.HasSecret {
			what = "a saved password"
		}
		if !s.Expiry.IsZero() {
			verb := "expires"
			if r.now().After(s.Expiry) {
				verb = "expired"
			}
			what = fmt.Sprintf("an ECR token that %s %s", verb, s.Expiry.Local().Format(time.RFC3339))
		}
		out = append(out, fmt.Sprintf("%s still has a static \"auths\" entry %q for %s (%s). docker-credential-%s now serves %s, "+
			"so the entry is a leftover that builds may still send; remove it with --remove-stale-auth", res.Docker.Path, s.Key, res.Host, what, product.HelperName, res.Host))
	}
	return out
}

// ciWarnings: configured inside the CI job it is for, say at once when the
// job cannot get its OIDC token (no id-token: write, no context), rather than
// at the first push.
func (r *runner) ciWarnings(spec config.EntrySpec) []string {
	kind := spec.WebIdentity
	if kind == "" || idtoken.Detect(r.getenv) != kind {
		return nil
	}
	if err := idtoken.Available(kind, r.getenv); err != nil {
		return []string{err.Error()}
	}
	return nil
}
