// Command docker-currents is the `docker currents` CLI plugin. Install it in
// ~/.docker/cli-plugins (or any cliPluginsExtraDirs entry). Installed as
// docker-compose by `docker currents shim install`, it is the compose shim.
package main

import (
	"os"

	"github.com/currentsdev/currents/internal/plugincmd"
	"github.com/currentsdev/currents/internal/shim"
)

func main() {
	if shim.Runs() {
		os.Exit(shim.Main(plugincmd.Main))
	}
	os.Exit(plugincmd.Main())
}
