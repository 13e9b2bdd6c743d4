package configure

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/currentsdev/currents/internal/config"
	"github.com/currentsdev/currents/internal/dockerconfig"
	"github.com/currentsdev/currents/internal/secret"
)

// diffs are the redacted diffs of both files. Each file's secrets are masked where parsing finds them
// (config.RedactText, dockerconfig.RedactText), and every secret value found in any of the four versions is
// masked again wherever else it appears (a comment, the other file): no layout of a line shows one.
func diffs(yamlPath string, oldYAML, newYAML []byte, jsonPath string, oldJSON, newJSON []byte) (yamlDiff, jsonDiff string) {
	var secrets []string
	redact := func(text []byte, by func([]byte) ([]byte, []string)) []byte {
		masked, values := by(text)
		secrets = append(secrets, values...)
		return masked
	}
	ya, yb := redact(oldYAML, config.RedactText), redact(newYAML, config.RedactText)
	ja, jb := redact(oldJSON, dockerconfig.RedactText), redact(newJSON, dockerconfig.RedactText)
	if !bytes.Equal(oldYAML, newYAML) {
		yamlDiff = Diff(yamlPath, ya, yb, secrets)
	}
	if !bytes.Equal(oldJSON, newJSON) {
		jsonDiff = Diff(jsonPath, ja, jb, secrets)
	}
	return yamlDiff, jsonDiff
}

// Diff is a unified diff of one file (its secrets masked already) with two lines of context, every
// occurrence of each of secrets masked too; a note when nothing but a masked value differs.
func Diff(path string, before, after []byte, secrets []string) string {
	// Longest first: a secret that holds another is masked whole.
	secrets = append([]string(nil), secrets...)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	redact := func(b []byte) []string {
		lines := splitLines(b)
		for i, l := range lines {
			for _, s := range secrets {
				if s != "" && s != secret.Mask {
					l = strings.ReplaceAll(l, s, secret.Mask)
				}
			}
			lines[i] = l + "\n"
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
