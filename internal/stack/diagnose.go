package stack

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
)

// diagnose fills svc.Variables, svc.Ref and svc.Diagnostics from the raw and
// interpolated image. Compose only warns about an unset variable and
// substitutes an empty string; here that is an error naming the variable and
// the file, because the image it produces is never the one meant.
func diagnose(svc *Service, env environment) {
	if svc.Image == "" && svc.Kind != Pulled {
		return
	}
	if d, ok := diagnosePlatform(svc, env); ok {
		svc.Diagnostics = append(svc.Diagnostics, d)
	}
	diagnoseVariables(svc, env)
	for _, d := range svc.Diagnostics {
		if d.Severity == Error {
			// The interpolated reference is not the one meant; parsing it
			// would only add noise.
			return
		}
	}
	diagnoseReference(svc)
}

// diagnoseVariables lists the variables of the raw image and what is wrong
// with each.
func diagnoseVariables(svc *Service, env environment) {
	at := svc.Source.String()
	seen := map[string]bool{}
	for _, u := range uses(svc.Raw, env) {
		v := u.v
		if !seen[v.Name] {
			seen[v.Name] = true
			svc.Variables = append(svc.Variables, v)
		}
		writesParts(svc, u)
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
			svc.Diagnostics = append(svc.Diagnostics, emptyVariable(svc, v, env))
		default:
			if d, ok := missingSlash(svc, u, env); ok {
				svc.Diagnostics = append(svc.Diagnostics, d)
			}
		}
	}
}

// diagnoseReference parses the interpolated image as docker will.
func diagnoseReference(svc *Service) {
	at := svc.Source.String()
	ref, err := name.ParseReference(svc.Image)
	if err != nil {
		d := Diagnostic{
			Severity: Error, Code: CodeInvalidReference,
			Message: fmt.Sprintf("%q (at %s) is not a valid image reference: %v", svc.Image, at, err),
			Fix:     "write the image as [registry/]repository[:tag|@digest], lowercase, with a non-empty tag",
		}
		if lower := lowercaseName(svc.Image); lower != svc.Image {
			if _, lerr := name.ParseReference(lower); lerr == nil {
				d.Message = fmt.Sprintf("%q (at %s) is not a valid image reference: repository names must be lowercase", svc.Image, at)
				d.Fix = fmt.Sprintf("write it in lowercase: %s", lower)
			}
		}
		svc.Diagnostics = append(svc.Diagnostics, d)
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

// writesParts notes the variable u when it writes the image's registry and
// path (the reference starts with it, the image with its value) or its whole
// tag (":" then the variable, at the end).
func writesParts(svc *Service, u use) {
	v := u.v
	if u.start == 0 && v.Value != "" && strings.HasPrefix(svc.Image, v.Value) {
		svc.RepoVar = v.Name
	}
	if v.Part == PartTag && u.end == len(svc.Raw) && u.start > 0 && svc.Raw[u.start-1] == ':' {
		svc.TagVar = v.Name
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
		where = "at " + v.Origin.Location.String()
	}
	return Diagnostic{
		Severity: Warning, Code: CodeMissingSlash,
		Message: fmt.Sprintf("%s has no trailing slash, so the image became %q; %q was probably meant", v.Name, svc.Image, meant),
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

// diagnosePlatform checks the platform compose will ask the engine for: the
// service's platform:, else DOCKER_DEFAULT_PLATFORM. A platform the engine
// cannot match (unparseable, or an OS or architecture that does not exist)
// fails every pull, so it is an error found before any request.
func diagnosePlatform(svc *Service, env environment) (Diagnostic, bool) {
	pl, where := svc.Platform, "platform: of service "+svc.Name
	if pl == "" {
		v, ok := env.lookup(defaultPlatformVar)
		if !ok || v == "" {
			return Diagnostic{}, false
		}
		pl, where = v, defaultPlatformVar+" (from "+env.origin(defaultPlatformVar).String()+")"
	}
	p, err := platforms.Parse(pl)
	if err == nil && knownOS[p.OS] && knownArch[p.Architecture] {
		return Diagnostic{}, false
	}
	d := Diagnostic{
		Severity: Error, Code: CodeInvalidPlatform,
		Message: fmt.Sprintf("%s is %q, which is not a platform docker can pull", where, pl),
		Fix:     "write it as os/arch[/variant], e.g. linux/amd64 or linux/arm64",
	}
	if err == nil {
		d.Message = fmt.Sprintf("%s is %q: %s is not an OS/architecture docker knows", where, pl, platforms.Format(p))
	}
	return d, true
}

// knownOS and knownArch are Go's GOOS and GOARCH values, the names OCI
// platforms use (after containerd's normalisation of x86_64, aarch64, …).
var (
	knownOS = set("aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd",
		"openbsd", "plan9", "solaris", "wasip1", "windows")
	knownArch = set("386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
		"ppc64le", "riscv64", "s390x", "wasm")
)

func set(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// emptyVariable explains a variable that is set but empty. Set empty in the
// OS environment it hides a value in .env, since the environment wins: the
// classic `export TAG=` left in a shell or a systemd unit.
func emptyVariable(svc *Service, v Variable, env environment) Diagnostic {
	d := Diagnostic{Severity: Error, Code: CodeEmptyVariable}
	at := svc.Source.String()
	if v.Origin.Kind != FromEnvironment {
		d.Message = fmt.Sprintf("variable %s used in the image at %s is set but empty at %s, giving %q", v.Name, at, v.Origin, svc.Image)
		d.Fix = fmt.Sprintf("give %s a value at %s", v.Name, v.Origin)
		return d
	}
	d.Message = fmt.Sprintf("variable %s used in the image at %s is set to an empty string in the environment, giving %q", v.Name, at, svc.Image)
	d.Fix = fmt.Sprintf("give %s a value, or unset it (unset %s) so compose reads it from %s", v.Name, v.Name, envFileHint(env))
	if file := env.fileOrigin(v.Name); file.Kind == FromEnvFile && file.File != "" {
		d.Message += fmt.Sprintf("; it hides %s at %s, because the environment wins over env files", v.Name, file)
		d.Fix = fmt.Sprintf("unset %s in the environment (unset %s) so the value at %s applies, or give it a value", v.Name, v.Name, file)
	}
	return d
}

// lowercaseName lowercases a reference's name, leaving the tag (which may be
// mixed case) alone.
func lowercaseName(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") && !strings.Contains(image, "@") {
		return strings.ToLower(image[:i]) + image[i:]
	}
	return strings.ToLower(image)
}
