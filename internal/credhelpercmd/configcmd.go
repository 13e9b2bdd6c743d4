package credhelpercmd

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/currentsdev/currents/internal/awsapi"
	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/credential"
	"github.com/currentsdev/currents/internal/dirs"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/tokencache"
)

func newConfigCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print the effective configuration (secrets redacted), the paths in use and what is cached",
		Long: `Print the effective configuration: the paths in use, the environment that
changes what the helper does (secrets shown only as [set]), currents.yaml with
derived values filled in and the external ID redacted, and for each registry
the credentials it uses and the state of its cached token and role session.
Nothing here reaches AWS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.Config()
			if err != nil {
				return err
			}
			status := "found"
			if !cfg.Found {
				status = "not found: no entries, real ECR hosts use the AWS default credential chain"
			}
			fmt.Fprintf(a.Out, "# config file: %s (%s)\n", cfg.Path, status)
			cache, cacheErr := a.Cache()
			if cacheErr != nil {
				fmt.Fprintf(a.Out, "# cache dir:   unusable: %v\n", cacheErr)
			} else {
				fmt.Fprintf(a.Out, "# cache dir:   %s\n", cache.Dir())
			}
			self, _ := os.Executable()
			if p, err := filepath.EvalSymlinks(self); err == nil {
				self = p
			}
			fmt.Fprintf(a.Out, "# AWS helper:  %s\n", self)
			fmt.Fprintf(a.Out, "# timeout:     %s (from %s)\n", config.FormatDuration(cfg.Timeout), cfg.TimeoutFrom)
			writeEnv(a.Out, os.Getenv)
			fmt.Fprintln(a.Out, "# Hosts without an entry: any ECR hostname, served from the AWS SDK default credential chain.")
			if err := cfg.WriteRedacted(a.Out); err != nil {
				return err
			}
			if len(cfg.Registries) > 0 {
				fmt.Fprintln(a.Out, "# Per registry (from the cache; nothing here called AWS):")
			}
			aws := awsapi.New()
			for _, e := range cfg.Registries {
				t, _ := cfg.Lookup(e.Host)
				fmt.Fprintf(a.Out, "#   %s\n#     credentials: %s\n", e.Host, credentialsOf(t, aws))
				if cacheErr == nil {
					writeCacheState(a.Out, cache, t, time.Now())
				}
			}
			return nil
		},
	}
}

// envShown are the variables that change what the helper does. Values of
// envSecret are never printed; a proxy URL's password is masked.
var (
	envShown = []string{
		dirs.EnvConfig, tokencache.EnvDir, "CURRENTS_LOG", config.EnvTimeout, product.EnvAWSHelper, dirs.EnvDockerConfig,
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

func writeEnv(w io.Writer, getenv func(string) string) {
	var set []string
	for _, k := range envShown {
		v := getenv(k)
		switch {
		case v == "":
			continue
		case envSecret[k]:
			v = "[set]"
		case strings.Contains(strings.ToLower(k), "proxy"):
			if u, err := url.Parse(v); err == nil && u.User != nil {
				v = u.Redacted()
			}
		}
		set = append(set, k+"="+v)
	}
	if len(set) == 0 {
		fmt.Fprintln(w, "# environment: nothing that changes the helper is set")
		return
	}
	fmt.Fprintln(w, "# environment:")
	for _, kv := range set {
		fmt.Fprintf(w, "#   %s\n", kv)
	}
}

// credentialsOf says in one line where t's credentials come from.
func credentialsOf(t config.Target, aws *awsapi.Client) string {
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
	if e.WebIdentityTokenFile != "" {
		fmt.Fprintf(&b, "with the web identity token in %s", e.WebIdentityTokenFile)
	} else {
		b.WriteString("from " + source)
	}
	return b.String()
}

// writeCacheState says what the cache holds for t and what the next get will do.
func writeCacheState(w io.Writer, cache *tokencache.Cache, t config.Target, now time.Time) {
	id := tokencache.IdentityFor(t, os.Getenv)
	e := cache.Load(id)
	fmt.Fprintf(w, "#     cache file:  %s\n", cache.Path(id))
	key := tokencache.TokenKey(t.Registry)
	tok, ok := e.Token(key)
	fmt.Fprintf(w, "#     ECR token:   %s\n", lifetime(ok, tok.Issued, tok.Expires, now, "none cached: the next get calls AWS"))
	if f, failed := e.Failure(key, time.Time{}); failed {
		fmt.Fprintf(w, "#     last failed refresh, %s (%s ago): %s\n", f.At.UTC().Format(time.RFC3339), config.FormatDuration(now.Sub(f.At)), f.Message)
	}
	if t.RoleARN() != "" {
		var issued, expires time.Time
		if e.Session != nil {
			issued, expires = e.Session.Issued, e.Session.Expires
		}
		fmt.Fprintf(w, "#     session:     %s\n", lifetime(e.Session != nil, issued, expires, now, "none cached: the next refresh assumes the role"))
	}
}

func lifetime(ok bool, issued, expires, now time.Time, none string) string {
	if !ok {
		return none
	}
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch refresh := credential.RefreshAt(issued, expires); {
	case !now.Before(expires):
		return fmt.Sprintf("expired at %s: the next get calls AWS", at(expires))
	case !now.Before(refresh):
		return fmt.Sprintf("valid until %s (%s left), due for refresh: the next get calls AWS", at(expires), config.FormatDuration(expires.Sub(now)))
	default:
		return fmt.Sprintf("valid until %s (%s left); next refresh at %s", at(expires), config.FormatDuration(expires.Sub(now)), at(refresh))
	}
}
