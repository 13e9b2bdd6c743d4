package plugincmd

import (
	"reflect"
	"testing"
)

func TestGlobalArgs(t *testing.T) {
	cases := map[string]struct{ in, want []string }{
		"none":          {[]string{"currents", "up", "-d"}, []string{}},
		"config":        {[]string{"--config", "/x", "currents", "up"}, []string{"--config", "/x"}},
		"named plugin":  {[]string{"--config", "currents", "--context", "prod", "currents", "up"}, []string{"--config", "currents", "--context", "prod"}},
		"flag=value":    {[]string{"--context=prod", "-D", "currents", "up"}, []string{"--context=prod", "-D"}},
		"not a plugin?": {[]string{"up"}, nil},
	}
	for name, c := range cases {
		if got := globalArgs(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
