// Command docker-credential-currents-aws is the AWS half of the credential
// helper: docker-credential-currents runs it when the cache cannot answer and
// execs it for every command other than the protocol's.
package main

import (
	"os"
	"strconv"
	"syscall"

	"github.com/docker/docker-credential-helpers/credentials"
	"golang.org/x/sys/unix"

	"github.com/currentsdev/currents/internal/credhelpercmd"
	"github.com/currentsdev/currents/internal/product"
)

func main() {
	keepInheritedFiles()
	credentials.Name = product.HelperCommand
	credentials.Version = product.Version
	credentials.Package = product.Module
	// It marks this start (product.EnvStartedAs), not the starts of what this runs.
	os.Unsetenv(product.EnvStartedAs)
	os.Exit(credhelpercmd.Execute(os.Args[1:]))
}

// keepInheritedFiles makes every file this process inherited beyond stdio
// close on exec: the lean binary hands it a cache lock that way (the
// principal's, or the compile lock it holds while it compiles currents.yaml),
// and a process this one runs — a credential_process that leaves an agent
// behind — would otherwise hold that lock for as long as it lives, long
// after this process has exited.
func keepInheritedFiles() {
	if unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Kernels before 5.11: each open descriptor, as /proc lists them.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
