// Package config reads currents.yaml, the helper's own settings file: it
// parses and validates it (naming the file, line, entry and key of every bad
// value), edits it keeping every byte it does not own, and prints it
// redacted. What the file says — its entries and a host mapped to its target
// — is package settings', whose types this package names too; the lean
// binary links settings alone and never parses YAML.
package config

import (
	"time"

	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/settings"
)

// The settings' types and limits, under the names callers know.
type (
	Config = settings.Config
	Entry  = settings.Entry
	Target = settings.Target
)

const (
	EnvTimeout            = settings.EnvTimeout
	MinDuration           = settings.MinDuration
	MaxDuration           = settings.MaxDuration
	DefaultTimeout        = settings.DefaultTimeout
	MaxTimeout            = settings.MaxTimeout
	DefaultAudience       = settings.DefaultAudience
	WebIdentityGitHub     = settings.WebIdentityGitHub
	WebIdentityCircleCI   = settings.WebIdentityCircleCI
	WebIdentityKubernetes = settings.WebIdentityKubernetes
)

// WebIdentities lists the web_identity values in the order the README gives them.
var WebIdentities = settings.WebIdentities

// FromEnv loads the config the environment points at and applies CURRENTS_TIMEOUT.
// With no home directory and no override it returns an empty config: services
// started without HOME must still serve real ECR hosts from the default chain.
func FromEnv() (*Config, error) {
	c, _, _, err := FromEnvFile()
	if err != nil {
		return nil, err
	}
	return c, settings.ApplyEnv(c)
}

// FromEnvFile is FromEnv before CURRENTS_TIMEOUT, as the file alone says,
// also returning the file's path and contents (nil when there is none) for
// settings.Compile; a parse error comes with them.
func FromEnvFile() (c *Config, path string, data []byte, err error) {
	path, err = dirs.Config()
	if err != nil {
		return settings.Empty(""), "", nil, nil
	}
	c, data, err = load(path)
	return c, path, data, err
}

// Load reads and validates one file. A missing file is an empty config; any
// other read error, and every invalid setting, is an error naming the file.
func Load(path string) (*Config, error) {
	c, _, err := load(path)
	return c, err
}

func load(path string) (*Config, []byte, error) {
	data, found, err := settings.Read(path)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return settings.Empty(path), nil, nil
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, data, err
	}
	c.Found = true
	return c, data, nil
}

// FormatDuration writes d to the second as a person (and currents.yaml) would:
// 1h, 1h30m, 11h58m3s, rather than 1h0m0s.
func FormatDuration(d time.Duration) string { return settings.FormatDuration(d) }

func empty(path string) *Config { return settings.Empty(path) }

func parseDuration(v string) (time.Duration, string, error) { return settings.ParseDuration(v) }

func parseTimeout(v string) (time.Duration, error) { return settings.ParseTimeout(v) }
