package mirror

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var sample = []Result{
	{Name: "api", Target: "m/api:1", Status: Copied, Digest: "sha256:" + strings.Repeat("a", 64), SourceDigest: "sha256:" + strings.Repeat("b", 64),
		Blobs: 7, CopiedBlobs: 5, CopiedBytes: 5 << 20, SkippedBytes: 2 << 20, Filtered: true, Platforms: []string{"linux/amd64"}},
	{Name: "writer", Target: "m/writer:1", Status: Present, Digest: "sha256:" + strings.Repeat("c", 64), SkippedBytes: 3 << 20},
	{Name: "webhooks", Target: "m/webhooks:1", Status: Failed, Error: "webhooks: target m/webhooks:1: write blob: denied", Err: errors.New("x")},
}

func TestBarsDrawBytesBlobsAndTheEndState(t *testing.T) {
	var buf bytes.Buffer
	b := NewBars(&buf, []string{"api", "writer", "webhooks"})
	b.Planned(0, 7, 7<<20)
	b.Blob(0, 2<<20, false)
	b.Streamed(0, 5<<20)
	b.Blob(0, 5<<20, true)
	b.Finished(1, sample[1])
	b.Finished(0, sample[0])
	b.Finished(2, sample[2])
	b.Close()
	out := buf.String()
	for _, want := range []string{"\x1b[3A", "copied  sha256:aaaaaaaaaaaa  5/7 blobs, 5.24MB copied, 2.1MB skipped", "already present, checked  sha256:cccccccccccc", "failed: webhooks: target"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
}

func TestTableAndJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sample); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"SERVICE", "present (checked)", "TOTAL                                             5.24MB  5.24MB", "note: api keeps only linux/amd64", "error: webhooks: target"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := WriteJSON(&buf, Report{To: "m/", Images: sample}); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.CopiedBytes != 5<<20 || rep.SkippedBytes != 5<<20 || rep.Images[2].Error == "" {
		t.Errorf("%+v", rep)
	}
}
