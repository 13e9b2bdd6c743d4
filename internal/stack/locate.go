package stack

import (
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// maxHops bounds the include and extends chains followed; compose-go
// rejects cycles itself, this only keeps a broken file from looping here.
const maxHops = 16

// imageAt is where a service's image is written, and the text written there.
type imageAt struct {
	Location
	written string
}

// locations are the services' image locations (imageLocations).
type locations map[string]imageAt

// of is where the image of service is written. written is the image as the
// load says it is written, before interpolation: a location whose text
// differs is not where the service's image comes from (the walk below can
// only follow what the files say), so the service then keeps the root file
// with no line rather than a wrong one. "" (not known) trusts the walk.
func (l locations) of(service, written string) Location {
	at, ok := l[service]
	if !ok || written != "" && at.written != written {
		return Location{}
	}
	return at.Location
}

// imageLocations finds, for each service, the file and line where its image
// is written, as compose merges: the root files in order (a later one
// overrides), each file's includes before its own services (the including
// file wins), and a service without an image of its own takes its extends
// base's.
//
// compose-go v2.16.2 keeps no file of origin in the project: its include and
// extends listeners report only the root files' declarations, with paths not
// yet resolved, and the files it reads go through no hook that says which
// file named them. So this follows the include: and extends.file paths
// written in the files, interpolated with compose-go's own template and the
// project's environment, and resolved as compose-go resolves them: relative
// to the load's working directory (the project directory, or an include's
// project_directory or first file's directory), and an extends base's own
// extends relative to the base's directory. A variable only an include's
// env_file sets, or a remote include, resolves to no file, and of's check of
// the written text keeps any miss from naming a wrong file.
func imageLocations(files []string, workingDir string, env types.Mapping) locations {
	w := walker{env: env, out: locations{}, docs: map[string]*yaml.Node{}}
	for _, f := range files {
		w.file(f, workingDir, 0)
	}
	return w.out
}

type walker struct {
	env  types.Mapping
	out  locations
	docs map[string]*yaml.Node // parsed files, nil when unreadable
}

// file records the image locations f gives its services; wd is the
// directory its relative include and extends paths are resolved from.
func (w *walker) file(f, wd string, hops int) {
	doc := w.doc(f)
	if doc == nil || hops > maxHops {
		return
	}
	for _, inc := range seq(mapValue(doc, "include")) {
		w.include(inc, wd, hops)
	}
	services := mapValue(doc, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(services.Content); i += 2 {
		if at, ok := w.image(f, wd, services.Content[i+1], 0); ok {
			w.out[services.Content[i].Value] = at
		}
	}
}

// include walks one include: entry, the short form (a path) or the long one
// (path: one or a list, later files overriding; project_directory:).
func (w *walker) include(inc *yaml.Node, wd string, hops int) {
	paths := []*yaml.Node{inc}
	var projectDir string
	if inc.Kind == yaml.MappingNode {
		paths = seq(mapValue(inc, "path"))
		if pd := mapValue(inc, "project_directory"); pd != nil {
			projectDir = w.path(wd, pd)
		}
	}
	var resolved []string
	for _, p := range paths {
		if r := w.path(wd, p); r != "" {
			resolved = append(resolved, r)
		}
	}
	if len(resolved) != len(paths) || len(resolved) == 0 {
		return
	}
	if projectDir == "" {
		projectDir = filepath.Dir(resolved[0])
	}
	for _, f := range resolved {
		w.file(f, projectDir, hops+1)
	}
}

// image is where service (written in file f) gets its image: its own
// image:, else its extends base's.
func (w *walker) image(f, wd string, service *yaml.Node, hops int) (imageAt, bool) {
	if img := scalar(mapValue(service, "image")); img != nil {
		return imageAt{Location{File: displayPath(f), Line: img.Line}, img.Value}, true
	}
	ext := mapValue(service, "extends")
	if ext == nil || hops > maxHops {
		return imageAt{}, false
	}
	base, baseFile, baseWd := scalar(ext), f, wd
	if ext.Kind == yaml.MappingNode {
		base = scalar(mapValue(ext, "service"))
		if file := mapValue(ext, "file"); file != nil {
			if baseFile = w.path(wd, file); baseFile == "" {
				return imageAt{}, false
			}
			baseWd = filepath.Dir(baseFile)
		}
	}
	if base == nil {
		return imageAt{}, false
	}
	return w.image(baseFile, baseWd, mapValue(mapValue(w.doc(baseFile), "services"), base.Value), hops+1)
}

// path interpolates a path written in a file and makes it absolute from wd;
// "" when it is not a plain local path.
func (w *walker) path(wd string, n *yaml.Node) string {
	n = scalar(n)
	if n == nil {
		return ""
	}
	p, err := template.Substitute(n.Value, func(name string) (string, bool) {
		v, ok := w.env[name]
		return v, ok
	})
	if err != nil || p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(wd, p)
	}
	return p
}

// doc is f's top-level mapping, parsed once; nil when f cannot be read.
func (w *walker) doc(f string) *yaml.Node {
	if d, ok := w.docs[f]; ok {
		return d
	}
	w.docs[f] = nil
	b, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	w.docs[f] = doc.Content[0]
	return doc.Content[0]
}

// seq is a sequence's items, or the node itself when it is a single value.
func seq(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.SequenceNode:
		return n.Content
	}
	return []*yaml.Node{n}
}

// scalar is n, an alias followed, when it is a scalar; nil otherwise.
func scalar(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return nil
	}
	return n
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
