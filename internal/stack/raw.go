package stack

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
)

// raws gives each service's image as written, before interpolation. compose-go
// interpolates every string of the files it loads, each file before merging
// and extends, through Options.Interpolate.Substitute; a load observed there
// (observe) tells which string each interpolated value came from. A value
// that came from one string only is that string; any other answer (a value
// two different strings gave, an empty image, which a service without an
// image also has) comes from loading the model a second time with
// interpolation off (rawImages), once per check and only when needed.
type raws struct {
	mu   sync.Mutex
	from map[string]string // interpolated value → the string written
	two  map[string]bool   // values different strings gave
	// looked are the variables each string's interpolation looked up, as
	// its mapping answered, by the string written and its value. A file
	// included with an env_file (or its own project directory's .env) is
	// interpolated with more than the project's environment: only its
	// mapping knows those variables.
	looked map[[2]string]map[string]lookup
	// second is the model loaded without interpolation, by service.
	second func() map[string]string
}

func newRaws(second func() map[string]string) *raws {
	return &raws{from: map[string]string{}, two: map[string]bool{}, looked: map[[2]string]map[string]lookup{}, second: second}
}

// observe makes a load record what it interpolates, changing nothing of it:
// the substitution is compose-go's own, whichever it is.
func (r *raws) observe() cli.ProjectOptionsFn { return cli.WithLoadOptions(r.watch) }

// watch is observe as a loader option.
func (r *raws) watch(lo *loader.Options) {
	if lo.Interpolate == nil || lo.Interpolate.Substitute == nil {
		return
	}
	substitute := lo.Interpolate.Substitute
	lo.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
		if !strings.Contains(s, "$") {
			out, err := substitute(s, m)
			if err == nil {
				r.record(s, out, nil)
			}
			return out, err
		}
		var seen map[string]lookup
		out, err := substitute(s, func(name string) (string, bool) {
			v, ok := m(name)
			if seen == nil {
				seen = map[string]lookup{}
			}
			seen[name] = lookup{v, ok}
			return v, ok
		})
		if err == nil {
			r.record(s, out, seen)
		}
		return out, err
	}
}

// lookup is a variable's value as an interpolation's mapping answered it.
type lookup struct {
	value string
	set   bool
}

func (r *raws) record(written, value string, seen map[string]lookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seen != nil {
		if _, ok := r.looked[[2]string{written, value}]; !ok {
			r.looked[[2]string{written, value}] = seen
		}
	}
	if prev, ok := r.from[value]; !ok {
		r.from[value] = written
	} else if prev != written {
		r.two[value] = true
	}
}

// of is service's image as written, given its interpolated image. An empty
// image is a service's without one unless some string was interpolated to
// empty: then only the model tells.
func (r *raws) of(service, image string) string {
	r.mu.Lock()
	written, seen := r.from[image]
	one := seen && !r.two[image]
	r.mu.Unlock()
	switch {
	case image == "" && (!seen || one && written == ""):
		return ""
	case image != "" && one:
		return written
	}
	return r.second()[service]
}

// lookups are the variables written's interpolation into image looked up;
// nil when the load did not interpolate it (a raw from the second load).
func (r *raws) lookups(written, image string) map[string]lookup {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.looked[[2]string{written, image}]
}

// secondLoads counts the second loads run (tests).
var secondLoads atomic.Int64

// secondLoad is rawImages of the project o names, loaded at most once and
// only when asked.
func secondLoad(ctx context.Context, o Options) func() map[string]string {
	return sync.OnceValue(func() map[string]string {
		secondLoads.Add(1)
		po, err := o.projectOptions(func([]string) {})
		if err != nil {
			return map[string]string{}
		}
		return rawImages(ctx, po)
	})
}
