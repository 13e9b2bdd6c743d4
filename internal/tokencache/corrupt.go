package tokencache

import (
	"encoding/json"
	"errors"
	"fmt"
)

// CorruptError is a cache file that exists but holds no entry this version
// reads: cut short, edited, or another version's. A get treats it as empty
// and replaces it; status says so.
type CorruptError struct {
	Path   string
	Reason string // what is wrong, never the file's content
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is not a usable cache file (%s); the next get replaces it", e.Path, e.Reason)
}

// LoadChecked is Load, and says when the identity's file is there but does not
// decode (a *CorruptError): what status shows rather than an empty entry
// alone. A missing or refused file (said in the log) is an empty entry.
func (c *Cache) LoadChecked(id Identity) (*Entry, error) {
	if c.broken != nil {
		return &Entry{}, nil
	}
	p := c.path(id)
	data, ok := c.readFile(p)
	if !ok {
		return &Entry{}, nil
	}
	e, err := decode(data)
	if err != nil {
		reason := "an entry of another version, or an incomplete one"
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) { // truncated input is one too
			reason = "not valid JSON: cut short or edited"
		}
		return &Entry{}, &CorruptError{Path: p, Reason: reason}
	}
	return e, nil
}
