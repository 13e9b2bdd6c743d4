package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/ecrhost"
)

// Seeds: the shapes of issue 10's 76 fuzzed currents.yaml files and its defect
// 16, plus every key.
var yamlSeeds = []string{
	good, commented, "", "# c\n", "---\n", "~\n", "[]\n", "registries:\n", "registries: []\n",
	"timeout: 18446744075\n", "timeout: -18446744075\n", "timeout: 9223372037\n", "timeout: 1e9\n", "timeout: 0x10\n",
	"registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::123456789012:role/x\n    duration: 18446744077\n",
	"registries:\n  - host: a\n---\nregistries:\n  - host: b\n",
	"registries: &r\n  - host: 127.0.0.1:5000\n    account: *r\n",
	"registries:\n  - host: 127.0.0.1:5000\n    account: \"513558712013\"\n    region: us-east-1\n    role_arn: arn:aws:iam::513558712013:role/ci\n    web_identity: github-actions\n    web_identity_audience: sts.amazonaws.com\n",
	"registries:\n  - host: public.ecr.aws\n    account: \"513558712013\"\n",
	"registries:\n  - host: https://user:pw@x/\n",
	"registries:\n  - {host: 127.0.0.1:5000, account: '513558712013', region: cn-north-1, role_arn: 'arn:aws-cn:iam::513558712013:role/a/b/c'}\n",
	"registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n",
	"registries:\n\t- host: x\n", "timeout: [1, 2]\nregistries: {a: b}\n", "? [a]\n: b\n", "!!binary aGVsbG8=\n",
}

// FuzzParse: any bytes give a valid config or an error naming the file; never
// a panic, and a valid config serves every entry it lists.
func FuzzParse(f *testing.F) {
	for _, s := range yamlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := Parse("f.yaml", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("error does not start with the file: %v", err)
			}
			return
		}
		if c.Timeout < time.Second || c.Timeout > MaxTimeout {
			t.Errorf("timeout %s accepted", c.Timeout)
		}
		for _, e := range c.Registries {
			tg, ok := c.Lookup(e.Host)
			if !ok || tg.Entry == nil || tg.Entry.Host != e.Host {
				t.Errorf("entry %q is not served: %+v %v", e.Host, tg, ok)
			}
			if e.Duration != 0 && (e.Duration < MinDuration || e.Duration > MaxDuration) {
				t.Errorf("duration %s accepted", e.Duration)
			}
			if tg.Registry.Partition == "" && !tg.Registry.Public {
				t.Errorf("entry %q has no partition", e.Host)
			}
		}
		Redacted(c)
	})
}

// FuzzUpsert: configure's edit of any file either refuses, or writes a file
// that Parse accepts, whose entry for the host is exactly the spec, which keeps
// every other entry as it was, and which a second identical edit leaves alone.
func FuzzUpsert(f *testing.F) {
	for _, s := range yamlSeeds {
		f.Add(s, "127.0.0.1:5000", "513558712013", "us-east-1", "arn:aws:iam::513558712013:role/pull", "ext-1", "1h")
		f.Add(s, "513558712013.dkr.ecr.us-east-1.amazonaws.com", "", "", "arn:aws:iam::513558712013:role/pull", "", "")
	}
	f.Add(commented, "mirror.example.com", "012345678901", "us-east-1", "", "", "")
	f.Add(commented, "111111111111.dkr.ecr.eu-west-1.amazonaws.com", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, data, host, account, region, role, ext, duration string) {
		spec := EntrySpec{Host: host, Account: account, Region: region, RoleARN: role, ExternalID: ext, Duration: duration}
		out, err := Upsert([]byte(data), "f.yaml", spec)
		if err != nil {
			return
		}
		c, err := Parse("f.yaml", out)
		if err != nil {
			t.Fatalf("Upsert wrote a file Parse refuses: %v\n%s", err, out)
		}
		h, _ := ecrhost.Normalize(host)
		tg, ok := c.Lookup(h)
		if !ok || tg.Entry == nil {
			t.Fatalf("no entry for %q after Upsert:\n%s", h, out)
		}
		e := tg.Entry
		if e.RoleARN != strings.TrimSpace(role) || e.ExternalID != strings.TrimSpace(ext) {
			t.Errorf("entry %+v is not the spec %+v", e, spec)
		}
		if before, err := Parse("f.yaml", []byte(data)); err == nil {
			for _, old := range before.Registries {
				if old.Host == h {
					continue
				}
				now, ok := c.Lookup(old.Host)
				if !ok || now.Entry == nil || !sameEntry(*now.Entry, old) {
					t.Errorf("entry %q changed: %+v, was %+v", old.Host, now.Entry, old)
				}
			}
			if before.Timeout != c.Timeout {
				t.Errorf("timeout changed: %s, was %s", c.Timeout, before.Timeout)
			}
		}
		again, err := Upsert(out, "f.yaml", spec)
		if err != nil || !bytes.Equal(again, out) {
			t.Errorf("a second identical Upsert changed the file (%v):\n%s\n---\n%s", err, out, again)
		}
	})
}

func sameEntry(a, b Entry) bool {
	a.Index, a.Line, b.Index, b.Line = 0, 0, 0, 0
	return a == b
}
