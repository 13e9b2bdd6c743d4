package testbin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadmeSection is the module's README.md under heading (a whole line, such
// as "## Install"), up to the next heading of its level or above; lines in
// fenced code blocks are never headings. Tests that hold the README to the
// product read it through here, so "a section" means one thing.
func ReadmeSection(t testing.TB, heading string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no heading %q", heading)
	}
	level := strings.IndexByte(heading, ' ')
	var section strings.Builder
	fenced := false
	for line := range strings.Lines(after) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if !fenced && headingLevel(line) > 0 && headingLevel(line) <= level {
			break
		}
		section.WriteString(line)
	}
	return section.String()
}

// headingLevel is the level of a Markdown ATX heading line, 0 for any other.
func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || n > 6 || !strings.HasPrefix(line[n:], " ") {
		return 0
	}
	return n
}
