// Command currents-plugin is the `docker currents` CLI plugin. docker runs
// its front, docker-currents, which execs it from beside itself (its name
// keeps docker from taking it for a plugin of its own). Installed as
// docker-compose by `docker currents shim install`, it is the compose shim.
package main

import (
	"os"

	"github.com/currentsdev/currents/internal/plugincmd"
	"github.com/currentsdev/currents/internal/shim"
	"github.com/currentsdev/currents/internal/startup"
)

func main() {
	startup.Done()
	if shim.Runs() {
		os.Exit(shim.Main(plugincmd.Main))
	}
	os.Exit(plugincmd.Main())
}
