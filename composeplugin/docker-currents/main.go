// Command docker-currents is the `docker currents` CLI plugin. Install it in
// ~/.docker/cli-plugins (or any cliPluginsExtraDirs entry). Installed as
// docker-compose by `docker currents shim install`, it is the compose shim.
package main

import (
	"os"

	"github.com/currentsdev/currents/internal/plugincmd"
)

func main() {
	if plugincmd.RunsAsComposeShim() {
		os.Exit(plugincmd.ShimMain())
	}
	os.Exit(plugincmd.Main())
}
