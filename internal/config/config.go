// Package config reads currents.yaml, the helper's own settings file, and maps a
// registry host to the target the helper serves it with: which ECR account and
// region, and which role or credential source.
//
// The lean helper binary loads it on every `get`, so it stays cheap: yaml.v3 and
// the standard library only, never the AWS SDK.
package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/ecrhost"
	"github.com/currentsdev/currents/internal/partition"
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

// FromEnv loads the config the environment points at and applies CURRENTS_TIMEOUT.
// With no home directory and no override it returns an empty config: services
// started without HOME must still serve real ECR hosts from the default chain.
func FromEnv() (*Config, error) {
	path, err := dirs.Config()
	var c *Config
	if err != nil {
		c = empty("")
	} else if c, err = Load(path); err != nil {
		return nil, err
	}
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %v; write a duration such as %s=20s", EnvTimeout, v, err, EnvTimeout)
		}
		c.Timeout, c.TimeoutFrom = d, EnvTimeout
	}
	return c, nil
}

func empty(path string) *Config {
	return &Config{Path: path, Timeout: DefaultTimeout, TimeoutFrom: "default", byHost: map[string]*Entry{}}
}

// Load reads and validates one file. A missing file is an empty config; any
// other read error, and every invalid setting, is an error naming the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return empty(path), nil
	}
	if err != nil {
		fix := "check that it is a readable file, or point " + dirs.EnvConfig + " at one"
		if errors.Is(err, os.ErrPermission) {
			// Typically a root-made file read by a user's docker, or the reverse.
			fix = fmt.Sprintf("docker runs the helper as the user running docker (uid %d): make the file readable by that user", os.Getuid())
		}
		return nil, fmt.Errorf("reading %s: %w; %s", path, err, fix)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.Found = true
	return c, nil
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

// parseDuration accepts Go durations ("1h", "90m") and whole seconds ("3600"),
// the unit AWS's DurationSeconds uses. shown is the value for messages: a number
// of seconds too large for a time.Duration saturates d, and shown keeps what
// the user wrote rather than a wrapped-around value.
func parseDuration(v string) (d time.Duration, shown string, err error) {
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

func parseTimeout(v string) (time.Duration, error) {
	d, shown, err := parseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, err
	}
	if d < time.Second || d > MaxTimeout {
		return 0, fmt.Errorf("%s is outside 1s..%s", shown, MaxTimeout)
	}
	return d, nil
}
