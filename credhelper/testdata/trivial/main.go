// Command trivial is the benchmark floor for a warm `get`: a Go binary that
// reads the server URL from stdin and prints a credentials JSON, nothing else.
package main

import (
	"encoding/json"
	"io"
	"os"
	"strings"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{
		"ServerURL": strings.TrimSpace(string(in)), "Username": "AWS", "Secret": "not-a-secret",
	})
}
