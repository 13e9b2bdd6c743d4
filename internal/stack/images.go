package stack

import (
	"errors"
	"fmt"
	"strings"
)

// Image is a service that pulls an image, with what a command that rehomes
// images (mirror) or names their repositories (policy) needs to know about
// how its reference is written.
type Image struct {
	Service
	// From is the part of the image a mirror prefix replaces: the value of
	// RepoVar, so that setting the variable to the prefix afterwards yields
	// exactly the copy, or else the prefix the stack's images written
	// without such a variable share.
	From string
}

// Images are the services that pull an image, in stack order. An image
// reference with an error (see Diagnostics) stops them all: none of them is
// worth copying or naming in a policy until `docker currents check` passes.
func (st *Stack) Images() ([]Image, error) {
	var out []Image
	var bad []string
	for _, s := range st.Services {
		if s.Kind != Pulled {
			continue
		}
		for _, d := range s.Diagnostics {
			if d.Severity == Error {
				bad = append(bad, fmt.Sprintf("%s: %s (%s)", s.Name, d.Message, d.Fix))
			}
		}
		if s.Ref == nil {
			continue
		}
		im := Image{Service: s}
		if v := s.Variable(s.RepoVar); v != nil {
			im.From = v.Value
		}
		out = append(out, im)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("fix the image references first (see `docker currents check`):\n  %s", strings.Join(bad, "\n  "))
	}
	if len(out) == 0 {
		return nil, errors.New("the project has no service that pulls an image")
	}
	// Images written without a variable are rehomed below their common prefix.
	var plain []string
	for _, im := range out {
		if im.RepoVar == "" {
			plain = append(plain, im.Image)
		}
	}
	common := CommonPrefix(plain)
	for k := range out {
		if out[k].RepoVar == "" {
			out[k].From = common
		}
	}
	return out, nil
}

// BuiltLocally names the services compose builds instead of pulling.
func (st *Stack) BuiltLocally() []string {
	var out []string
	for _, s := range st.Services {
		if s.Kind == BuildOnly {
			out = append(out, s.Name)
		}
	}
	return out
}

// Variable is the variable of that name used in the service's image, nil
// when there is none (name "" included).
func (s Service) Variable(name string) *Variable {
	for k := range s.Variables {
		if name != "" && s.Variables[k].Name == name {
			return &s.Variables[k]
		}
	}
	return nil
}

// CommonPrefix is the longest "/"-ended prefix every image shares: the
// registry path they live under. A tag or digest never counts as shared
// path, and every image keeps at least its last repository component, so
// with one image it is the image's path up to that component.
func CommonPrefix(images []string) string {
	if len(images) == 0 {
		return ""
	}
	p := repository(images[0])
	for _, im := range images[1:] {
		r := repository(im)
		for !strings.HasPrefix(r, p) {
			p = p[:len(p)-1]
		}
	}
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return ""
}

// repository cuts the tag or digest off an image reference.
func repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}
