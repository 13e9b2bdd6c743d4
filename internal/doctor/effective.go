package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/idtoken"
	"github.com/currentsdev/currents/internal/logging"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/secret"
	"github.com/currentsdev/currents/internal/tokencache"
)

// Effective is the configuration in force and what the cache holds, read without calling AWS: the offline
// half of the diagnosis, which `config` prints.
type Effective struct {
	Config    *config.Config
	CacheDir  string
	CacheErr  error // why there is no usable cache; CacheDir is "" then
	AWSHelper string
	// Env lists the set variables that change what the helper does, secrets as [set] and every URL's
	// userinfo redacted.
	Env        []EnvVar
	Registries []RegistryState
}

// EnvVar is one variable as it may be shown.
type EnvVar struct{ Name, Value string }

// RegistryState is one currents.yaml entry: where its credentials come from and what the cache holds.
type RegistryState struct {
	Host        string
	Credentials string // where the credentials come from, in one line
	// The cache's view, empty when the cache is unusable.
	CacheFile string
	Token     string
	Failure   string // the last failed refresh; "" when none is remembered
	Session   string // the role session; "" when no role is assumed
}

// Effective describes the configuration doctor was given. Only a currents.yaml that cannot be read stops it.
func (d *Doctor) Effective() (*Effective, error) {
	cfg, err := d.config()
	if err != nil {
		return nil, err
	}
	e := &Effective{Config: cfg, Env: visibleEnv(d.getenv)}
	cache, err := d.cache()
	if err != nil {
		e.CacheErr = err
	} else {
		e.CacheDir = cache.Dir()
	}
	e.AWSHelper, _ = os.Executable()
	if p, err := filepath.EvalSymlinks(e.AWSHelper); err == nil {
		e.AWSHelper = p
	}
	for _, entry := range cfg.Registries {
		t, _ := cfg.Lookup(entry.Host)
		s := RegistryState{Host: entry.Host, Credentials: credentialsOf(t, d.aws)}
		if e.CacheErr == nil {
			cacheState(&s, cache, t, d.getenv, d.now())
		}
		e.Registries = append(e.Registries, s)
	}
	return e, nil
}

// envShown are the variables that change what the helper does. Values of envSecret are never shown.
var (
	envShown = []string{
		dirs.EnvConfig, tokencache.EnvDir, logging.EnvLevel, config.EnvTimeout, product.EnvAWSHelper, dirs.EnvDockerConfig,
		"HOME", "XDG_CACHE_HOME",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC",
		"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS",
		"AWS_EC2_METADATA_DISABLED", "AWS_CA_BUNDLE",
		"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
	}
	envSecret = map[string]bool{"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_CONTAINER_AUTHORIZATION_TOKEN": true}
)

func visibleEnv(getenv func(string) string) []EnvVar {
	var set []EnvVar
	for _, k := range envShown {
		v := getenv(k)
		switch {
		case v == "":
			continue
		case envSecret[k]:
			v = "[set]"
		case k == "AWS_ACCESS_KEY_ID":
			v = secret.KeyID(v)
		case strings.Contains(v, "://") || strings.Contains(strings.ToUpper(k), "PROXY"):
			v = redactUserinfo(v)
		}
		set = append(set, EnvVar{k, v})
	}
	return set
}

// redactUserinfo masks the user and password of a URL (an endpoint or a proxy may carry them); anything
// else comes back as it is. A proxy may be written without its scheme ("user:pw@proxy:3128"), as curl and Go
// accept it.
func redactUserinfo(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		scheme, rest = "", v
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return v
	}
	if end := strings.IndexAny(rest, "/?#"); end >= 0 && end < at {
		return v // an @ in the path or query, not userinfo
	}
	if scheme != "" {
		scheme += "://"
	}
	return scheme + secret.Mask + "@" + rest[at+1:]
}

// credentialsOf says in one line where t's credentials come from.
func credentialsOf(t config.Target, aws AWS) string {
	e := t.Entry
	source := "the AWS SDK default credential chain"
	if e != nil && e.Profile != "" {
		source = fmt.Sprintf("profile %q", e.Profile)
	}
	if t.RoleARN() == "" {
		return source + ", used as they are"
	}
	d, dFrom := e.Duration, ""
	if d == 0 {
		d, dFrom = awsapi.DefaultSessionDuration, " (default)"
	}
	name, nFrom := aws.SessionName(t), ""
	if e.SessionName == "" {
		nFrom = " (default)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "assume %s", e.RoleARN)
	if e.ExternalID != "" {
		b.WriteString(" with the external ID")
	}
	fmt.Fprintf(&b, ", session %q%s for %s%s, ", name, nFrom, config.FormatDuration(d), dFrom)
	switch {
	case e.WebIdentityTokenFile != "":
		fmt.Fprintf(&b, "with the web identity token in %s", e.WebIdentityTokenFile)
	case e.WebIdentity != "":
		fmt.Fprintf(&b, "with the %s OIDC token", idtoken.Name(e.WebIdentity))
	default:
		b.WriteString("from " + source)
	}
	return b.String()
}

// cacheState says what the cache holds for t and what the next get will do.
func cacheState(s *RegistryState, cache *tokencache.Cache, t config.Target, getenv func(string) string, now time.Time) {
	id := tokencache.IdentityFor(t, getenv)
	e := cache.Load(id)
	s.CacheFile = cache.Path(id)
	key := tokencache.TokenKey(t.Registry)
	tok, ok := e.Token(key)
	s.Token = lifetime(ok, tok.Issued, tok.Expires, now, "none cached: the next get calls AWS")
	if f, failed := e.Failure(key, time.Time{}); failed {
		when := config.FormatDuration(now.Sub(f.At)) + " ago"
		if f.At.After(now) {
			when = "in the future: the clock stepped back"
		}
		s.Failure = fmt.Sprintf("%s (%s): %s", f.At.UTC().Format(time.RFC3339), when, f.Message)
	}
	if t.RoleARN() != "" {
		var issued, expires time.Time
		if e.Session != nil {
			issued, expires = e.Session.Issued, e.Session.Expires
		}
		s.Session = lifetime(e.Session != nil, issued, expires, now, "none cached: the next refresh assumes the role")
	}
}

func lifetime(ok bool, issued, expires, now time.Time, none string) string {
	if !ok {
		return none
	}
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch refresh := credential.RefreshAt(issued, expires); {
	case issued.After(now): // as credential.NeedsRefresh: its remaining life is unknown
		return fmt.Sprintf("issued in the future (%s): the clock stepped back; the next get refreshes", at(issued))
	case !now.Before(expires):
		return fmt.Sprintf("expired at %s: the next get calls AWS", at(expires))
	case !now.Before(refresh):
		return fmt.Sprintf("valid until %s (%s left), due for refresh: the next get calls AWS", at(expires), config.FormatDuration(expires.Sub(now)))
	default:
		return fmt.Sprintf("valid until %s (%s left); next refresh at %s", at(expires), config.FormatDuration(expires.Sub(now)), at(refresh))
	}
}
