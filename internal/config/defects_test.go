package config

import (
	"strings"
	"testing"
	"time"
)

// Issue 10, defect 16: numbers of seconds too large for a time.Duration wrapped
// around (timeout: 18446744075 was accepted as 1s; duration: 18446744077 was
// refused as "3.290448384s is outside…"), and a second YAML document was ignored.
func TestHugeSecondsAreOutOfRangeNotWrapped(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"timeout: 18446744075\n", `key "timeout": 18446744075s is outside 1s..10m0s`},
		{"timeout: -18446744075\n", `key "timeout": -18446744075s is outside 1s..10m0s`},
		{"timeout: 9223372037\n", `key "timeout": 9223372037s is outside 1s..10m0s`},
		{"registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::123456789012:role/x\n    duration: 18446744077\n",
			`f.yaml:4: registries entry 1 (host "513558712013.dkr.ecr.us-east-1.amazonaws.com"): key "duration": 18446744077s is outside what AWS allows (15m to 12h)`},
	} {
		_, err := Parse("f.yaml", []byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tt.body, err, tt.want)
		}
	}
	t.Setenv(EnvTimeout, "18446744075")
	t.Setenv("CURRENTS_CONFIG", t.TempDir()+"/none.yaml")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "18446744075s is outside") {
		t.Errorf("%s=18446744075: %v", EnvTimeout, err)
	}
	// The largest whole number of seconds that fits is still just a number.
	if d, _, err := parseDuration("9223372036"); err != nil || d != 9223372036*time.Second {
		t.Errorf("parseDuration(9223372036) = %v, %v", d, err)
	}
}

func TestSecondDocumentIsAnError(t *testing.T) {
	const body = "registries:\n  - host: 513558712013.dkr.ecr.us-east-1.amazonaws.com\n---\nregistries:\n  - host: 111122223333.dkr.ecr.eu-west-1.amazonaws.com\n"
	_, err := Parse("f.yaml", []byte(body))
	for _, w := range []string{"f.yaml:3:", "second YAML document", "remove the --- line"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Parse: %v, want %q", err, w)
		}
	}
	// configure must not write back the first document only.
	out, err := Upsert([]byte(body), "f.yaml", EntrySpec{Host: "222222222222.dkr.ecr.us-east-1.amazonaws.com"})
	if err == nil || out != nil || !strings.Contains(err.Error(), "second YAML document") {
		t.Errorf("Upsert: %q, %v; want the second document refused", out, err)
	}
	// A leading --- or a closing ... is one document.
	for _, one := range []string{"---\ntimeout: 5s\n", "timeout: 5s\n...\n", "# c\n---\nregistries:\n"} {
		if _, err := Parse("f.yaml", []byte(one)); err != nil {
			t.Errorf("Parse(%q): %v", one, err)
		}
	}
}
