package configure

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// secretLine matches lines whose value is a credential or confidential (config.json's logins, currents.yaml's
// external ID); diffs show them redacted.
var secretLine = regexp.MustCompile(`^(\s*(?:"(?:auth|password|identitytoken|registrytoken)"\s*:|(?:-\s+)?external_id\s*:)\s*)(?:"[^"]*"|\S.*)`)

// Diff is a unified diff of one file with two lines of context, credentials redacted; "" when before and
// after are equal.
func Diff(path string, before, after []byte) string {
	if bytes.Equal(before, after) {
		return ""
	}
	redact := func(b []byte) []string {
		lines := splitLines(b)
		for i, l := range lines {
			lines[i] = secretLine.ReplaceAllString(l, `$1"[redacted]"`) + "\n"
		}
		return lines
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: redact(before), B: redact(after), FromFile: path, ToFile: path + " (after)", Context: 2,
	})
	if err != nil { // only a failing writer makes difflib fail, and a strings.Builder does not
		return err.Error() + "\n"
	}
	if text == "" {
		// Only a redacted value differs; say so rather than show an empty diff.
		return fmt.Sprintf("--- %s\n+++ %s (after)\n(only a redacted value changes, such as external_id; not shown)\n", path, path)
	}
	return text
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
