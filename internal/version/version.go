// Package version holds the build's version string, set by the Makefile's -ldflags.
package version

// Version is overwritten at link time; "dev" marks an unversioned `go build`.
var Version = "dev"
