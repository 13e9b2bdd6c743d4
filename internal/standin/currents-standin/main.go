// Command currents-standin runs the local STS + ECR stand-in and its
// ECR-auth registry front until SIGINT or SIGTERM, for `make demo` and the
// end-to-end tier. `currents-standin -h` lists the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/currentsdev/currents/internal/standin/process"
)

func main() {
	var cfg process.Config
	fs := flag.NewFlagSet("currents-standin", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "currents-standin: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := process.Run(ctx, cfg, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "currents-standin:", err)
		os.Exit(1)
	}
}
