package logging

import (
	"log/slog"
	"testing"
)

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
