// Package logging sets up the helpers' logger.
// tokens and keys out of logs, errors and JSON.
//
// Docker shows a credential helper's stderr to the user, so logs go there and
// default to warn: a healthy `get` prints nothing.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// EnvLevel names the variable that sets the log level: debug, info, warn or error.
const EnvLevel = "CURRENTS_LOG"

// Level parses a CURRENTS_LOG value. Unknown or empty values mean warn, because a
// typo in a log setting must never break `docker pull`.
func Level(v string) slog.Level {
	l, _ := parse(v)
	return l
}

// parse reads a level as slog writes it (debug, info, warn, error, any case, with
// an optional offset such as debug-4), plus "warning"; ok is false for anything
// else, which means warn.
func parse(v string) (l slog.Level, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "warning") {
		return slog.LevelWarn, true
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelWarn, false
	}
	return l, true
}

// New returns a text logger writing to w at the given level. Every record carries
// the program name so that lines from the lean and the AWS binary can be told apart
// when docker interleaves them.
func New(w io.Writer, level slog.Level, program string) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("prog", program)
}

// FromEnv returns the logger for a helper binary: stderr, level from CURRENTS_LOG.
// A value it does not know is said once, at warn, so a typo does not pass for
// a quiet helper.
//
// The handler is made on the first record that passes the level: a warm get
// logs nothing, and making it (slog's text handler with the program's name
// preformatted) is a measurable part of that get's time.
func FromEnv(program string) *slog.Logger {
	v := os.Getenv(EnvLevel)
	level := Level(v)
	l := slog.New(&lazy{level: level, make: func() slog.Handler { return New(os.Stderr, level, program).Handler() }})
	if !known(v) {
		l.Warn(EnvLevel+" is not a level: use debug, info, warn or error", "value", v)
	}
	return l
}

func known(v string) bool {
	_, ok := parse(v)
	return ok
}

// Discard is a logger that drops everything; the zero value for options.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// lazy is a handler made on first use.
type lazy struct {
	level slog.Level
	once  sync.Once
	make  func() slog.Handler
	h     slog.Handler
}

func (l *lazy) handler() slog.Handler {
	l.once.Do(func() { l.h = l.make() })
	return l.h
}

func (l *lazy) Enabled(_ context.Context, level slog.Level) bool { return level >= l.level }

func (l *lazy) Handle(ctx context.Context, r slog.Record) error { return l.handler().Handle(ctx, r) }

func (l *lazy) WithAttrs(as []slog.Attr) slog.Handler { return l.handler().WithAttrs(as) }

func (l *lazy) WithGroup(name string) slog.Handler { return l.handler().WithGroup(name) }
