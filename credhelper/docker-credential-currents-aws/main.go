// Command docker-credential-currents-aws is the AWS half of the credential
// helper: docker-credential-currents runs it when the cache cannot answer and
// execs it for every command other than the protocol's.
package main

import (
	"os"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/currentsdev/currents/internal/credhelpercmd"
	"github.com/currentsdev/currents/internal/product"
	"github.com/currentsdev/currents/internal/refresh"
)

func main() {
	credentials.Name = product.HelperCommand
	credentials.Version = product.Version
	credentials.Package = product.Module
	// It marks this start (refresh.EnvStartedAs), not the starts of what this runs.
	os.Unsetenv(refresh.EnvStartedAs)
	os.Exit(credhelpercmd.Execute(os.Args[1:]))
}
