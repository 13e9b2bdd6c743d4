package configure

import "testing"

func TestDiffShowsHunksWithContextAndRedacts(t *testing.T) {
	before := "a\nb\nc\n\"password\": \"hunter2\",\nd\ne\nx\nf\ng\nh\n"
	after := "a\nb\nc\nd\ne\nx\nf\ng\nh2\n"
	got := Diff("f", []byte(before), []byte(after))
	want := "--- f\n+++ f (after)\n@@ -2,5 +2,4 @@\n b\n c\n-\"password\": \"[redacted]\",\n d\n e\n@@ -8,3 +7,3 @@\n f\n g\n-h\n+h2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
