// Package settings is currents.yaml as the helpers use it: its entries, the
// timeout, and a registry host mapped to the target the helper serves it with
// (which ECR account and region, which role or credential source).
//
// It holds no YAML: package config parses and edits the file. The lean binary
// links this package alone and reads the settings from their compiled form
// (Compile), which the AWS binary writes whenever it parses the file, so a
// warm `get` spends nothing on YAML.
package settings

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/partition"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/rawfile"
)

// Environment variables the package reads.
const (
	EnvTimeout = "CURRENTS_TIMEOUT" // overrides the file's timeout, e.g. "20s"
)

// Limits AWS puts on AssumeRole's DurationSeconds (12h needs the role's
// MaxSessionDuration raised; AWS says so itself when it is not).
const (
	MinDuration = 15 * time.Minute
	MaxDuration = 12 * time.Hour
)

// DefaultTimeout bounds every network wait when neither the file nor
// CURRENTS_TIMEOUT says otherwise. Docker waits on the helper with no limit of
// its own, so this is what stops a dead network from hanging `docker pull`.
const DefaultTimeout = 30 * time.Second

// MaxTimeout stops a typo ("30m" for "30s") from letting a pull hang for hours.
const MaxTimeout = 10 * time.Minute

// Config is a loaded, validated currents.yaml.
type Config struct {
	Path    string // the file read, or that would have been read
	Found   bool   // false when the file does not exist: an empty config
	Timeout time.Duration
	// TimeoutFrom says where Timeout came from: "default", the file, or EnvTimeout.
	TimeoutFrom string
	Registries  []Entry

	byHost map[string]*Entry
}

// Entry is one item of the registries list.
type Entry struct {
	Index int // 1-based position in the registries list, as error messages count
	Line  int // line of the entry in the file

	Host    string // normalised host[:port]
	Account string // given, or derived from a real ECR host
	Region  string // given, or derived from a real ECR host

	RoleARN              string
	ExternalID           string // not a password, but vendors treat it as confidential: printed redacted
	SessionName          string
	Duration             time.Duration // 0: AWS's default (1h)
	Profile              string
	WebIdentityTokenFile string
	WebIdentity          string // WebIdentityGitHub, WebIdentityCircleCI or WebIdentityKubernetes
	WebIdentityAudience  string // GitHub's token audience; "" means DefaultAudience
}

// The web identities an entry can name: where the helper gets the OIDC token
// it assumes the role with.
const (
	WebIdentityGitHub     = "github-actions" // asked of the runner's token endpoint, for every new session
	WebIdentityCircleCI   = "circleci"       // CIRCLE_OIDC_TOKEN_V2, else CIRCLE_OIDC_TOKEN
	WebIdentityKubernetes = "kubernetes"     // the pod's service-account token the kubelet sends
)

// WebIdentities lists the web_identity values in the order the README gives them.
var WebIdentities = []string{WebIdentityGitHub, WebIdentityCircleCI, WebIdentityKubernetes}

// DefaultAudience is the audience the helper asks GitHub to put in its token:
// the one AWS documents for IAM OIDC providers and `policy ci-trust` pins.
const DefaultAudience = "sts.amazonaws.com"

// Audience is the audience to ask GitHub for.
func (e *Entry) Audience() string {
	if e.WebIdentityAudience != "" {
		return e.WebIdentityAudience
	}
	return DefaultAudience
}

// Target is what the helper serves a host with.
type Target struct {
	Registry ecrhost.Registry // Host is the requested host; Account/Region/Partition resolved
	Entry    *Entry           // nil: no entry, the SDK default credential chain
	File     string           // the config file, for error messages
}

// Alias reports whether the host is not itself an ECR hostname and is served
// only because an entry maps it to an account and region.
func (t Target) Alias() bool { return t.Entry != nil && !isECRHost(t.Registry.Host) }

// RoleARN is the role to assume, or "" when the source credentials are used as they are.
func (t Target) RoleARN() string {
	if t.Entry == nil {
		return ""
	}
	return t.Entry.RoleARN
}

// Where names the entry for error messages: `entry 2 (host "x") in /path/currents.yaml`,
// or the default chain when there is no entry.
func (t Target) Where() string {
	if t.Entry == nil {
		return "no entry in " + t.File + " (AWS SDK default credential chain)"
	}
	return fmt.Sprintf("entry %d (host %q) in %s", t.Entry.Index, t.Entry.Host, t.File)
}

// Empty is the config of a missing file at path (or of no file at all).
func Empty(path string) *Config {
	return &Config{Path: path, Timeout: DefaultTimeout, TimeoutFrom: "default", byHost: map[string]*Entry{}}
}

// Index makes Lookup find the entries, once Registries is complete.
func (c *Config) Index() {
	c.byHost = make(map[string]*Entry, len(c.Registries))
	for i := range c.Registries {
		c.byHost[c.Registries[i].Host] = &c.Registries[i]
	}
}

// ApplyEnv applies CURRENTS_TIMEOUT to the settings read from the file.
func ApplyEnv(c *Config) error {
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := ParseTimeout(v)
		if err != nil {
			return fmt.Errorf("%s=%q: %v; write a duration such as %s=20s", EnvTimeout, v, err, EnvTimeout)
		}
		c.Timeout, c.TimeoutFrom = d, EnvTimeout
	}
	return nil
}

