package stack

import (
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/currentsdev/currents/internal/envfile"
)

// Variable is one variable used in an image reference and the value compose
// gave it.
type Variable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Set is false when neither the environment nor an env file defines it.
	Set bool `json:"set"`
	// Default is the `${NAME:-default}` fallback, if the reference has one.
	Default    string `json:"default,omitempty"`
	HasDefault bool   `json:"-"`
	// Modifier is the substitution operator (":-", "-", ":+", "+", ":?",
	// "?"), empty for a plain `${NAME}`.
	Modifier string `json:"-"`
	Origin   Origin `json:"origin"`
	// Part is the part of the reference the variable writes: "name" (the
	// registry and repository), "tag" (the tag or digest), or "" when it
	// writes the whole reference.
	Part string `json:"part,omitempty"`
}

// Parts of a reference a variable can write.
const (
	PartName = "name"
	PartTag  = "tag"
)

// OriginKind names where a variable's value came from.
type OriginKind string

const (
	FromEnvironment OriginKind = "environment"
	FromEnvFile     OriginKind = "env-file"
	FromUnset       OriginKind = "unset"
)

// Origin is where a variable's value came from: the OS environment (which
// always wins, as in compose) or an env file and its line.
type Origin struct {
	Kind OriginKind `json:"kind"`
	Location
	// Refs are the variables an env file line interpolates into the value
	// (`REPO=${REGISTRY:-default}/x/`), with where each came from: a value
	// "from .env:6" may really come from the environment.
	Refs []Ref `json:"refs,omitempty"`
}

// Ref is a variable used in an env file value.
type Ref struct {
	Name string `json:"name"`
	Set  bool   `json:"set"`
	// From says where its value came from, for people: "the environment",
	// ".env:3", or "unset" (the line's default, if any, applied).
	From string `json:"from"`
}

func (o Origin) String() string {
	switch o.Kind {
	case FromEnvFile:
		if o.File == "" {
			// compose-go does not say which file gave an included file's
			// variables (nor where compose set one itself).
			return "an env file compose does not name (an include's env_file, or the .env of an included file's directory)"
		}
		if len(o.Refs) > 0 {
			var refs []string
			for _, r := range o.Refs {
				if r.Set {
					refs = append(refs, r.Name+" from "+r.From)
				} else {
					refs = append(refs, r.Name+" unset")
				}
			}
			return o.Location.String() + " (using " + strings.Join(refs, ", ") + ")"
		}
		return o.Location.String()
	case FromEnvironment:
		return "the environment"
	default:
		return "nowhere (unset)"
	}
}

// environment answers where compose found each variable.
type environment struct {
	project types.Mapping
	// passes are the env files of each .env pass compose made, in order.
	// Within a pass later files win; across passes the first pass wins
	// (compose merges without overriding).
	passes [][]string
	// flat: do not trace the variables an env file value uses (one level
	// is shown, and a cycle A=${B}, B=${A} must end).
	flat bool
	// files caches each env file as read (nil: unreadable); a nil map
	// reads every time.
	files map[string]*envfile.File
	// origins caches origin's answers: a stack's services mostly share
	// their variables. A nil map finds each every time.
	origins map[string]Origin
	// looked are the variables as the interpolation of one service's image
	// looked them up (raws.lookups): for an image of an included file, the
	// project's environment plus the include's env file.
	looked map[string]lookup
}

// of is the environment the image written as raw was interpolated with,
// into image.
func (e environment) of(r *raws, raw, image string) environment {
	e.looked = r.lookups(raw, image)
	return e
}

// newEnvironment is the environment of a project loaded with these .env
// passes, its files read once and each variable's origin found once.
func newEnvironment(project types.Mapping, passes [][]string) environment {
	return environment{project: project, passes: passes, files: map[string]*envfile.File{}, origins: map[string]Origin{}}
}

func (e environment) lookup(name string) (string, bool) {
	if l, ok := e.looked[name]; ok {
		return l.value, l.set
	}
	v, ok := e.project[name]
	return v, ok
}

func (e environment) origin(name string) Origin {
	if _, inProject := e.project[name]; !inProject {
		if l := e.looked[name]; l.set {
			// Only an included file's env file sets it (an include adds
			// variables the project's environment does not have, never
			// replaces one); where, compose-go does not say.
			return Origin{Kind: FromEnvFile}
		}
	}
	if o, ok := e.origins[name]; ok {
		return o
	}
	o := Origin{Kind: FromEnvironment}
	if _, ok := os.LookupEnv(name); !ok {
		o = e.fileOrigin(name)
	}
	if e.origins != nil {
		e.origins[name] = o
	}
	return o
}

// fileOrigin is where the env files define name, ignoring the environment.
func (e environment) fileOrigin(name string) Origin {
	for _, pass := range e.passes {
		for i := len(pass) - 1; i >= 0; i-- {
			if line, text := e.definedAt(pass[i], name); line > 0 {
				o := Origin{Kind: FromEnvFile, Location: Location{File: displayPath(pass[i]), Line: line}}
				if !e.flat {
					o.Refs = e.refs(name, text)
				}
				return o
			}
		}
	}
	if _, ok := e.project[name]; ok {
		// Set by compose itself (PWD) or by an env file line we could not
		// place; still not the OS environment.
		return Origin{Kind: FromEnvFile}
	}
	return Origin{Kind: FromUnset}
}

