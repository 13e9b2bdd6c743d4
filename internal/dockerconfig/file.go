package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/currentsdev/currents/internal/atomicfile"
)

// File is config.json in memory: the bytes as read, and the bytes as edited so far. Edits splice the JSON text
// (tidwall/sjson, gjson offsets) instead of decoding and re-encoding it, so keys that docker or other tools own —
// and keys nobody here has heard of — keep their bytes and their order.
type File struct {
	path   string // as the caller named it; used in messages, and the backup goes beside it
	exists bool
	orig   []byte
	data   []byte
	// removed are the hosts whose static logins RemoveAuth took out: the backup must not keep them.
	removed []string
}

// Load reads config.json at path. A missing file or an empty one is an empty configuration, as it is for
// docker; Save creates it with mode 0600. Malformed JSON is an error that names the file and the position.
// A symlinked file is read where it lives, as Save writes it (atomicfile.ReadFile: only through links this
// user controls, and never a FIFO or a device, which would block or never end).
func Load(path string) (*File, error) {
	f := &File{path: path}
	data, exists, err := atomicfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("docker config %s: %w", path, err)
	}
	if !exists {
		f.data = []byte{}
		return f, nil
	}
	if err := validate(path, data); err != nil {
		return nil, err
	}
	f.exists = true
	f.orig = data
	f.data = bytes.Clone(data)
	return f, nil
}

// validate accepts what docker accepts for config.json: a JSON object, or nothing at all.
func validate(path string, data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var root map[string]json.RawMessage
	err := json.Unmarshal(data, &root)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fmt.Errorf("docker config %s: invalid JSON at line %d, column %d: %v; "+
			"fix the file or move it aside (nothing was changed)", path, line, col, syn)
	case errors.As(err, &typ):
		return fmt.Errorf("docker config %s: the file must hold a JSON object, found a JSON %s; "+
			"fix the file or move it aside (nothing was changed)", path, typ.Value)
	case err != nil:
		return fmt.Errorf("docker config %s: %v (nothing was changed)", path, err)
	case root == nil:
		return fmt.Errorf("docker config %s: the file must hold a JSON object, found null; "+
			"fix the file or move it aside (nothing was changed)", path)
	}
	return nil
}

// position turns a byte offset into a 1-based line and column, for humans with an editor.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// Path is the path the file was loaded from.
func (f *File) Path() string { return f.path }

// Exists reports whether the file existed when it was loaded.
func (f *File) Exists() bool { return f.exists }

// Bytes returns the content with every edit so far applied.
func (f *File) Bytes() []byte { return f.data }

// Original returns the content as it was loaded (empty for a missing file).
func (f *File) Original() []byte { return f.orig }

// Changed reports whether the edits so far differ from what is on disk. Save writes nothing when they do not.
func (f *File) Changed() bool { return !bytes.Equal(f.data, f.orig) || (!f.exists && len(f.data) > 0) }

// Save replaces the file with the edited content: a temporary file in the same directory, written and
// fsynced, given the old file's mode and owner, then renamed over it; the directory is fsynced too. A
// symlinked config.json is written where the link points, as docker does, even when the link dangles. The
// previous bytes go to path+BackupSuffix (beside the path as named) the same way — without the logins
// RemoveAuth took out: removing a saved password must not leave it in the backup. When nothing changed it
// writes nothing and returns "". It returns the backup path ("" when the file did not exist before).
//
// If the file changed on disk since Load (another tool wrote it), Save refuses rather than lose that write;
// holding atomicfile.Lock(path) from before Load makes writers that take it wait for each other instead.
func (f *File) Save() (backup string, err error) {
	if !f.Changed() {
		return "", nil
	}
	var opts []atomicfile.Option
	if len(f.removed) > 0 {
		prev := &File{path: f.path, exists: f.exists, orig: f.orig, data: bytes.Clone(f.orig)}
		for _, h := range f.removed {
			if err := prev.RemoveAuth(h); err != nil {
				return "", err
			}
		}
		opts = append(opts, atomicfile.Backup(prev.data))
	}
	backup, err = atomicfile.Replace(f.path, f.orig, f.exists, f.data, 0o600, opts...)
	if err != nil {
		return "", fmt.Errorf("docker config %s: %w", f.path, err)
	}
	f.orig = bytes.Clone(f.data)
	f.exists = true
	f.removed = nil
	return backup, nil
}
