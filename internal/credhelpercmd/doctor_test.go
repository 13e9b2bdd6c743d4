package credhelpercmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/doctor"
	"github.com/currentsdev/currents/internal/standin"
	"github.com/currentsdev/currents/internal/standin/standintest"
)

// doctorWorld configures a host for a stand-in registry and returns the registry host.
func doctorWorld(t *testing.T) (*standin.Server, *standin.Registry) {
	t.Helper()
	w := standintest.New(t, standintest.WithRegistry(), standintest.WithUser("arn:aws:iam::111122223333:user/ops"),
		standintest.WithRole("currents-pull"), standintest.WithExternalID(doctorExternalID), standintest.WithoutTrust())
	aws, reg, role := w.AWS, w.Registry, w.Role
	home := standintest.Isolate(t)
	standintest.Export(t, aws, w.User)
	bin := filepath.Join(home, "bin")
	os.MkdirAll(bin, 0o755)
	// Both binaries record their argv, so the test sees what any process we spawn was given.
	for _, f := range []string{"docker-credential-currents", "docker-credential-currents-aws"} {
		os.WriteFile(filepath.Join(bin, f), []byte("#!/bin/sh\necho \"$0 $*\" >> "+argvLog(t)+"\n"), 0o755)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	if out, errOut, code := runCmdIn(t, doctorExternalID+"\n", "configure", "--registry", reg.Host(), "--account", aws.Account(), "--region", aws.Region(),
		"--role-arn", role, "--external-id-file", "-"); code != 0 {
		t.Fatalf("configure: %d\n%s%s", code, out, errOut)
	}
	return aws, reg
}

const doctorExternalID = "vendor-ext-9d41"

// argvLog is the file the fake helper binaries append their command lines to.
func argvLog(t *testing.T) string { return filepath.Join(os.Getenv("HOME"), "argv.log") }

func TestDoctorCommandJSONAndExitCodes(t *testing.T) {
	aws, reg := doctorWorld(t)

	// Without --registry doctor checks what configure set up.
	out, errOut, code := runCmd(t, "doctor", "--format", "json")
	if code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, errOut)
	}
	var res struct {
		SchemaVersion int             `json:"schemaVersion"`
		OK            bool            `json:"ok"`
		Reports       []doctor.Report `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--format json is not JSON: %v\n%s", err, out)
	}
	if res.SchemaVersion != 1 || !res.OK || len(res.Reports) != 1 || res.Reports[0].Registry != reg.Host() || len(res.Reports[0].Checks) != 9 {
		t.Fatalf("unexpected report: %s", out)
	}

	// AWS refusing the role is a failure: exit 1, and the text names the check and the fix.
	aws.RefuseRole("arn:aws:iam::"+aws.Account()+":role/currents-pull", true)
	out, errOut, code = runCmd(t, "doctor", "--registry", reg.Host())
	if code != 1 {
		t.Fatalf("doctor with a refused role: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"FAIL  assume-role", "AccessDenied", "fix: ", "SKIP  ecr-token", "check(s) failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := runCmd(t, "doctor", "--format", "yaml"); code == 0 {
		t.Error("an unknown --format was accepted")
	}

	// doctor ran the helper as docker would; the external ID, given on stdin to configure, is in no argv.
	argv, err := os.ReadFile(argvLog(t))
	if err != nil || !strings.Contains(string(argv), "docker-credential-currents version") {
		t.Fatalf("doctor did not run the helper (%v): %q", err, argv)
	}
	if strings.Contains(string(argv), doctorExternalID) {
		t.Errorf("the external ID reached a process's argv:\n%s", argv)
	}
}

func TestDoctorWithNothingConfigured(t *testing.T) {
	setupHome(t)
	_, errOut, code := runCmd(t, "doctor")
	if code == 0 || !strings.Contains(errOut, "no registry is configured") || !strings.Contains(errOut, "configure --registry") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// Harden, defect 4: with a currents.yaml that does not parse and no credHelpers entry in config.json,
// doctor found no registry and said only "no registry is configured", hiding the file's problem. Its report
// now fails currents-yaml naming the file, the key and the fix, and docker-config saying what config.json lacks.
func TestDoctorReportsABadCurrentsYAMLWhenNothingIsConfigured(t *testing.T) {
	dir := setupHome(t)
	yamlPath := filepath.Join(dir, "currents.yaml")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(yamlPath, []byte("registries:\n  - host: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n    rolearn: arn:aws:iam::123456789012:role/pull\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}\n"), 0o600)
	out, errOut, code := runCmd(t, "doctor")
	if code != 1 {
		t.Fatalf("doctor: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"FAIL  currents-yaml", yamlPath, "rolearn", "FAIL  docker-config", "no credHelpers entry naming docker-credential-currents", "fix: "} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s%s", want, out, errOut)
		}
	}
	out, _, _ = runCmd(t, "doctor", "--format", "json")
	var res struct {
		OK      bool            `json:"ok"`
		Reports []doctor.Report `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK || len(res.Reports) != 1 || res.Reports[0].OK() {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
}
