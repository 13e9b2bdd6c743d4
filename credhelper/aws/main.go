// Command docker-credential-currents-aws is the AWS half of the credential
// helper: docker-credential-currents runs it when the cache cannot answer and
// execs it for every command other than the protocol's.
package main

import (
	"os"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/helpercmd"
	"github.com/currentsdev/currents/internal/version"
)

func main() {
	credentials.Name = helpercmd.CommandName
	credentials.Version = version.Version
	os.Exit(helpercmd.Execute(os.Args[1:]))
}
