package config

import (
	"strings"
	"testing"
)

// Harden, defect 2: configure --print masked an external ID only when it sat on a line of its own. Every
// layout YAML allows is masked where the value is, and the rest of the file is kept.
func TestRedactTextMasksEveryExternalID(t *testing.T) {
	text := "# registries of the vendor\n" +
		"registries:\n" +
		"  - {host: a.example.com, external_id: ext-flow-5d1e, region: us-east-1}\n" +
		"  - {\"external_id\": \"ext-q\\\"uoted-8a2b\", host: b.example.com}\n" +
		"  - host: c.example.com # née ç\n" +
		"    external_id: \"ext-escaped-\\x30f3c\" # from the vendor\n" +
		"  - host: d.example.com\n    external_id: &id ext-anchor-6e4d\n" +
		"  - host: e.example.com\n    external_id: *id\n" +
		"  - host: f.example.com\n    external_id: |-\n      ext-literal-1c9a\n      ext-literal-line-2\n    region: us-east-1\n" +
		"  - host: g.example.com\n    external_id: >\n      ext-folded-4a\n      ext-folded-4b\n" +
		"  - host: h.example.com\n    external_id: ext-plain-5a\n      ext-plain-5b\n" +
		"  - host: i.example.com\n    external_id: 'ext-single-''6c'''\n" +
		"  - {host: j.example.com, external_id: [ext-list-7a, ext-list-7b]}\n" +
		"  - host: k.example.com\n    external_id: é-ext-unicode-8d\n"
	masked, values := RedactText([]byte(text))
	out := string(masked)
	for _, s := range []string{"ext-flow-5d1e", `ext-q\"uoted-8a2b`, `ext-escaped-\x30f3c`, "ext-escaped-0f3c", "ext-anchor-6e4d",
		"ext-literal-1c9a", "ext-literal-line-2", "ext-folded-4a", "ext-folded-4b", "ext-plain-5a", "ext-plain-5b",
		"ext-single-", "6c", "ext-list-7a", "ext-list-7b", "ext-unicode-8d"} {
		if strings.Contains(out, s) {
			t.Errorf("%s shows:\n%s", s, out)
		}
	}
	for _, keep := range []string{"# registries of the vendor", "region: us-east-1}", "host: b.example.com}", "# née ç",
		"# from the vendor", "external_id: [redacted]\n  - host: e.example.com", "external_id: *id", "    region: us-east-1\n", "host: k.example.com"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%q is lost:\n%s", keep, out)
		}
	}
	for _, v := range []string{"ext-escaped-0f3c", `"ext-escaped-\x30f3c"`, "ext-plain-5a ext-plain-5b", "ext-literal-line-2"} {
		if !strings.Contains(strings.Join(values, "\n"), v) {
			t.Errorf("values lack %q: %q", v, values)
		}
	}
	if masked, values := RedactText([]byte("registries: [\n")); strings.Contains(string(masked), "registries") || values != nil {
		t.Errorf("text that is not YAML: %q %q", masked, values)
	}
}
