package ecrhost

import (
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
