// Package exitcode holds the exit statuses the plugin's programs share, in
// one place: the full plugin, its front and the compose shim (which runs the
// check in a child and must know what its status means) return them. It
// imports nothing, so the front and the shim may link it.
package exitcode

const (
	// Usage is a bad flag or argument, as docker's own commands exit for one.
	Usage = 125
	// CannotRun is a program found but not runnable (its exec failed), as a
	// shell says.
	CannotRun = 126
	// Interrupted is a run stopped by a signal (Ctrl-C, SIGTERM) before its
	// verdict, as a shell reports a command ended by SIGINT (128+2).
	Interrupted = 130
)
