package config

import (
	"io"

	"github.com/currentsdev/currents/internal/secret"
	"gopkg.in/yaml.v3"
)

type printed struct {
	Timeout    string         `yaml:"timeout"`
	Registries []printedEntry `yaml:"registries"`
}

type printedEntry struct {
	Host                 string `yaml:"host"`
	Account              string `yaml:"account,omitempty"`
	Region               string `yaml:"region,omitempty"`
	Partition            string `yaml:"partition,omitempty"`
	RoleARN              string `yaml:"role_arn,omitempty"`
	ExternalID           string `yaml:"external_id,omitempty"`
	SessionName          string `yaml:"session_name,omitempty"`
	Duration             string `yaml:"duration,omitempty"`
	Profile              string `yaml:"profile,omitempty"`
	WebIdentityTokenFile string `yaml:"web_identity_token_file,omitempty"`
	WebIdentity          string `yaml:"web_identity,omitempty"`
	WebIdentityAudience  string `yaml:"web_identity_audience,omitempty"`
}

// Redacted is the effective configuration as YAML, with derived values filled
// in and the external ID masked. currents.yaml holds no credentials, but the
// output is meant for pasting into support tickets.
func Redacted(c *Config) []byte {
	p := printed{Timeout: FormatDuration(c.Timeout), Registries: []printedEntry{}}
	for _, e := range c.Registries {
		t, _ := c.Lookup(e.Host)
		pe := printedEntry{
			Host: e.Host, Account: e.Account, Region: e.Region, Partition: t.Registry.Partition,
			RoleARN: e.RoleARN, SessionName: e.SessionName, Profile: e.Profile, WebIdentityTokenFile: e.WebIdentityTokenFile,
			WebIdentity: e.WebIdentity, WebIdentityAudience: e.WebIdentityAudience,
		}
		if e.ExternalID != "" {
			pe.ExternalID = secret.Mask
		}
		if e.Duration > 0 {
			pe.Duration = FormatDuration(e.Duration)
		}
		p.Registries = append(p.Registries, pe)
	}
	out, err := yaml.Marshal(p)
	if err != nil { // plain strings cannot fail to marshal
		panic(err)
	}
	return out
}

// WriteRedacted writes Redacted to w.
func WriteRedacted(w io.Writer, c *Config) error {
	_, err := w.Write(Redacted(c))
	return err
}
