package configure

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadExternalID reads a one-line secret from path, or from in for "-": the first line, surrounding blanks
// removed, so `echo ID > file` and editors' trailing newlines work.
func ReadExternalID(in io.Reader, path string) (string, error) {
	var data []byte
	var err error
	from := path
	if path == "-" {
		from = "stdin"
		data, err = io.ReadAll(io.LimitReader(in, 64<<10))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s holds no external ID (its first line is empty)", from)
	}
	return line, nil
}
