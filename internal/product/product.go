// Package product holds the names this project is known by, in one place: the
// commands users type, the binaries installed, the name config.json's
// credHelpers uses, the environment variable prefix, and the build's version.
package product

// Version is overwritten at link time (the Makefile's -ldflags); "dev" marks
// an unversioned `go build`.
var Version = "dev"

const (
	// Module is the Go module path, printed by `version` so it is not
	// mistaken for docker's own package.
	Module = "github.com/currentsdev/currents"

	// HelperName is what config.json's credHelpers names: docker runs
	// "docker-credential-" + HelperName.
	HelperName = "currents"
	// HelperCommand is the credential helper as users and docker run it: the
	// lean binary.
	HelperCommand = "docker-credential-" + HelperName
	// AWSHelperCommand is the helper's AWS half, installed beside it.
	AWSHelperCommand = HelperCommand + "-aws"
	// EnvAWSHelper overrides where the lean binary finds its AWS half.
	EnvAWSHelper = "CURRENTS_AWS_HELPER"
	// EnvLockFD tells the AWS half which inherited descriptor is the cache
	// lock the lean binary took for it.
	EnvLockFD = "CURRENTS_LOCK_FD"
	// EnvStartedAs marks a process started as the AWS half, with the path it
	// was started from: a lean binary that finds it in its own environment
	// was started in the AWS binary's place (CURRENTS_AWS_HELPER naming the
	// lean binary, or the AWS binary a copy of it or a link to it), and would
	// start itself again without end. The AWS binary unsets it, so what it
	// runs is not taken for such a start.
	EnvStartedAs = "CURRENTS_STARTED_AS_AWS_HELPER"

	// PluginName is the docker CLI plugin's command: `docker currents`.
	PluginName = "currents"
	// PluginCommand is the plugin's binary name in a cli-plugins directory:
	// its front, a small binary that answers docker's metadata question itself
	// and execs PluginFullCommand for everything else.
	PluginCommand = "docker-" + PluginName
	// PluginFullCommand is the plugin itself, installed beside its front. The
	// docker CLI takes only "docker-" names in a cli-plugins directory for
	// plugins, so it never lists or runs this one.
	PluginFullCommand = PluginName + "-plugin"

	// ComposePluginCommand is docker compose's plugin binary, the name the
	// opt-in compose shim takes in a directory docker searches first.
	ComposePluginCommand = "docker-compose"

	// CacheDirName names the directory under XDG_CACHE_HOME (and
	// XDG_STATE_HOME) that holds this project's files.
	CacheDirName = "currents"
)