// definedAt returns the 1-based line where file assigns name and that
// line's text, or 0: compose's own dotenv parser decides whether the file
// defines it (envfile), so comments and quoting follow compose's rules.
func (e environment) definedAt(file, name string) (int, string) {
	f, ok := e.files[file]
	if !ok {
		var err error
		if f, err = envfile.Read(file); err != nil {
			f = nil
		}
		if e.files != nil {
			e.files[file] = f
		}
	}
	if f == nil {
		return 0, ""
	}
	return f.Line(name)
}

// refs lists the variables an env file line interpolates, in order, each
// once, with where its own value came from (one level: enough to show
// that the environment steers a .env value).
func (e environment) refs(name, line string) []Ref {
	_, value, _ := strings.Cut(line, "=")
	if strings.HasPrefix(strings.TrimSpace(value), "'") {
		return nil // single quotes: no interpolation in .env
	}
	var out []Ref
	seen := map[string]bool{name: true}
	flat := environment{project: e.project, passes: e.passes, flat: true, files: e.files}
	for _, u := range uses(value, flat) {
		if seen[u.v.Name] {
			continue
		}
		seen[u.v.Name] = true
		r := Ref{Name: u.v.Name, Set: u.v.Set, From: "unset"}
		if _, ok := os.LookupEnv(u.v.Name); ok {
			r.From = "the environment"
		} else if u.v.Set {
			r.From = flat.fileOrigin(u.v.Name).Location.String()
		}
		out = append(out, r)
	}
	return out
}

// use is one occurrence of a variable in a raw string.
type use struct {
	v          Variable
	start, end int // byte offsets of the whole ${...} in the raw string
}

var identifier = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*`) })

// uses finds the variables in raw with compose-go's own pattern, so what
// counts as a variable here is what compose interpolates.
func uses(raw string, env environment) []use {
	p := template.DefaultPattern
	named, braced := p.SubexpIndex("named"), p.SubexpIndex("braced")
	var out []use
	matches := variableMatches(raw)
	tagAt := tagSeparator(raw, matches)
	for _, m := range matches {
		var expr string
		switch {
		case m[2*named] >= 0:
			expr = raw[m[2*named]:m[2*named+1]]
		case m[2*braced] >= 0:
			expr = raw[m[2*braced]:m[2*braced+1]]
		default:
			continue // escaped $$ or invalid, which compose rejects itself
		}
		nm := identifier().FindString(expr)
		v := Variable{Name: nm}
		rest := expr[len(nm):]
		for _, op := range []string{":-", ":+", ":?", "-", "+", "?"} {
			if strings.HasPrefix(rest, op) {
				v.Modifier = op
				if op == ":-" || op == "-" {
					v.Default, v.HasDefault = rest[len(op):], true
				}
				break
			}
		}
		v.Value, v.Set = env.lookup(nm)
		v.Origin = env.origin(nm)
		switch {
		case tagAt >= 0 && m[0] > tagAt:
			v.Part = PartTag
		case tagAt >= 0 || m[1] < len(raw):
			v.Part = PartName
		}
		out = append(out, use{v: v, start: m[0], end: m[1]})
	}
	return out
}

// variableMatches finds the variables of raw as compose-go's template
// does: with its pattern, which is greedy (in ${A:-x}b:${T} it takes
// everything up to the last brace), then cut, as compose's substitution
// cuts it, at the brace that closes the first one; the rest is scanned
// again. Each match is the pattern's submatch index slice.
func variableMatches(raw string) [][]int {
	p := template.DefaultPattern
	braced := p.SubexpIndex("braced")
	var out [][]int
	for pos := 0; pos < len(raw); {
		m := p.FindStringSubmatchIndex(raw[pos:])
		if m == nil {
			break
		}
		for k := range m {
			if m[k] >= 0 {
				m[k] += pos
			}
		}
		if m[2*braced] >= 0 {
			if end := closingBrace(raw[m[0]:m[1]]); end >= 0 && m[0]+end+1 < m[1] {
				m[1] = m[0] + end + 1
				m[2*braced+1] = m[1] - 1
				for k := 2*braced + 2; k < len(m); k++ {
					if m[k] > m[1] {
						m[k] = -1
					}
				}
			}
		}
		out = append(out, m)
		pos = max(m[1], m[0]+1)
	}
	return out
}

// closingBrace is compose-go's getFirstBraceClosingIndex: the index of the
// brace that closes the first "${", -1 when none does.
func closingBrace(s string) int {
	open := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '}':
			if open--; open == 0 {
				return i
			}
		case '{':
			open++
			i++
		}
	}
	return -1
}

// tagSeparator finds the ':' or '@' that starts the tag or digest in raw,
// reading only the literal text between variables; -1 when the literal text
// has none (the tag, if any, then comes from a variable).
func tagSeparator(raw string, vars [][]int) int {
	lit := []byte(raw)
	for _, m := range vars {
		for i := m[0]; i < m[1]; i++ {
			lit[i] = 'x'
		}
	}
	if i := strings.IndexByte(string(lit), '@'); i >= 0 {
		return i
	}
	slash := strings.LastIndexByte(string(lit), '/')
	if i := strings.IndexByte(string(lit[slash+1:]), ':'); i >= 0 {
		return slash + 1 + i
	}
	return -1
}

// substitute interpolates raw as compose does, with override replacing
// the value of some variables; used to show what an image would have been.
func substitute(raw string, env environment, override map[string]string) string {
	s, err := template.SubstituteWithOptions(raw, func(k string) (string, bool) {
		if v, ok := override[k]; ok {
			return v, true
		}
		return env.lookup(k)
	}, template.WithoutLogging)
	if err != nil {
		return raw
	}
	return s
}
