package cliflags

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func flags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringArrayP("file", "f", nil, "")
	fs.BoolP("detach", "d", false, "")
	fs.BoolP("quiet", "q", false, "")
	fs.String("progress", "", "")
	return fs
}

func TestNext(t *testing.T) {
	fs := flags()
	cases := []struct {
		args  string
		name  string
		value string
		n     int
	}{
		{"--file x y", "file", "x", 2},
		{"--file=x y", "file", "x", 1},
		{"-f x", "file", "x", 2},
		{"-fx", "file", "x", 1},
		{"-f=x", "file", "x", 1},
		{"-d x", "detach", "true", 1},
		{"-dq x", "detach", "true", 1},
		{"--detach x", "detach", "true", 1},
		{"--file", "", "", 0}, // missing value: for the real command to reject
		{"--unknown x", "", "", 0},
		{"-z", "", "", 0},
		{"api", "", "", 0},
		{"-- -f x", "", "", 0},
	}
	for _, c := range cases {
		f, v, n := Next(fs, strings.Fields(c.args))
		name := ""
		if f != nil {
			name = f.Name
		}
		if n != c.n || (n > 0 && (name != c.name || v != c.value)) {
			t.Errorf("Next(%q) = %s %q %d, want %s %q %d", c.args, name, v, n, c.name, c.value, c.n)
		}
	}
}

func TestSplit(t *testing.T) {
	flagArgs, rest := Split(flags(), strings.Fields("-f a.yaml --progress plain --unknown -d up -f b.yaml api"))
	if want := strings.Fields("-f a.yaml --progress plain --unknown -d"); !reflect.DeepEqual(flagArgs, want) {
		t.Errorf("flags %q, want %q", flagArgs, want)
	}
	if want := strings.Fields("up -f b.yaml api"); !reflect.DeepEqual(rest, want) {
		t.Errorf("rest %q, want %q", rest, want)
	}
}
