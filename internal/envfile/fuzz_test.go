package envfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var envSeeds = []string{
	"", "\n", "# c\n", "A=1\n", "A=1", "export A=1\n", "A = 1 # c\n", "A: 1\n", "A='x'\n", `A="x\"y"` + "\n", "A=\"a\nb\"\nB=2\n",
	"A=\"a\nDC_CURRENTS_REGISTRY=x\"\nDC_CURRENTS_REGISTRY=r.io/\n", "DC_CURRENTS_REGISTRY=${HOME:-r.io}/\n", "A=1\r\nB=2\r\n",
	"DC_CURRENTS_REGISTRY=a\nDC_CURRENTS_REGISTRY=b\n", "A=${B}\nB=${A}\n", "A=\"unterminated\n", "A.b-c[0]=1\n", "Ä=1\n", "=1\n",
	"A=\\\n", "A=$$\n", "A='it''s'\n", "\ufeffA=1\n",
}

// FuzzSet: an edit of any .env either is refused, with nothing changed, or
// gives a file compose reads as exactly the old values plus the new one; the
// same edit again changes nothing.
func FuzzSet(f *testing.F) {
	for _, s := range envSeeds {
		f.Add(s, "DC_CURRENTS_REGISTRY", "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/")
		f.Add(s, "A", "x y#z$'\"\\")
	}
	f.Fuzz(func(t *testing.T, data, key, value string) {
		out, _, err := Set([]byte(data), key, value)
		if err != nil {
			return
		}
		before, perr := Parse([]byte(data))
		if bytes.Equal(out, []byte(data)) {
			if perr == nil && before[key] != value {
				t.Errorf("Set reported no change, but %s is %q, not %q", key, before[key], value)
			}
			return
		}
		after, err := Parse(out)
		if err != nil {
			t.Fatalf("Set wrote a file compose cannot read: %v\n%q", err, out)
		}
		if after[key] != value {
			t.Errorf("%s = %q after Set, want %q:\n%q", key, after[key], value, out)
		}
		for k, v := range before {
			if k != key && after[k] != v {
				t.Errorf("Set changed %s from %q to %q:\n%q", k, v, after[k], out)
			}
		}
		if again, _, err := Set(out, key, value); err != nil || !bytes.Equal(again, out) {
			t.Errorf("the same Set again changed the file (%v):\n%q\n%q", err, out, again)
		}
	})
}

// FuzzRead: any .env is read as compose reads it, or refused; a variable is
// placed on a line that assigns it.
func FuzzRead(f *testing.F) {
	for _, s := range envSeeds {
		f.Add(s, "A")
		f.Add(s, "DC_CURRENTS_REGISTRY")
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data, key string) {
		p := filepath.Join(dir, ".env")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := Read(p)
		if err != nil {
			return
		}
		n, text := file.Line(key)
		if n == 0 {
			return
		}
		lines := strings.SplitAfter(data, "\n")
		if n > len(lines) || strings.TrimRight(lines[n-1], "\r\n") != text {
			t.Fatalf("Line(%q) = %d, %q: not a line of the file", key, n, text)
		}
		if _, ok := file.Values[key]; !ok || !keyName().MatchString(key) {
			t.Errorf("Line(%q) = %d for a key the file does not define", key, n)
		}
		if m := assignment().FindStringSubmatch(text); m == nil || m[2] != key {
			t.Errorf("Line(%q) = %d, %q, which does not assign it", key, n, text)
		}
	})
}
