package mirror

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Prefix is a mirror destination as the user writes it: REGISTRY/PATH/, the
// exact value the repository variable takes afterwards.
type Prefix string

// ParsePrefix checks that REGISTRY/PREFIX/ names a registry and a repository
// path, and adds the trailing slash the vendor's variable needs (seed 000:
// "include trailing slash").
func ParsePrefix(s string) (Prefix, error) { return ParsePrefixFlag("--to", s) }

// ParsePrefixFlag is ParsePrefix for a command whose flag has another name
// (watch's --mirror-to); its errors name that flag.
func ParsePrefixFlag(flag, s string) (Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		return "", fmt.Errorf("%s %q: write the registry without a scheme, e.g. registry.example.com/currents/", flag, s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	host, _, _ := strings.Cut(s, "/")
	if host == "" || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return "", fmt.Errorf("%s %q: start with a registry host, e.g. registry.example.com/currents/ (a bare name would mean Docker Hub)", flag, s)
	}
	// A probe repository proves the whole prefix is a valid repository path.
	if _, err := name.NewRepository(s+"x", name.StrictValidation); err != nil {
		return "", fmt.Errorf("%s %q: not a valid registry/repository prefix (lowercase letters, digits, '.', '_', '-' and '/'): %v", flag, s, err)
	}
	return Prefix(s), nil
}

// Registry is the prefix's registry host.
func (p Prefix) Registry() string {
	h, _, _ := strings.Cut(string(p), "/")
	return h
}

// Rehome names the copy of image under the prefix. from is the part of the
// image to replace: the value of the repository variable the image is written
// with (so that setting the variable to the prefix afterwards yields exactly
// the copy), or the stack's common prefix. The tag or digest stays.
func Rehome(image, from string, to Prefix) (name.Reference, error) {
	if !strings.HasPrefix(image, from) {
		return nil, fmt.Errorf("image %q does not start with %q", image, from)
	}
	rest := image[len(from):]
	if rest == "" {
		return nil, fmt.Errorf("image %q is nothing but its prefix", image)
	}
	s := string(to) + rest
	ref, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		// StrictValidation refuses an implicit tag; the check warns about
		// `latest` already, so accept it here.
		ref, err = name.ParseReference(s)
		if err != nil {
			return nil, fmt.Errorf("mirror name %q for %q: %v", s, image, err)
		}
	}
	return ref, nil
}
