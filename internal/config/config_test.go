package config

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/currentsdev/currents/internal/dirs"
)

const good = `timeout: 20s
registries:
  - host: https://513558712013.dkr.ecr.us-east-1.amazonaws.com/
    role_arn: arn:aws:iam::111122223333:role/vendor-pull
    external_id: s3cr3t-ext-id
    session_name: currents-test
    duration: 2h
  - host: 127.0.0.1:5000
    account: "513558712013"
    region: eu-west-1
    role_arn: arn:aws:iam::513558712013:role/ci
    web_identity_token_file: /var/run/token
  - host: public.ecr.aws
    profile: vendor
  - host: registry.example.com
    account: 012345678901
    region: cn-north-1
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), dirs.ConfigName)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAndLookup(t *testing.T) {
	p := write(t, good)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Found || c.Timeout != 20*time.Second || c.TimeoutFrom != p || len(c.Registries) != 4 {
		t.Fatalf("config = %+v", c)
	}
	t.Run("first entry", func(t *testing.T) { checkFirstEntry(t, c) })
	t.Run("aliases", func(t *testing.T) { checkAliases(t, c) })
	t.Run("unconfigured hosts", func(t *testing.T) { checkUnconfigured(t, c) })
	if got := strings.Join(c.Hosts(), ","); got != "513558712013.dkr.ecr.us-east-1.amazonaws.com,127.0.0.1:5000,public.ecr.aws,registry.example.com" {
		t.Errorf("Hosts() = %s", got)
	}
}

// checkFirstEntry: the host is normalised, its account and region come from it,
// and the entry knows where in the file it stands.
func checkFirstEntry(t *testing.T, c *Config) {
	e := c.Registries[0]
	if e.Host != "513558712013.dkr.ecr.us-east-1.amazonaws.com" || e.Account != "513558712013" || e.Region != "us-east-1" ||
		e.Duration != 2*time.Hour || e.ExternalID != "s3cr3t-ext-id" || e.Index != 1 || e.Line != 3 {
		t.Errorf("entry 1 = %+v", e)
	}
}

func checkAliases(t *testing.T, c *Config) {
	tg, ok := c.Lookup("127.0.0.1:5000")
	if !ok || tg.Entry == nil || !tg.Alias() || tg.Registry.Account != "513558712013" || tg.Registry.Region != "eu-west-1" || tg.Registry.Partition != "aws" {
		t.Errorf("alias target = %+v, %v", tg, ok)
	}
	if tg, ok := c.Lookup("registry.example.com"); !ok || tg.Registry.Account != "012345678901" || tg.Registry.Partition != "aws-cn" {
		t.Errorf("leading-zero account or China alias = %+v", tg)
	}
}

// checkUnconfigured: an ECR host without an entry is served from the default
// chain; any other host is not handled.
func checkUnconfigured(t *testing.T, c *Config) {
	tg, ok := c.Lookup("999999999999.dkr.ecr.eu-west-1.amazonaws.com")
	if !ok || tg.Entry != nil || tg.Alias() || tg.Registry.Account != "999999999999" {
		t.Errorf("unconfigured ECR host = %+v, %v; want default-chain target", tg, ok)
	}
	if !strings.Contains(tg.Where(), "default credential chain") {
		t.Errorf("Where() = %q", tg.Where())
	}
	for _, h := range []string{"index.docker.io", "ghcr.io", "127.0.0.1:5001"} {
		if _, ok := c.Lookup(h); ok {
			t.Errorf("Lookup(%q) handled, want not handled", h)
		}
	}
}

func TestMissingFileIsEmpty(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err != nil || c.Found || len(c.Registries) != 0 || c.Timeout != DefaultTimeout {
		t.Fatalf("Load(missing) = %+v, %v", c, err)
	}
	if _, ok := c.Lookup("513558712013.dkr.ecr.us-east-1.amazonaws.com"); !ok {
		t.Error("real ECR host not handled with an empty config")
	}
	for _, body := range []string{"", "# only a comment\n", "registries:\n"} {
		if c, err := Parse("x.yaml", []byte(body)); err != nil || len(c.Registries) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", body, c, err)
		}
	}
}

func TestPathAndEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(dirs.EnvConfig, "")
	t.Setenv(EnvTimeout, "")
	t.Setenv(dirs.EnvDockerConfig, "")
	t.Setenv("HOME", dir)
	other := write(t, good)
	t.Setenv(dirs.EnvConfig, other)
	t.Setenv(EnvTimeout, "45s")
	c, err := FromEnv()
	if err != nil || c.Path != other || c.Timeout != 45*time.Second || c.TimeoutFrom != EnvTimeout {
		t.Errorf("FromEnv() = %+v, %v", c, err)
	}
	t.Setenv(EnvTimeout, "forever")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), EnvTimeout) {
		t.Errorf("bad %s: err = %v", EnvTimeout, err)
	}
	t.Setenv(EnvTimeout, "")
	t.Setenv(dirs.EnvConfig, dir)
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "reading "+dir) || !strings.Contains(err.Error(), "point "+dirs.EnvConfig+" at one") {
		t.Errorf("%s naming a directory: err = %v", dirs.EnvConfig, err)
	}
	t.Setenv(dirs.EnvConfig, "")
	t.Setenv("HOME", "")
	// Without any home directory (dirs.Config fails) there is no file: an empty config.
	t.Setenv(dirs.EnvDockerConfig, "")
	restore := dirs.SetCurrentUser(func() (*user.User, error) { return nil, errors.New("user: unknown userid") })
	defer restore()
	if c, err := FromEnv(); err != nil || c.Found {
		t.Errorf("no home at all: FromEnv() = %+v, %v; want an empty config", c, err)
	}
}

func TestErrorsNameFileEntryKeyAndFix(t *testing.T) {
	const alias = "  - host: 127.0.0.1:5000\n    account: \"513558712013\"\n    region: us-east-1\n"
	tests := []struct {
		name, body string
		want       []string // every substring must appear
	}{
		{"unknown top key", "timeuot: 3s\n", []string{":1:", `key "timeuot"`, "unknown key", "did you mean timeout"}},
		{"unknown entry key", "registries:\n" + alias + "    rol_arn: x\n", []string{":5:", "registries entry 1", `host "127.0.0.1:5000"`, `key "rol_arn"`, "did you mean role_arn"}},
		{"wrong type", "registries:\n  host: x\n", []string{":2:", `key "registries"`, "must be a list"}},
		{"entry not a mapping", "registries:\n  - 127.0.0.1:5000\n", []string{"registries entry 1", "must be a mapping"}},
		{"list for scalar", "registries:\n" + alias + "    role_arn: [a, b]\n", []string{":5:", `key "role_arn"`, "single value, not a list"}},
		{"bad arn", "registries:\n" + alias + "    role_arn: arn:aws:iam::123:role/x\n", []string{":5:", "registries entry 1", `key "role_arn"`, "12-digit", "arn:aws:iam::123456789012:role/"}},
		{"user arn", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:user/bob\n", []string{`key "role_arn"`, "does not name a role"}},
		{"bad partition", "registries:\n" + alias + "    role_arn: arn:aws-mars:iam::123456789012:role/x\n", []string{"unknown partition"}},
		{"short account", "registries:\n  - host: 127.0.0.1:5000\n    account: 12345\n    region: us-east-1\n", []string{":3:", `key "account"`, "12-digit", `account: "012345678901"`}},
		{"bad region", "registries:\n  - host: 127.0.0.1:5000\n    account: \"513558712013\"\n    region: us-east\n", []string{":4:", `key "region"`, "not an AWS region"}},
		{"duration too long", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    duration: 13h\n", []string{":6:", `key "duration"`, "15m to 12h"}},
		{"duration too short", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    duration: 60\n", []string{"1m0s is outside"}},
		{"duration garbage", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    duration: soon\n", []string{`"soon" is not a duration`}},
		{"duplicate host", "registries:\n" + alias + "  - host: http://127.0.0.1:5000/v2/\n    account: \"513558712013\"\n    region: us-east-1\n", []string{":5:", "registries entry 2", "duplicates the entry at line 2"}},
		{"alias without account", "registries:\n  - host: vpce.example.com\n    region: us-east-1\n", []string{"registries entry 1", `host "vpce.example.com"`, `key "account"`, "is required", "not an ECR hostname"}},
		{"alias without region", "registries:\n  - host: vpce.example.com\n    account: \"513558712013\"\n", []string{`key "region"`, "is required"}},
		{"host missing", "registries:\n  - role_arn: arn:aws:iam::123456789012:role/x\n", []string{"registries entry 1", `key "host"`, "is missing"}},
		{"account mismatch", "registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    account: \"111122223333\"\n", []string{`key "account"`, "differs from the account 513558712013", "remove account"}},
		{"region mismatch", "registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    region: eu-west-1\n", []string{`key "region"`, "differs"}},
		{"external id without role", "registries:\n" + alias + "    external_id: abc\n", []string{`key "external_id"`, "only applies when the entry assumes a role", "add role_arn"}},
		{"web identity with profile", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    profile: p\n    web_identity_token_file: /t\n", []string{`key "web_identity_token_file"`, "cannot be combined with profile"}},
		{"relative token file", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    web_identity_token_file: token\n", []string{":6:", `key "web_identity_token_file"`, "not an absolute path"}},
		{"empty value", "registries:\n" + alias + "    profile:\n", []string{`key "profile"`, "is empty"}},
		{"bad timeout", "timeout: 2h\n", []string{`key "timeout"`, "outside 1s..10m"}},
		{"not yaml", "registries: [\n", []string{"not valid YAML"}},
		{"yaml error line", "registries:\n  - host: a.example.com\n    account: \"1\n", []string{":3:", "not valid YAML: found unexpected end of stream"}},
		{"tab indent", "registries:\n  - host: 127.0.0.1:5000\n\taccount: \"513558712013\"\n", []string{":3:", "not valid YAML", "indented with a tab"}},
		{"top key in entry", "registries:\n" + alias + "    timeout: 5s\n", []string{":5:", `key "timeout"`, "top-level key: move it out of the entry"}},
		{"entry key at top", "role_arn: arn:aws:iam::123456789012:role/x\nregistries:\n" + alias, []string{":1:", `key "role_arn"`, "belongs to an entry"}},
		{"bad external id", "registries:\n" + alias + "    role_arn: arn:aws:iam::123456789012:role/x\n    external_id: \"has space\"\n", []string{`key "external_id"`, "2 to 1224"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.body)
			}
			msg := err.Error()
			for _, w := range append([]string{p}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestEveryErrorReported(t *testing.T) {
	_, err := Parse("f.yaml", []byte("registries:\n  - host: a.example.com\n  - host: b.example.com\n    account: x\n"))
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Fatalf("want one line per problem, got:\n%v", err)
	}
}

func TestRedacted(t *testing.T) {
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	out := string(Redacted(c))
	if strings.Contains(out, "s3cr3t-ext-id") {
		t.Fatalf("external ID printed:\n%s", out)
	}
	for _, w := range []string{"timeout: 20s", "external_id: '[redacted]'", "account: \"513558712013\"", "partition: aws", "duration: 2h", "web_identity_token_file: /var/run/token"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 30 * time.Second: "30s", 2*time.Minute + 1500*time.Millisecond: "2m2s", 11*time.Hour + 3*time.Second: "11h0m3s", 0: "0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestLookupWithoutAConfig: a currents.yaml that could not be read leaves
// real ECR hosts served (from the default chain) and nothing else, in any
// case; a loaded one finds its alias in any case too.
func TestLookupWithoutAConfig(t *testing.T) {
	var none *Config
	if tg, ok := none.Lookup("123456789012.DKR.ecr.us-east-1.amazonaws.com"); !ok || tg.Registry.Account != "123456789012" || tg.Entry != nil {
		t.Errorf("ECR host without a config: %+v %v", tg, ok)
	}
	if _, ok := none.Lookup("registry.example.com"); ok {
		t.Error("a non-ECR host served without a config")
	}
	c, err := Parse("currents.yaml", []byte("registries:\n  - host: mirror.example.com\n    account: \"123456789012\"\n    region: eu-west-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tg, ok := c.Lookup("Mirror.Example.com"); !ok || tg.Entry == nil || tg.Registry.Region != "eu-west-1" {
		t.Errorf("alias in capitals: %+v %v", tg, ok)
	}
}
