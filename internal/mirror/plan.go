package mirror

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/currentsdev/currents/internal/stack"
)

// Plan is how a stack's images go under a mirror prefix.
type Plan struct {
	To Prefix
	// Tag, when set, is mirrored for every image whose tag is a variable.
	Tag string
	// Copies are one per distinct source and target: services sharing an
	// image share the copy and are named together.
	Copies []Image
	// ComposeEdits are the services whose image no variable writes, with
	// the image line to use ("svc:  image: REF"): no env line can point them
	// at the mirror, the compose file must.
	ComposeEdits []string
	// Env are the variables to set so the stack resolves to the mirror,
	// sorted by name: the repository variables become the prefix and, with
	// a Tag, the tag variables the tag.
	Env []Assignment
	// Notes say where the plan departs from what was asked (--tag that
	// cannot apply to an image), for the user.
	Notes []string
}

// Assignment is one variable to set so the stack resolves to the mirror.
type Assignment struct {
	Name, Value string
	// Origin is where the variable is set now: only an env file can be
	// rewritten (the OS environment wins over it).
	Origin stack.Origin
}

// Where says where the assignment belongs, for people.
func (a Assignment) Where() string {
	if a.Origin.Kind == stack.FromEnvFile {
		return a.Origin.String()
	}
	return "now from " + a.Origin.String()
}

// NewPlan names the copy of every image under to (stack.Image.From is the
// part replaced), applying tag to the images whose tag is a variable. A tag
// no image can take is an error, returned with the plan's notes: the stack
// could never use that mirror.
func NewPlan(images []stack.Image, to Prefix, tag string) (*Plan, error) {
	p := &Plan{To: to, Tag: tag}
	byKey := map[string]int{}
	retagged := 0
	for _, im := range images {
		source := im.Ref
		target, err := Rehome(im.Image, im.From, to)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", im.Name, err)
		}
		if tag != "" {
			var ok bool
			if source, target, ok = p.retag(im, source, target); ok {
				retagged++
			}
		}
		if im.RepoVar == "" && source.String() != target.String() {
			p.ComposeEdits = append(p.ComposeEdits, fmt.Sprintf("%s:  image: %s", im.Name, target))
		}
		key := source.String() + " " + target.String()
		if k, ok := byKey[key]; ok {
			p.Copies[k].Name += "," + im.Name
			continue
		}
		byKey[key] = len(p.Copies)
		p.Copies = append(p.Copies, Image{Name: im.Name, Source: source, Target: target})
	}
	if tag != "" && retagged == 0 {
		return &Plan{Notes: p.Notes}, fmt.Errorf("--tag %s: no image's tag is written with a variable, so the stack could never use a mirrored :%s; leave out --tag, or write the tags as ${VAR} in the compose file", tag, tag)
	}
	p.Env = assignments(images, to, tag)
	return p, nil
}

// retag reads and writes the plan's tag for an image whose tag is a
// variable; other images keep theirs, with a note.
func (p *Plan) retag(im stack.Image, source, target name.Reference) (name.Reference, name.Reference, bool) {
	_, byTag := source.(name.Tag)
	switch {
	case im.TagVar != "" && byTag:
		return source.Context().Tag(p.Tag), target.Context().Tag(p.Tag), true
	case byTag:
		p.Notes = append(p.Notes, fmt.Sprintf("%s: its tag is written literally (%s), so --tag does not apply; mirroring %s", im.Name, im.Raw, source))
	default:
		p.Notes = append(p.Notes, fmt.Sprintf("%s: pinned by digest, so --tag does not apply; mirroring %s", im.Name, source))
	}
	return source, target, false
}

// InMirror reports whether every image is already read from under the
// prefix: the stack uses the mirror.
func (p *Plan) InMirror() bool {
	for _, c := range p.Copies {
		if !strings.HasPrefix(c.Source.Context().String()+"/", string(p.To)) {
			return false
		}
	}
	return len(p.Copies) > 0
}

// Names are the copies' names, for progress.
func (p *Plan) Names() []string {
	names := make([]string, len(p.Copies))
	for i, c := range p.Copies {
		names[i] = c.Name
	}
	return names
}

func assignments(images []stack.Image, to Prefix, tag string) []Assignment {
	seen := map[string]bool{}
	var out []Assignment
	add := func(v *stack.Variable, value string) {
		if v == nil || seen[v.Name] || v.Value == value {
			return
		}
		seen[v.Name] = true
		out = append(out, Assignment{Name: v.Name, Value: value, Origin: v.Origin})
	}
	for _, im := range images {
		add(im.Variable(im.RepoVar), string(to))
		if tag != "" {
			add(im.Variable(im.TagVar), tag)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// validTag is the distribution spec's tag grammar (go-containerregistry
// checks the characters but lets a leading '.' or '-' through).
var validTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })

// ParseTag checks a --tag value.
func ParseTag(s string) error {
	if s != "" && !validTag().MatchString(s) {
		return fmt.Errorf("--tag %q: not a valid tag (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')", s)
	}
	return nil
}

// ParsePlatforms reads --platform: "all" (or "") keeps every platform.
func ParsePlatforms(s string) ([]v1.Platform, error) {
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []v1.Platform
	for _, p := range strings.Split(s, ",") {
		pl, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil || pl.OS == "" || pl.Architecture == "" {
			return nil, fmt.Errorf("--platform %q: %q is not a platform; want all or os/arch[/variant], e.g. linux/amd64,linux/arm64", s, strings.TrimSpace(p))
		}
		out = append(out, *pl)
	}
	return out, nil
}
