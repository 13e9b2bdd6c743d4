// Command docker-currents is what docker finds in a cli-plugins directory
// for `docker currents`: the plugin's small front (package front), which
// answers docker's metadata question itself and execs the full plugin,
// currents-plugin, installed beside it, for everything else. Install both
// in ~/.docker/cli-plugins (or any cli-plugins directory docker searches).
package main

import (
	"os"

	"github.com/currentsdev/currents/internal/front"
)

func main() { os.Exit(front.Main()) }
