package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/docker/cli/cli/config/configfile"

	"github.com/currentsdev/currents/internal/ecrhost"
)

// FuzzCredHelperEdit: configure's edit of any config.json docker accepts is
// refused, or gives a file docker reads with the host sent to our helper and
// every other top-level key unchanged; removing the registration again drops
// it, and leaves a file that had no credHelpers byte for byte as it was.
func FuzzCredHelperEdit(f *testing.F) {
	for _, name := range corpus {
		data, _ := os.ReadFile(filepath.Join(corpusDir, name+".json"))
		f.Add(data, ourHost)
		f.Add(data, "https://513558712013.dkr.ecr.us-east-1.amazonaws.com/v2/")
	}
	// Issue 10's odd config.json shapes, in kind.
	for _, s := range []string{
		"", "   \n", "{}", "\ufeff{}", `{"credHelpers":null}`, `{"credHelpers":[]}`, `{"credHelpers":"currents"}`,
		`{"credHelpers":{"127.0.0.1:5000":"other","127.0.0.1:5000":"currents"}}`, `{"credHelpers":{},"credHelpers":{}}`,
		`{"credHelpers":{"HTTPS://127.0.0.1:5000/":"old"}}`, `{"credHelpers":{"127.0.0.1:5000":7}}`,
		`{"auths":{"127.0.0.1:5000":{"auth":"QVdTOnB3"}},"credsStore":"desktop"}`, "{\r\n\t\"a\" : [1,{\"b\":null}]\r\n}\r\n",
		`{"a":"\u00e9\ud83d\ude00","b":1e400}`, `{"cliPluginsExtraDirs":["/x"],"credHelpers":{"a.b":"c"}}`,
	} {
		f.Add([]byte(s), ourHost)
	}
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		// configure hands over hosts as ecrhost.Normalize spells them; the
		// file's keys, on the other hand, can be anything.
		if h, err := ecrhost.Normalize(host); err != nil || !utf8.ValidString(h) {
			return
		}
		if validate("config.json", data) != nil || configfile.New("c").LoadFromReader(bytes.NewReader(data)) != nil && len(bytes.TrimSpace(data)) > 0 {
			return // docker itself refuses it
		}
		file := &File{path: "config.json", exists: true, orig: data, data: bytes.Clone(data)}
		others := topLevel(t, data)
		_, hadHelpers := others["credHelpers"]
		delete(others, "credHelpers")
		if err := file.SetCredHelper(host, "currents"); err != nil {
			return
		}
		out := bytes.Clone(file.Bytes())
		cfg := dockerReads(t, out)
		if !sentToUs(cfg, host) {
			t.Fatalf("docker does not send %q to currents after SetCredHelper:\n%s", host, out)
		}
		if h, ok := file.CredHelper(host); !ok || h != "currents" {
			t.Errorf("CredHelper(%q) = %q, %v after setting it", host, h, ok)
		}
		sameOthers(t, others, topLevel(t, out), out)
		if err := file.RemoveCredHelper(host); err != nil {
			// Refusing an edit sjson cannot make safely is fine; a changed or
			// broken file is not.
			if !errors.Is(err, errBadEdit) || !bytes.Equal(file.Bytes(), out) {
				t.Fatalf("RemoveCredHelper after SetCredHelper: %v\n%s\n%s", err, out, file.Bytes())
			}
			return
		}
		after := file.Bytes()
		if _, ok := file.CredHelper(host); ok {
			t.Errorf("%q still registered after RemoveCredHelper:\n%s", host, after)
		}
		dockerReads(t, after)
		sameOthers(t, others, topLevel(t, after), after)
		// (An empty file or object comes back as {}: the shape docker writes.)
		if !hadHelpers && len(others) > 0 && !bytes.Equal(after, data) {
			t.Errorf("set then remove changed the file:\n%q\n%q", data, after)
		}
	})
}

// dockerReads loads config.json as the docker CLI does.
func dockerReads(t *testing.T, data []byte) *configfile.ConfigFile {
	t.Helper()
	cfg := configfile.New("config.json")
	if err := cfg.LoadFromReader(bytes.NewReader(data)); err != nil && len(bytes.TrimSpace(data)) > 0 {
		t.Fatalf("docker cannot read the edited file: %v\n%s", err, data)
	}
	return cfg
}

func sentToUs(cfg *configfile.ConfigFile, host string) bool {
	for k, v := range cfg.CredentialHelpers {
		if (k == host || SameHost(k, host)) && v == "currents" {
			return true
		}
	}
	return false
}

func topLevel(t *testing.T, data []byte) map[string]string {
	t.Helper()
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("not a JSON object: %v\n%s", err, data)
		}
	}
	out := map[string]string{}
	for k, v := range m {
		var b bytes.Buffer
		json.Compact(&b, v)
		out[k] = b.String()
	}
	return out
}

func sameOthers(t *testing.T, want, got map[string]string, data []byte) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %q changed from %s to %s:\n%s", k, v, got[k], data)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && k != "credHelpers" {
			t.Errorf("key %q appeared:\n%s", k, data)
		}
	}
}
