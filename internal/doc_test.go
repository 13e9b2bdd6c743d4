package internal

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestTheMapNamesEveryPackage: doc.go's map has one line for each package
// directly below internal/, and no line for one that is gone.
func TestTheMapNamesEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^//\t([a-z0-9]+) +\S`)
	var mapped []string
	for _, m := range line.FindAllStringSubmatch(string(doc), -1) {
		mapped = append(mapped, m[1])
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var packages []string
	for _, e := range entries {
		if e.IsDir() && hasGo(t, e.Name()) {
			packages = append(packages, e.Name())
		}
	}
	for _, p := range packages {
		if !slices.Contains(mapped, p) {
			t.Errorf("internal/%s is not in doc.go's map", p)
		}
	}
	for _, m := range mapped {
		if !slices.Contains(packages, m) {
			t.Errorf("doc.go's map names %s, which is not a package below internal/", m)
		}
	}
	if len(packages) < 20 {
		t.Fatalf("found %d packages: %v", len(packages), packages)
	}
}

func hasGo(t *testing.T, dir string) bool {
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(files, func(f os.DirEntry) bool {
		return strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go")
	})
}
