package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// The keys of config.json this package edits. Everything else is left byte for byte.
const (
	keyCredHelpers = "credHelpers"
	keyAuths       = "auths"
	keyPluginDirs  = "cliPluginsExtraDirs"
)

// CredHelper returns the helper registered for host under credHelpers ("currents" for ours), under whatever
// spelling of the host the entry uses.
func (f *File) CredHelper(host string) (string, bool) {
	ch, ok, err := f.member(f.root(), keyCredHelpers)
	if err != nil || !ok || !ch.IsObject() {
		return "", false
	}
	_, v, ok, err := f.hostMember(ch, host)
	if err != nil || !ok || v.Type != gjson.String {
		return "", false
	}
	return v.Str, true
}

// hostMember finds host's member of obj: the key spelled exactly as host, else the first that names the same
// registry (SameHost).
func (f *File) hostMember(obj gjson.Result, host string) (string, gjson.Result, bool, error) {
	if v, ok, err := f.member(obj, host); err != nil || ok {
		return host, v, ok, err
	}
	var key string
	var found gjson.Result
	obj.ForEach(func(k, v gjson.Result) bool {
		if SameHost(k.Str, host) {
			key, found = k.Str, v
			return false
		}
		return true
	})
	return key, found, found.Exists(), nil
}

// CredsStore returns the credsStore value ("desktop", "osxkeychain", …), or "".
func (f *File) CredsStore() string {
	v, ok, err := f.member(f.root(), "credsStore")
	if err != nil || !ok {
		return ""
	}
	return v.String()
}

// SetCredHelper registers helper for host under credHelpers, creating the object if needed. Registering the
// same helper again changes nothing; an entry for the host under another spelling is the one set.
func (f *File) SetCredHelper(host, helper string) error {
	root := f.root()
	ch, ok, err := f.member(root, keyCredHelpers)
	if err != nil {
		return err
	}
	if !ok {
		return f.insertMember(root, keyCredHelpers, f.newContainer(root, '{', quote(host)+f.style().colon+quote(helper)))
	}
	if !ch.IsObject() {
		return f.typeError(keyCredHelpers, "an object")
	}
	key, v, ok, err := f.hostMember(ch, host)
	if err != nil {
		return err
	}
	if !ok {
		return f.insertMember(ch, host, quote(helper))
	}
	if v.Type == gjson.String && v.Str == helper {
		return nil
	}
	return f.sjsonSet(keyCredHelpers+"."+escapePath(key), helper)
}

// RemoveCredHelper drops host from credHelpers, under every spelling. An emptied credHelpers object is dropped
// too, so registering and then removing leaves the file as it was.
func (f *File) RemoveCredHelper(host string) error {
	for {
		ch, ok, err := f.member(f.root(), keyCredHelpers)
		if err != nil || !ok {
			return err
		}
		if !ch.IsObject() {
			return f.typeError(keyCredHelpers, "an object")
		}
		key, _, ok, err := f.hostMember(ch, host)
		if err != nil || !ok {
			return err
		}
		if err := f.sjsonDelete(keyCredHelpers + "." + escapePath(key)); err != nil {
			return err
		}
		if err := f.dropIfEmpty(keyCredHelpers); err != nil {
			return err
		}
	}
}

// PluginsExtraDirs returns cliPluginsExtraDirs in order.
func (f *File) PluginsExtraDirs() []string {
	arr, ok, err := f.member(f.root(), keyPluginDirs)
	if err != nil || !ok || !arr.IsArray() {
		return nil
	}
	var dirs []string
	for _, e := range arr.Array() {
		dirs = append(dirs, e.String())
	}
	return dirs
}

// PrependPluginsExtraDir puts dir first in cliPluginsExtraDirs, where the docker CLI looks for plugins before
// its default directories. A dir already first changes nothing; one further down is moved to the front.
func (f *File) PrependPluginsExtraDir(dir string) error {
	root := f.root()
	arr, ok, err := f.member(root, keyPluginDirs)
	if err != nil {
		return err
	}
	if !ok {
		return f.insertMember(root, keyPluginDirs, f.newContainer(root, '[', quote(dir)))
	}
	if !arr.IsArray() {
		return f.typeError(keyPluginDirs, "an array")
	}
	elems := f.elements(arr)
	if len(elems) > 0 && elems[0].Type == gjson.String && elems[0].Str == dir {
		return nil
	}
	if err := f.removeFromArray(dir); err != nil {
		return err
	}
	arr, _, _ = f.member(f.root(), keyPluginDirs)
	elems = f.elements(arr)
	if len(elems) == 0 {
		f.fillEmpty(arr, quote(dir))
		return nil
	}
	lead := string(f.data[arr.Index+1 : elems[0].Index])
	f.splice(arr.Index+1, arr.Index+1, lead+quote(dir)+",")
	return nil
}

