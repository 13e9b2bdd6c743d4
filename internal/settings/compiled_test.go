package settings

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// filled is a Config whose every field, and every field of its entries, is
// set: a field the compiled form forgot would come back zero.
func filled(t *testing.T) *Config {
	c := &Config{}
	fill(t, reflect.ValueOf(c).Elem())
	c.Path, c.Found = "/p/currents.yaml", true // the file's, set when it is read
	c.Timeout, c.TimeoutFrom = 42*time.Second, c.Path
	var e Entry
	fill(t, reflect.ValueOf(&e).Elem())
	e.Host = "127.0.0.1:5000"
	c.Registries = []Entry{e}
	c.Index()
	return c
}

// fill sets every exported field of the struct v but its entries, and fails
// on a kind it does not know, so that a new field cannot pass unfilled.
func fill(t *testing.T, v reflect.Value) {
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case !v.Type().Field(i).IsExported() || name == "Registries":
		case f.Kind() == reflect.String:
			f.SetString(name + "-value")
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(int64(i + 7))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("%s.%s: a field of kind %s; teach this test to fill it", v.Type().Name(), name, f.Kind())
		}
	}
}

func TestCompiledFormKeepsEverySetting(t *testing.T) {
	c := filled(t)
	data := []byte("registries: [...]")
	got, err := Decompile(Compile(c.Path, data, c, nil), c.Path, data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("compiled and back:\n%+v\nwant\n%+v", got, c)
	}
	if tgt, ok := got.Lookup("127.0.0.1:5000"); !ok || tgt.Entry == nil || tgt.Entry.RoleARN != "RoleARN-value" {
		t.Errorf("Lookup after Decompile: %+v %v", tgt, ok)
	}
}

// TestCompiledFormNeverAnswersForAnotherFile: any change of the bytes or the
// path misses, whatever the file's timestamps say.
func TestCompiledFormNeverAnswersForAnotherFile(t *testing.T) {
	c := filled(t)
	data := []byte("registries:\n  - host: a\n")
	b := Compile(c.Path, data, c, nil)
	for name, tc := range map[string]struct {
		path string
		data []byte
	}{
		"one byte changed":   {c.Path, []byte("registries:\n  - host: b\n")},
		"another path":       {"/q/currents.yaml", data},
		"appended":           {c.Path, append(append([]byte{}, data...), ' ')},
		"empty":              {c.Path, []byte{}},
		"path and data swap": {c.Path + "r", []byte("egistries:\n  - host: a\n")},
	} {
		if _, err := Decompile(b, tc.path, tc.data); !errors.Is(err, ErrNotCompiled) {
			t.Errorf("%s: %v; want ErrNotCompiled", name, err)
		}
	}
	for name, b := range map[string][]byte{"none": nil, "garbage": []byte("{"), "no config": []byte(`{"digest":"` + Digest(c.Path, data) + `"}`)} {
		if _, err := Decompile(b, c.Path, data); !errors.Is(err, ErrNotCompiled) {
			t.Errorf("%s: %v; want ErrNotCompiled", name, err)
		}
	}
}

func TestCompiledParseErrorIsTheParsersWords(t *testing.T) {
	data := []byte("registries: 3\n")
	perr := errors.New("/p/currents.yaml:1: registries: must be a list of entries")
	_, err := Decompile(Compile("/p/currents.yaml", data, nil, perr), "/p/currents.yaml", data)
	if err == nil || err.Error() != perr.Error() || errors.Is(err, ErrNotCompiled) {
		t.Errorf("compiled parse error: %v", err)
	}
}

func TestFromEnvCompiled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "currents.yaml")
	t.Setenv("CURRENTS_CONFIG", path)
	t.Setenv(EnvTimeout, "")
	none := func() []byte { t.Error("a missing file needs no compiled form"); return nil }
	if c, err := FromEnvCompiled(none); err != nil || c.Found || c.Path != path || c.Timeout != DefaultTimeout {
		t.Errorf("missing file: %+v, %v", c, err)
	}
	data := []byte("timeout: 42s\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromEnvCompiled(func() []byte { return nil }); !errors.Is(err, ErrNotCompiled) {
		t.Errorf("no compiled form: %v", err)
	}
	c := filled(t)
	b := Compile(path, data, c, nil)
	t.Setenv(EnvTimeout, "7s")
	got, err := FromEnvCompiled(func() []byte { return b })
	if err != nil || got.Timeout != 7*time.Second || got.TimeoutFrom != EnvTimeout || got.Path != path {
		t.Errorf("CURRENTS_TIMEOUT over the compiled form: %+v, %v", got, err)
	}
	t.Setenv(EnvTimeout, "")
	if got, err := FromEnvCompiled(func() []byte { return b }); err != nil || got.Timeout != 42*time.Second {
		t.Errorf("the file's timeout: %+v, %v", got, err)
	}
}

