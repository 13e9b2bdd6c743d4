package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2-very-secret")
	var logs bytes.Buffer
	New(&logs, slog.LevelDebug, "test").Debug("x", "s", s, "group", slog.GroupValue(slog.Any("inner", s)))
	j, _ := json.Marshal(struct{ S Secret }{s})
	jl := bytes.Buffer{}
	slog.New(slog.NewJSONHandler(&jl, nil)).Info("x", "s", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), fmt.Sprintf("%v", struct{ S Secret }{s}),
		fmt.Sprintf("%+v", &struct{ S Secret }{s}), logs.String(), string(j), jl.String(), fmt.Errorf("wrapped: %v", s).Error()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no redaction marker: %s", out)
		}
	}
	if s.Reveal() != "hunter2-very-secret" || s.IsZero() || !NewSecret("").IsZero() {
		t.Error("Reveal/IsZero")
	}
}

func TestLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, " error ": slog.LevelError, "": slog.LevelWarn, "verbose": slog.LevelWarn} {
		if got := Level(in); got != want {
			t.Errorf("Level(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestUnknownLevelIsSaid(t *testing.T) {
	for v, want := range map[string]bool{"dbug": true, "debug": false, "": false, "WARNING": false} {
		if got := !known(v); got != want {
			t.Errorf("%s=%q: reported %v, want %v", EnvLevel, v, got, want)
		}
	}
}