// RemovePluginsExtraDir removes every occurrence of dir from cliPluginsExtraDirs, and the key itself once it
// is empty.
func (f *File) RemovePluginsExtraDir(dir string) error {
	arr, ok, err := f.member(f.root(), keyPluginDirs)
	if err != nil || !ok {
		return err
	}
	if !arr.IsArray() {
		return f.typeError(keyPluginDirs, "an array")
	}
	before := len(f.elements(arr))
	if err := f.removeFromArray(dir); err != nil {
		return err
	}
	arr, _, _ = f.member(f.root(), keyPluginDirs)
	if n := len(f.elements(arr)); n == 0 && before > 0 {
		return f.dropIfEmpty(keyPluginDirs)
	}
	return nil
}

// removeFromArray splices dir out of cliPluginsExtraDirs, together with one separator and the whitespace
// that led to it, so prepend-then-remove restores the exact bytes.
func (f *File) removeFromArray(dir string) error {
	for {
		arr, ok, err := f.member(f.root(), keyPluginDirs)
		if err != nil || !ok {
			return err
		}
		elems := f.elements(arr)
		i := -1
		for j, e := range elems {
			if e.Type == gjson.String && e.Str == dir {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			return nil
		case len(elems) == 1:
			f.splice(arr.Index+1, closeIndex(arr), "")
		case i == 0:
			f.splice(elems[0].Index, elems[1].Index, "")
		default:
			f.splice(end(elems[i-1]), end(elems[i]), "")
		}
	}
}

// dropIfEmpty deletes a top-level object or array that has no members left.
func (f *File) dropIfEmpty(key string) error {
	v, ok, err := f.member(f.root(), key)
	if err != nil || !ok {
		return err
	}
	if len(f.elements(v)) > 0 {
		return nil
	}
	if err := f.sjsonDelete(escapePath(key)); err != nil {
		return err
	}
	// A document we emptied goes back to "{}" rather than "{\n}".
	root := f.root()
	if len(f.elements(root)) == 0 && root.Exists() {
		f.splice(root.Index+1, closeIndex(root), "")
	}
	return nil
}

// ---- reading positions ----

// root returns the top-level object with Index and Raw exact (gjson.Parse leaves out the leading whitespace
// from Index and keeps the trailing whitespace in Raw).
func (f *File) root() gjson.Result {
	i := len(f.data) - len(bytes.TrimLeft(f.data, " \t\r\n"))
	if i == len(f.data) {
		return gjson.Result{}
	}
	r := gjson.ParseBytes(f.data[i:])
	r.Raw = strings.TrimRight(r.Raw, " \t\r\n")
	r.Index = i
	return r
}

// member finds key in obj. A key that appears twice is an error: docker would silently use the last one.
func (f *File) member(obj gjson.Result, key string) (gjson.Result, bool, error) {
	var found gjson.Result
	n := 0
	obj.ForEach(func(k, v gjson.Result) bool {
		if k.Str == key {
			found = v
			n++
		}
		return true
	})
	if n > 1 {
		return gjson.Result{}, false, fmt.Errorf("docker config %s: key %q appears %d times; docker uses only the last, remove the others", f.path, key, n)
	}
	return found, n == 1, nil
}

// membersOf gives, in file order, the members of the top-level object key
// (none when it is absent, not an object or given twice) for which keep holds.
func (f *File) membersOf(key string, keep func(k, v gjson.Result) bool) (keys []string, values []gjson.Result) {
	obj, ok, err := f.member(f.root(), key)
	if err != nil || !ok || !obj.IsObject() {
		return nil, nil
	}
	obj.ForEach(func(k, v gjson.Result) bool {
		if keep(k, v) {
			keys, values = append(keys, k.Str), append(values, v)
		}
		return true
	})
	return keys, values
}

// elements returns the values of an object or array, with absolute Index.
func (f *File) elements(v gjson.Result) []gjson.Result {
	var out []gjson.Result
	v.ForEach(func(_, e gjson.Result) bool {
		out = append(out, e)
		return true
	})
	return out
}

func (f *File) typeError(key, want string) error {
	return fmt.Errorf("docker config %s: %q must be %s; fix it by hand (nothing was changed)", f.path, key, want)
}

// ---- writing ----

// style is how the file lays out its top-level members, so what we add looks like what was there.
type style struct {
	multiline bool
	unit      string // one level of indentation
	colon     string // between a key and its value: ": " or ":"
	nl        string // "\n", or "\r\n" in a file written on Windows
}

func (f *File) style() style {
	root := f.root()
	if !root.Exists() {
		return style{multiline: true, unit: "\t", colon: ": ", nl: "\n"} // the layout docker itself writes
	}
	var firstKey, firstVal gjson.Result
	root.ForEach(func(k, v gjson.Result) bool {
		firstKey, firstVal = k, v
		return false
	})
	if !firstVal.Exists() {
		return style{multiline: true, unit: "\t", colon: ": ", nl: "\n"}
	}
	lead := string(f.data[root.Index+1 : firstKey.Index])
	s := style{colon: string(f.data[firstKey.Index+len(firstKey.Raw) : firstVal.Index]), nl: "\n"}
	if strings.Contains(lead, "\r\n") {
		s.nl = "\r\n"
	}
	if nl := strings.LastIndexByte(lead, '\n'); nl >= 0 {
		s.multiline = true
		s.unit = strings.TrimPrefix(lead[nl+1:], lineIndent(f.data, root.Index))
		if s.unit == "" {
			s.unit = "\t"
		}
	}
	return s
}

// newContainer renders a fresh object or array holding one member, to become a member of parent.
func (f *File) newContainer(parent gjson.Result, open byte, member string) string {
	closer := map[byte]string{'{': "}", '[': "]"}[open]
	s := f.style()
	if !s.multiline {
		return string(open) + member + closer
	}
	indent := lineIndent(f.data, parent.Index) + s.unit
	return string(open) + s.nl + indent + s.unit + member + s.nl + indent + closer
}

// insertMember appends "key": raw as the last member of obj, copying the separator and colon spacing of the
// member before it.
func (f *File) insertMember(obj gjson.Result, key, raw string) error {
	if !obj.Exists() { // blank file: start from the layout docker writes
		f.data = []byte("{}\n")
		obj = f.root()
	}
	var lastKey, lastVal gjson.Result
	obj.ForEach(func(k, v gjson.Result) bool {
		lastKey, lastVal = k, v
		return true
	})
	if !lastVal.Exists() {
		s := f.style()
		f.fillEmpty(obj, quote(key)+s.colon+raw)
		return nil
	}
	sep := bytes.LastIndexAny(f.data[:lastKey.Index], ",{")
	lead := string(f.data[sep+1 : lastKey.Index])
	colon := string(f.data[lastKey.Index+len(lastKey.Raw) : lastVal.Index])
	f.splice(end(lastVal), end(lastVal), ","+lead+quote(key)+colon+raw)
	return nil
}

// fillEmpty puts a single member into an empty object or array.
func (f *File) fillEmpty(v gjson.Result, member string) {
	s := f.style()
	if !s.multiline {
		f.splice(v.Index+1, closeIndex(v), member)
		return
	}
	indent := lineIndent(f.data, v.Index)
	f.splice(v.Index+1, closeIndex(v), s.nl+indent+s.unit+member+s.nl+indent)
}

func (f *File) splice(from, to int, text string) {
	out := make([]byte, 0, len(f.data)-(to-from)+len(text))
	out = append(out, f.data[:from]...)
	out = append(out, text...)
	out = append(out, f.data[to:]...)
	f.data = out
}

func (f *File) sjsonSet(path, value string) error {
	out, err := sjson.SetBytes(f.data, path, value)
	if err == nil && !json.Valid(out) {
		err = errBadEdit
	}
	if err != nil {
		return fmt.Errorf("docker config %s: %w", f.path, err)
	}
	f.data = out
	return nil
}

// errBadEdit: sjson mishandles some keys that need JSON escaping (found by
// fuzzing: a key starting with a quote, in an indented file). Such an edit is
// refused rather than written, and a delete that changes nothing would make
// RemoveCredHelper loop.
var errBadEdit = errors.New("a key here needs escaping that cannot be edited safely; edit the file by hand")

func (f *File) sjsonDelete(path string) error {
	out, err := sjson.DeleteBytes(f.data, path)
	if err == nil && (!json.Valid(out) || bytes.Equal(out, f.data)) {
		err = errBadEdit
	}
	if err != nil {
		return fmt.Errorf("docker config %s: %w", f.path, err)
	}
	f.data = out
	return nil
}

// escapePath makes a key (a hostname with dots, a port, brackets…) one sjson path component: every byte that
// gjson's path syntax might read as an operator gets a backslash.
func escapePath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		safe := c > '~' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !safe {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// quote renders s as a JSON string (strconv.Quote would emit Go escapes that JSON does not have).
func quote(s string) string { return string(gjson.AppendJSONString(nil, s)) }

func end(v gjson.Result) int { return v.Index + len(v.Raw) }

// closeIndex is the offset of the closing bracket of an object or array.
func closeIndex(v gjson.Result) int { return v.Index + len(strings.TrimRight(v.Raw, " \t\r\n")) - 1 }

// lineIndent returns the spaces and tabs that start the line holding offset i.
func lineIndent(data []byte, i int) string {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	j := start
	for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
		j++
	}
	return string(data[start:j])
}

// CredHelperHosts lists, in file order, the hosts credHelpers sends to helper.
func (f *File) CredHelperHosts(helper string) []string {
	hosts, _ := f.membersOf(keyCredHelpers, func(_, v gjson.Result) bool { return v.Type == gjson.String && v.Str == helper })
	return hosts
}