// maxFileSize bounds what Read reads: a currents.yaml is a few hundred bytes.
const maxFileSize = 1 << 24

// Read reads the file at path: found is false (and err nil) when there is
// none, which is an empty config; any other failure is an error naming the
// file and what to do.
//
// It is opened without waiting on a named pipe, and must be a regular file:
// a FIFO would hang every pull. Root reads it only through links it controls
// (dirs.OpenFileDir, or rawfile.ReadNoLinks when there is none on the path):
// a user's link must not make root parse, and quote in its errors, a file
// only root may read. Others need no such care (what they
// read, they may read anyway), and the warm get spares the walk.
func Read(path string) (data []byte, found bool, err error) {
	regular := rawfile.Regular(path, "point "+dirs.EnvConfig+" at a regular file, or put one at "+path+" (a named pipe or a device would block every docker pull)")
	if os.Geteuid() == 0 {
		// Most paths have no link at all, and need no walk: one openat2 that
		// refuses every link opens the file the walk would.
		data, err = rawfile.ReadNoLinks(path, syscall.O_NONBLOCK, maxFileSize, regular)
		if errors.Is(err, rawfile.ErrNeedsWalk) {
			var d *dirs.Dir
			var name string
			if d, name, err = dirs.OpenFileDir(path); err == nil {
				data, err = rawfile.ReadAt(d.Fd(), name, syscall.O_NOFOLLOW|syscall.O_NONBLOCK, maxFileSize, regular)
				d.Close()
			}
		}
	} else {
		data, err = rawfile.Read(path, syscall.O_NONBLOCK, maxFileSize, regular)
	}
	var bad *rawfile.NotRegularError
	var link *dirs.LinkError
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, false, nil
	case errors.As(err, &bad), errors.As(err, &link):
		return nil, false, err
	}
	if err != nil {
		fix := "check that it is a readable file, or point " + dirs.EnvConfig + " at one"
		if errors.Is(err, os.ErrPermission) {
			// Typically a root-made file read by a user's docker, or the reverse.
			fix = fmt.Sprintf("docker runs the helper as the user running docker (uid %d): make the file readable by that user", os.Getuid())
		}
		return nil, false, fmt.Errorf("reading %s: %w; %s", path, err, fix)
	}
	return data, true, nil
}

// Lookup maps a normalised host to its target. A host with an entry is served
// as the entry says; a real ECR host without one is served from the default
// credential chain; any other host is not ours (ok false), so docker falls back
// to its other credential stores. A nil Config (a currents.yaml that could not
// be read, already reported) knows real ECR hosts only. Case does not matter:
// image references may spell a host in capitals.
func (c *Config) Lookup(host string) (Target, bool) {
	host = strings.ToLower(host)
	if c == nil {
		r, ok := ecrhost.Parse(host)
		return Target{Registry: r}, ok
	}
	if e, ok := c.byHost[host]; ok {
		r, isECR := ecrhost.Parse(host)
		if !isECR {
			r = ecrhost.Registry{Host: host, Account: e.Account, Region: e.Region, Partition: partition.OfRegion(e.Region)}
		}
		return Target{Registry: r, Entry: e, File: c.Path}, true
	}
	if r, ok := ecrhost.Parse(host); ok {
		return Target{Registry: r, File: c.Path}, true
	}
	return Target{}, false
}

// Unconfigured says that c configures no registry (its file missing, or
// without entries) and how to configure one: what the commands that work
// through every registry print when there is none.
func (c *Config) Unconfigured() string {
	what := c.Path + " has no registry"
	if !c.Found {
		what = c.Path + " does not exist"
	}
	return "nothing is configured (" + what + "): run `" + product.HelperCommand +
		" configure --registry HOST --role-arn ARN` for each registry (README: Configure)"
}

// Hosts lists the configured hosts in file order, for `list`.
func (c *Config) Hosts() []string {
	hosts := make([]string, 0, len(c.Registries))
	for _, e := range c.Registries {
		hosts = append(hosts, e.Host)
	}
	return hosts
}

func isECRHost(h string) bool {
	_, ok := ecrhost.Parse(h)
	return ok
}

// ParseDuration accepts Go durations ("1h", "90m") and whole seconds ("3600"),
// the unit AWS's DurationSeconds uses. shown is the value for messages: a number
// of seconds too large for a time.Duration saturates d, and shown keeps what
// the user wrote rather than a wrapped-around value.
func ParseDuration(v string) (d time.Duration, shown string, err error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		const limit = math.MaxInt64 / int64(time.Second)
		switch {
		case n > limit:
			return math.MaxInt64, v + "s", nil
		case n < -limit:
			return math.MinInt64, v + "s", nil
		}
		d = time.Duration(n) * time.Second
		return d, d.String(), nil
	}
	d, err = time.ParseDuration(v)
	if err != nil {
		return 0, "", fmt.Errorf("%q is not a duration", v)
	}
	return d, d.String(), nil
}

// ParseTimeout is ParseDuration for the timeout, within 1s..MaxTimeout.
func ParseTimeout(v string) (time.Duration, error) {
	d, shown, err := ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, err
	}
	if d < time.Second || d > MaxTimeout {
		return 0, fmt.Errorf("%s is outside 1s..%s", shown, MaxTimeout)
	}
	return d, nil
}

// FormatDuration writes d to the second as a person (and currents.yaml) would:
// 1h, 1h30m, 11h58m3s, rather than 1h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
