package doctor

import (
	"strings"
	"testing"
)

// Issue 10, defect 11: `config` printed AWS_ENDPOINT_URL=http://user:password@… in clear.
func TestEveryURLsUserinfoIsRedacted(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL":     "http://user:s3cret-pw@127.0.0.1:4566",
		"AWS_ENDPOINT_URL_STS": "https://tok3n-only@sts.example.com/path",
		"HTTPS_PROXY":          "http://proxyuser:pr0xy-pw@proxy:3128",
		"http_proxy":           "pr0xy-pw2@proxy:3128", // no scheme, as curl and Go accept it
		"AWS_CA_BUNDLE":        "/etc/certs@v2/ca.pem",
		"AWS_PROFILE":          "ops@corp",
		"AWS_SESSION_TOKEN":    "sess-t0ken",
	}
	var shown []string
	for _, v := range visibleEnv(func(k string) string { return env[k] }) {
		shown = append(shown, v.Name+"="+v.Value)
	}
	out := strings.Join(shown, "\n")
	for _, secret := range []string{"s3cret-pw", "tok3n-only", "pr0xy-pw", "pr0xy-pw2", "sess-t0ken", "proxyuser", "user:"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q shown:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"AWS_ENDPOINT_URL=http://[redacted]@127.0.0.1:4566", "AWS_ENDPOINT_URL_STS=https://[redacted]@sts.example.com/path",
		"HTTPS_PROXY=http://[redacted]@proxy:3128", "http_proxy=[redacted]@proxy:3128",
		"AWS_CA_BUNDLE=/etc/certs@v2/ca.pem", "AWS_PROFILE=ops@corp", "AWS_SESSION_TOKEN=[set]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s:\n%s", want, out)
		}
	}
}
