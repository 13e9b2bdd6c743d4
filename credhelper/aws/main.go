// Placeholder until its owner lands the real command.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "not implemented yet")
	os.Exit(2)
}
