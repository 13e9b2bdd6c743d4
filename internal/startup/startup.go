// Package startup keeps the garbage collector out of the plugin's package
// initialisation.
//
// The plugin links compose-go, docker/cli and the AWS SDK, whose inits
// allocate about 4 MB (a JSON schema library compiles five metaschemas),
// just past the runtime's first 4 MB heap goal: a collection ran in the
// middle of every start, on the path of every `docker currents` command,
// to free almost nothing. This package has no imports but runtime/debug,
// so Go initialises it before any package that imports more (among
// packages ready at once, the spec takes them in import-path order, and
// this path sorts before those heavy ones); main calls Done first thing.
package startup

import "runtime/debug"

var percent = debug.SetGCPercent(-1)

// Done gives the collector back its setting (GOGC's, as the runtime read it).
func Done() { debug.SetGCPercent(percent) }
