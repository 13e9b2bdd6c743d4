// Package fix gives errors one way to say what to do about them. An error
// that knows its fix implements Fixer; every renderer (the helper's line on
// stderr, doctor's FAIL row, check's report and JSON) takes the problem and
// the fix apart with Split instead of parsing messages.
//
// It links only the standard library: the lean helper's errors use it.
package fix

import (
	"errors"
	"fmt"
	"strings"
)

// Fixer is an error that says what to do about it. Its Error() is the
// problem followed by "; " and the fix, the one line a plain renderer shows.
type Fixer interface {
	error
	// Problem is the error without its fix.
	Problem() string
	// Fix is what to do, in one line; "" when there is nothing to add.
	Fix() string
}

// Error pairs an error with its fix.
type Error struct {
	Err  error
	Hint string
}

// New returns err with fix attached; a nil err stays nil.
func New(err error, fix string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: fix}
}

// Errorf is New with a formatted problem.
func Errorf(fix, format string, args ...any) error {
	return &Error{Err: fmt.Errorf(format, args...), Hint: fix}
}

func (e *Error) Error() string   { return Join(e.Err.Error(), e.Hint) }
func (e *Error) Problem() string { return e.Err.Error() }
func (e *Error) Fix() string     { return e.Hint }
func (e *Error) Unwrap() error   { return e.Err }

// Join is how a problem and its fix read on one line.
func Join(problem, fix string) string {
	if fix == "" {
		return problem
	}
	return problem + "; " + fix
}

// Split returns err's message without its fix, and the fix of the first
// Fixer in err's chain ("" when none has one). Context wrapped around the
// Fixer ("registry X: ...") stays in the problem.
func Split(err error) (problem, fix string) {
	if err == nil {
		return "", ""
	}
	msg := err.Error()
	var f Fixer
	if !errors.As(err, &f) || f.Fix() == "" {
		return msg, ""
	}
	fix = f.Fix()
	if p, ok := strings.CutSuffix(msg, "; "+fix); ok {
		return p, fix
	}
	// The fix sits inside the message (more context was wrapped after it):
	// show the whole message and the fix again, rather than lose either.
	return msg, fix
}