// A form cut short anywhere, another version's (the JSON one before it), a
// key it does not know, a key twice or a field missing is no form at all: the
// AWS binary compiles the file again, rather than the lean binary serving
// part of a configuration.
func TestCompiledFormIsAllOrNothing(t *testing.T) {
	c := filled(t)
	data := []byte("registries: [...]")
	b := Compile(c.Path, data, c, nil)
	for n := range len(b) {
		if got, err := Decompile(b[:n], c.Path, data); !errors.Is(err, ErrNotCompiled) {
			t.Fatalf("cut to %d of %d bytes: %+v, %v; want ErrNotCompiled", n, len(b), got, err)
		}
		// The cache writes it without fsync: a crash may also leave its end as zeros.
		zeroed := append(bytes.Clone(b[:n]), make([]byte, len(b)-n)...)
		if got, err := Decompile(zeroed, c.Path, data); !errors.Is(err, ErrNotCompiled) {
			t.Fatalf("%d of %d bytes, then zeros: %+v, %v; want ErrNotCompiled", n, len(b), got, err)
		}
	}
	digest := Digest(c.Path, data)
	for name, form := range map[string]string{
		"the JSON form": `{"digest":"` + digest + `","config":{"Timeout":30000000000,"TimeoutFrom":"default"}}`,
		"version 1":     "currents-compiled 1\ndigest " + digest + "\ntimeout 1\ntimeout_from \"x\"\nend\n",
		"unknown key":   "currents-compiled 2\ndigest " + digest + "\ntimeout 1\ntimeout_from \"x\"\nwho \"knows\"\nend\n",
		"key twice":     "currents-compiled 2\ndigest " + digest + "\ntimeout 1\ntimeout 2\ntimeout_from \"x\"\nend\n",
		"no timeout":    "currents-compiled 2\ndigest " + digest + "\ntimeout_from \"x\"\nend\n",
		"bare string":   "currents-compiled 2\ndigest " + digest + "\ntimeout 1\ntimeout_from x\nend\n",
		"entry short":   "currents-compiled 2\ndigest " + digest + "\ntimeout 1\ntimeout_from \"x\"\nentry\nhost \"h\"\nend\n",
		"after end":     "currents-compiled 2\ndigest " + digest + "\ntimeout 1\ntimeout_from \"x\"\nend\ntimeout 2\n",
		"error and end": "currents-compiled 2\ndigest " + digest + "\nerror \"bad\"\ntimeout 1\nend\n",
	} {
		if got, err := Decompile([]byte(form), c.Path, data); !errors.Is(err, ErrNotCompiled) {
			t.Errorf("%s: %+v, %v; want ErrNotCompiled", name, got, err)
		}
	}
	if got, err := Decompile([]byte("currents-compiled 2\ndigest "+digest+"\ntimeout 1\ntimeout_from \"x\"\nend\n"), c.Path, data); err != nil || got.Timeout != 1 || len(got.Registries) != 0 {
		t.Errorf("a form without entries: %+v, %v", got, err)
	}
}

// FuzzCompiledForm: any settings (any bytes in their strings: newlines,
// quotes, invalid UTF-8) come back as they were, and no form, however
// corrupt, crashes Decompile or decodes to settings that do not compile back.
func FuzzCompiledForm(f *testing.F) {
	f.Add("h:5000", "arn:aws:iam::1:role/r", "ext\nid \"x\"", int64(30e9), []byte("timeout 1\ntimeout_from \"x\"\nentry\nhost \"h\"\nend\n"))
	f.Add("", "\xff", "end", int64(-1), []byte("{}"))
	f.Fuzz(func(t *testing.T, host, role, ext string, n int64, form []byte) {
		c := &Config{Path: "/p/currents.yaml", Found: true, Timeout: time.Duration(n), TimeoutFrom: role + ext}
		c.Registries = []Entry{{Index: int(n), Host: host, RoleARN: role, ExternalID: ext, Duration: time.Duration(n)}, {Host: ext, Profile: host}}
		c.Index()
		data := []byte(host)
		got, err := Decompile(Compile(c.Path, data, c, nil), c.Path, data)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, c)
		}
		perr := errors.New(ext + host)
		if _, err := Decompile(Compile(c.Path, data, nil, perr), c.Path, data); err == nil || err.Error() != perr.Error() {
			t.Fatalf("parse error %q: %v", perr, err)
		}
		// The fuzzer cannot guess a digest: form is what follows a right one.
		form = append([]byte(compiledHeader+"\ndigest "+Digest(c.Path, data)+"\n"), form...)
		if got, err := Decompile(form, c.Path, data); err == nil {
			again, err := Decompile(Compile(c.Path, data, got, nil), c.Path, data)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("%q decoded to %+v, which compiles back to %+v, %v", form, got, again, err)
			}
		}
	})
}
