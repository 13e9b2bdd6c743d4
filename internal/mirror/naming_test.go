package mirror

import (
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"registry.example.com/currents":   "registry.example.com/currents/",
		"registry.example.com/currents/":  "registry.example.com/currents/",
		"127.0.0.1:5000/mirror/currents/": "127.0.0.1:5000/mirror/currents/",
		"localhost/x":                     "localhost/x/",
	} {
		got, err := ParsePrefix(in)
		if err != nil || string(got) != want {
			t.Errorf("ParsePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"https://registry.example.com/x/": "without a scheme",
		"currents/":                       "start with a registry host",
		"registry.example.com/Currents/":  "not a valid",
	} {
		if _, err := ParsePrefix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePrefix(%q) err = %v, want %q", in, err, want)
		}
	}
}

func TestRehome(t *testing.T) {
	from := "513558712013.dkr.ecr.us-east-1.amazonaws.com/currents/on-prem/"
	to := Prefix("registry.example.com/currents/")
	cases := []struct{ image, want string }{
		{from + "api:staging", "registry.example.com/currents/api:staging"},
		{from + "change-streams:2024.1", "registry.example.com/currents/change-streams:2024.1"},
		{from + "api", "registry.example.com/currents/api:latest"},
		{from + "api@sha256:" + strings.Repeat("a", 64), "registry.example.com/currents/api@sha256:" + strings.Repeat("a", 64)},
	}
	for _, c := range cases {
		got, err := Rehome(c.image, from, to)
		if err != nil || got.Name() != c.want {
			t.Errorf("Rehome(%q) = %v, %v; want %s", c.image, got, err, c.want)
		}
	}
	if _, err := Rehome("other.example.com/api:1", from, to); err == nil {
		t.Error("image outside from accepted")
	}
}

func TestPlanOnly(t *testing.T) {
	p := &Plan{To: "mirror.example/currents/", Copies: []Image{{Name: "api"}, {Name: "writer,webhooks"}, {Name: "director"}}}
	got := p.Only("webhooks", "api")
	if len(got.Copies) != 2 || got.Copies[0].Name != "api" || got.Copies[1].Name != "writer,webhooks" || got.To != p.To {
		t.Fatalf("Only: %+v", got.Copies)
	}
	if len(p.Copies) != 3 {
		t.Fatal("Only changed the plan")
	}
	if n := len(p.Only("nope").Copies); n != 0 {
		t.Fatalf("Only(nope): %d copies", n)
	}
}
