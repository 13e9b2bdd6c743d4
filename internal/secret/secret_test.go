package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := New("hunter2-very-secret")
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})).Debug("x", "s", s, "group", slog.GroupValue(slog.Any("inner", s)))
	j, _ := json.Marshal(struct{ S Value }{s})
	jl := bytes.Buffer{}
	slog.New(slog.NewJSONHandler(&jl, nil)).Info("x", "s", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), fmt.Sprintf("%v", struct{ S Value }{s}),
		fmt.Sprintf("%+v", &struct{ S Value }{s}), logs.String(), string(j), jl.String(), fmt.Errorf("wrapped: %v", s).Error()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no redaction marker: %s", out)
		}
	}
	if s.Reveal() != "hunter2-very-secret" || s.IsZero() || !New("").IsZero() {
		t.Error("Reveal/IsZero")
	}
}

func TestKeyIDShowsTheLastFour(t *testing.T) {
	for id, want := range map[string]string{
		"AKIAIOSFODNN7EXAMPLE": "****************MPLE",
		"ABCD":                 "****",
		"":                     "****",
	} {
		if got := KeyID(id); got != want {
			t.Errorf("KeyID(%q) = %q, want %q", id, got, want)
		}
	}
}
