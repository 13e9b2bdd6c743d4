// Command docker-currents is the `docker currents` CLI plugin. Install it in
// ~/.docker/cli-plugins (or any cliPluginsExtraDirs entry).
package main

import (
	"os"

	"github.com/currentsdev/currents/internal/plugincmd"
)

func main() { os.Exit(plugincmd.Main()) }
