package configure

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxExternalID is the longest external ID AWS accepts (sts:AssumeRole's ExternalId: 2 to 1,224 characters).
const MaxExternalID = 1224

// ReadExternalID reads a one-line secret from path, or from in for "-": the first line, surrounding blanks
// removed, so `echo ID > file` and editors' trailing newlines work. It reads no more than a first line can
// hold, so a wrong path (/dev/zero, a log, a device) is refused at once instead of read to the end.
func ReadExternalID(in io.Reader, path string) (string, error) {
	from := path
	if path == "-" {
		from = "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		in = f
	}
	// Room for the longest ID with blanks around it and a CRLF; more without a newline is not an ID.
	const limit = MaxExternalID + 1024
	data, err := io.ReadAll(io.LimitReader(in, limit))
	if err != nil {
		return "", err
	}
	line, _, found := bytes.Cut(data, []byte("\n"))
	if !found && len(data) == limit {
		return "", fmt.Errorf("%s: its first line is longer than %d characters, the most an external ID can be; give the file that holds only the ID", from, MaxExternalID)
	}
	id := strings.TrimSpace(string(line))
	switch {
	case id == "":
		return "", fmt.Errorf("%s holds no external ID (its first line is empty)", from)
	case len(id) > MaxExternalID:
		return "", fmt.Errorf("%s: its first line is %d characters long, longer than the %d an external ID can be; give the file that holds only the ID", from, len(id), MaxExternalID)
	}
	return id, nil
}
