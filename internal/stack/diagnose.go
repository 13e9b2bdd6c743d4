package stack

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// diagnose fills svc.Variables, svc.Ref and svc.Diagnostics from the raw and
// interpolated image. Compose only warns about an unset variable and
// substitutes an empty string; here that is an error naming the variable and
// the file, because the image it produces is never the one meant.
func diagnose(svc *Service, env environment) {
	if svc.Kind == BuildOnly && svc.Image == "" {
		return
	}
	at := svc.Source.String()
	seen := map[string]bool{}
	for _, u := range uses(svc.Raw, env) {
		v := u.v
		if !seen[v.Name] {
			seen[v.Name] = true
			svc.Variables = append(svc.Variables, v)
		}
		switch {
		case v.Modifier == ":+" || v.Modifier == "+":
			// ${X:+alt} substitutes only when X is set: absence is intended.
		case !v.Set && !v.HasDefault:
			svc.Diagnostics = append(svc.Diagnostics, Diagnostic{
				Severity: Error, Code: CodeUnsetVariable,
				Message: fmt.Sprintf("variable %s used in the image at %s is not set; compose would substitute an empty string, giving %q", v.Name, at, svc.Image),
				Fix:     fmt.Sprintf("set %s (in %s or in the environment)", v.Name, envFileHint(env)),
			})
		case v.Set && v.Value == "" && v.Modifier != ":-":
			svc.Diagnostics = append(svc.Diagnostics, Diagnostic{
				Severity: Error, Code: CodeEmptyVariable,
				Message: fmt.Sprintf("variable %s used in the image at %s is empty (set at %s), giving %q", v.Name, at, v.Origin, svc.Image),
				Fix:     fmt.Sprintf("give %s a value at %s", v.Name, v.Origin),
			})
		default:
			if d, ok := missingSlash(svc, u, env); ok {
				svc.Diagnostics = append(svc.Diagnostics, d)
			}
		}
	}
	for _, d := range svc.Diagnostics {
		if d.Severity == Error {
			// The interpolated reference is not the one meant; parsing it
			// would only add noise.
			return
		}
	}

	ref, err := name.ParseReference(svc.Image)
	if err != nil {
		svc.Diagnostics = append(svc.Diagnostics, Diagnostic{
			Severity: Error, Code: CodeInvalidReference,
			Message: fmt.Sprintf("%q (at %s) is not a valid image reference: %v", svc.Image, at, err),
			Fix:     "write the image as [registry/]repository[:tag|@digest], lowercase, with a non-empty tag",
		})
		return
	}
	svc.Ref = ref
	if tag, ok := ref.(name.Tag); ok && tag.TagStr() == "latest" && !hasExplicitTag(svc.Image) {
		svc.Diagnostics = append(svc.Diagnostics, Diagnostic{
			Severity: Warning, Code: CodeImplicitLatest,
			Message: fmt.Sprintf("%q has no tag, so docker pulls :latest, which moves under you", svc.Image),
			Fix:     "pin a tag (e.g. " + svc.Image + ":<version>) or a digest",
		})
	}
}

// hasExplicitTag reports whether the reference string carries a tag or a
// digest; a colon in the registry's host:port does not count.
func hasExplicitTag(image string) bool {
	if strings.Contains(image, "@") {
		return true
	}
	last := image[strings.LastIndex(image, "/")+1:]
	return strings.Contains(last, ":")
}

// missingSlash spots `${REPO}api` where REPO holds a registry path without
// its trailing slash (the vendor's .env says "include trailing slash"): the
// value looks like a registry path, ends in a letter or digit, and a name
// follows it directly.
func missingSlash(svc *Service, u use, env environment) (Diagnostic, bool) {
	v := u.v
	val := v.Value
	if !v.Set || val == "" {
		val = v.Default
	}
	if val == "" || u.end >= len(svc.Raw) || !isAlnum(svc.Raw[u.end]) || !isAlnum(val[len(val)-1]) {
		return Diagnostic{}, false
	}
	if !strings.ContainsAny(val, "/.:") {
		return Diagnostic{}, false
	}
	meant := substitute(svc.Raw, env, map[string]string{v.Name: val + "/"})
	where := "in the environment"
	if v.Origin.Kind == FromEnvFile && v.Origin.Location.File != "" {
		where = "at " + v.Origin.String()
	}
	return Diagnostic{
		Severity: Warning, Code: CodeMissingSlash,
		Message: fmt.Sprintf("%s=%s has no trailing slash, so the image became %q; %q was probably meant", v.Name, val, svc.Image, meant),
		Fix:     fmt.Sprintf("add a trailing slash to %s (set %s=%s/ %s)", v.Name, v.Name, val, where),
	}, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// envFileHint names the .env file a user would edit.
func envFileHint(env environment) string {
	for i := len(env.passes) - 1; i >= 0; i-- {
		if p := env.passes[i]; len(p) > 0 {
			return displayPath(p[len(p)-1])
		}
	}
	return ".env"
}
