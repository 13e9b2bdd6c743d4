package keychain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
)

// load reads a config.json as the docker CLI loads it.
func load(t *testing.T, doc string) *configfile.ConfigFile {
	t.Helper()
	cf := configfile.New(filepath.Join(t.TempDir(), "config.json"))
	if err := cf.LoadFromReader(strings.NewReader(doc)); err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestSourcePrecedence(t *testing.T) {
	cf := load(t, `{"auths": {"https://reg.example:5000/v1/": {"auth": "dTpw"}}}`)
	kc := New(cf)
	if s := kc.Source("reg.example:5000"); s.Kind != FromAuths || s.Key != "https://reg.example:5000/v1/" {
		t.Errorf("legacy auths key: %+v", s)
	}
	cf.CredentialsStore = "desktop"
	if s := kc.Source("reg.example:5000"); s.Kind != FromCredsStore || s.Helper != "desktop" {
		t.Errorf("credsStore: %+v", s)
	}
	cf.CredentialHelpers = map[string]string{"reg.example:5000": "currents"}
	if s := kc.Source("reg.example:5000"); s.Kind != FromCredHelper || s.Helper != "currents" {
		t.Errorf("credHelpers: %+v", s)
	}
	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths":{"reg.example:5000":{"auth":"dTpw"}}}`)
	if s := kc.Source("reg.example:5000"); s.Kind != FromAuthConfigEnv {
		t.Errorf("DOCKER_AUTH_CONFIG: %+v", s)
	}
	if s := kc.Source("index.docker.io"); s.Key != "https://index.docker.io/v1/" || s.Kind != FromCredsStore {
		t.Errorf("docker hub: %+v", s)
	}
}

// TestTheHelperDockerRuns: for every spelling of a registry, the helper
// Source names is the one the docker CLI's own lookup runs. Each helper on
// PATH answers with its own name as the user name.
func TestTheHelperDockerRuns(t *testing.T) {
	bin := t.TempDir()
	for _, h := range []string{"hub", "other", "store"} {
		script := "#!/bin/sh\nread host\necho '{\"ServerURL\":\"'\"$host\"'\",\"Username\":\"" + h + "\",\"Secret\":\"s\"}'\n"
		if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+h), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	cf := load(t, `{"credsStore": "store", "credHelpers": {"https://index.docker.io/v1/": "hub", "index.docker.io": "other", "docker.io": "other", "reg.example:5000": "other"}}`)
	kc := New(cf)
	for _, host := range []string{"docker.io", "index.docker.io", "reg.example:5000", "elsewhere.example"} {
		src := kc.Source(host)
		ac, err := cf.GetAuthConfig(host)
		if err != nil {
			t.Fatalf("%s: docker's lookup: %v", host, err)
		}
		if src.Helper != ac.Username {
			t.Errorf("%s: Source names helper %q (key %q), docker ran %q", host, src.Helper, src.Key, ac.Username)
		}
		cred := kc.Get(host)
		if cred.Err != nil || cred.auth.Username != ac.Username {
			t.Errorf("%s: Get %+v, docker %q", host, cred, ac.Username)
		}
	}
}
