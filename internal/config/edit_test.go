package config

import (
	"strings"
	"testing"
)

const commented = `# Vendor stack pulls. Ask ops before editing.
timeout: 20s
registries:
  # production images
  - host: 111111111111.dkr.ecr.eu-west-1.amazonaws.com
    role_arn: arn:aws:iam::111111111111:role/pull # vendor gave us this
    external_id: old-id
  - host: mirror.example.com
    account: "012345678901"
    region: us-east-1
`

func TestUpsertAddsAnEntryKeepingOthersAndComments(t *testing.T) {
	spec := EntrySpec{Host: "127.0.0.1:5000", Account: "222222222222", Region: "us-west-2", RoleARN: "arn:aws:iam::222222222222:role/ecr-pull", ExternalID: "ext-1"}
	out, err := Upsert([]byte(commented), "currents.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"# Vendor stack pulls. Ask ops before editing.", "# production images", "# vendor gave us this", "timeout: 20s",
		"external_id: old-id", `account: "012345678901"`, "- host: 127.0.0.1:5000", `account: "222222222222"`, "role_arn: arn:aws:iam::222222222222:role/ecr-pull"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	c, err := Parse("currents.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Registries) != 3 || c.Registries[2].ExternalID != "ext-1" || c.Registries[0].ExternalID != "old-id" {
		t.Fatalf("entries: %+v", c.Registries)
	}
	again, err := Upsert(out, "currents.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != s {
		t.Errorf("a second upsert changed the file:\n%s", again)
	}
}

func TestUpsertReplacesAnEntryExactly(t *testing.T) {
	spec := EntrySpec{Host: "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com/", RoleARN: "arn:aws:iam::111111111111:role/pull-v2", Profile: "vendor"}
	out, err := Upsert([]byte(commented), "currents.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("currents.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Registries[0]
	if e.RoleARN != "arn:aws:iam::111111111111:role/pull-v2" || e.ExternalID != "" || e.Profile != "vendor" || len(c.Registries) != 2 {
		t.Fatalf("entry: %+v", e)
	}
	if !strings.Contains(string(out), "# vendor gave us this") || !strings.Contains(string(out), "# production images") {
		t.Errorf("comments lost:\n%s", out)
	}
}

func TestUpsertCreatesAFile(t *testing.T) {
	out, err := Upsert(nil, "currents.yaml", EntrySpec{Host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", RoleARN: "arn:aws:iam::123456789012:role/r"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# currents.yaml: which IAM role docker-credential-currents assumes for which registry.\n" +
		"# Written by `docker-credential-currents configure`; edit freely. Keys: see README.md.\n" +
		"registries:\n  - host: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n    role_arn: arn:aws:iam::123456789012:role/r\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestUpsertRejectsWhatParseRejects(t *testing.T) {
	_, err := Upsert(nil, "/etc/currents.yaml", EntrySpec{Host: "127.0.0.1:5000", RoleARN: "arn:aws:iam::123:role/x"})
	if err == nil || !strings.Contains(err.Error(), "/etc/currents.yaml") || !strings.Contains(err.Error(), "role_arn") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Upsert([]byte("registries: [\n"), "c.yaml", EntrySpec{Host: "x.dkr.ecr.us-east-1.amazonaws.com"}); err == nil {
		t.Fatal("broken YAML accepted")
	}
}
