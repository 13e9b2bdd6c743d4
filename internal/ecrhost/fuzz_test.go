package ecrhost

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalize: every server URL docker may send normalises to a host that is
// its own normal form (so a host registered in one spelling is found in
// another), and only hosts of AWS's exact shape are taken for ECR.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"513558712013.dkr.ecr.us-east-1.amazonaws.com", "https://513558712013.dkr.ecr.us-east-1.amazonaws.com/v2/",
		"HTTPS://513558712013.DKR.ECR.US-EAST-1.AMAZONAWS.COM:443", "513558712013.dkr.ecr.us-east-1.amazonaws.com.",
		"513558712013.dkr.ecr.us-east-1.amazonaws.com.evil.com", "513558712013.dkr-ecr.us-east-1.on.aws",
		"513558712013.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "513558712013.dkr.ecr.cn-north-1.amazonaws.com.cn",
		"public.ecr.aws", "127.0.0.1:5000", "http://127.0.0.1:80/", "[::1]:5000", "https://user:pw@x", "https://index.docker.io/v1/",
		"", " ", "://", "http://", "a b", "%zz", "https://[::1", "host:99999", "host:-1", "xn--e1afmkfd.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, serverURL string) {
		h, err := Normalize(serverURL)
		if err != nil {
			return
		}
		if again, err := Normalize(h); err != nil || again != h {
			t.Errorf("Normalize(%q) = %q, whose normal form is %q (%v)", serverURL, h, again, err)
		}
		if h != strings.ToLower(h) {
			t.Errorf("Normalize(%q) = %q is not lowercase", serverURL, h)
		}
		r, ok := Parse(h)
		if !ok {
			return
		}
		if r.Host != h || strings.Contains(h, ":") || strings.Contains(h, "/") {
			t.Errorf("Parse(%q) = %+v", h, r)
		}
		if !r.Public && (len(r.Account) != 12 || r.Region == "" || r.Partition == "") {
			t.Errorf("Parse(%q) = %+v: incomplete", h, r)
		}
		if !r.Public && !strings.HasPrefix(h, r.Account+".") {
			t.Errorf("Parse(%q) = %+v: account not the first label", h, r)
		}
	})
}

// FuzzPlainURLIsURLParse: on the URLs plainURL takes apart itself, url.Parse
// succeeds and gives the same scheme, host and port, so Normalize answers
// every server URL as it did through url.Parse alone.
func FuzzPlainURLIsURLParse(f *testing.F) {
	for _, s := range []string{
		"https://513558712013.dkr.ecr.us-east-1.amazonaws.com", "HTTPS://Host.Example:0443/v2/~x/", "http://h:80",
		"https://h:", "https://h::1", "https://[::1]:5000", "https://u@h", "https://h/%41", "https://h?x", "https://h#f",
		"h1://x", "ht+tp://x", "://x", "https:///x", "https://h/a b", "https://h\x7f", "https://ho\x00st", "https://h_1-2.x/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.Contains(s, "://") {
			s = "https://" + s
		}
		if scheme, hostname, port, ok := plainURL(s); ok {
			u, err := url.Parse(s)
			if err != nil || u.User != nil || u.Host == "" || u.Scheme != scheme || u.Hostname() != hostname || u.Port() != port {
				t.Fatalf("plainURL(%q) = %q %q %q; url.Parse: %+v, %v", s, scheme, hostname, port, u, err)
			}
		}
		got, err := Normalize(s)
		want, werr := normalizeParsed(s, strings.TrimSpace(s))
		if strings.TrimSpace(s) == "" {
			return
		}
		if got != want || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("Normalize(%q) = %q, %v; through url.Parse %q, %v", s, got, err, want, werr)
		}
	})
}
