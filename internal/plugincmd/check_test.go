package plugincmd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/currentsdev/currents/internal/check"
)

// Every field of the JSON document is documented in `check --help`, so a
// field added or renamed without its documentation fails here.
func TestJSONShapeIsDocumented(t *testing.T) {
	help := newCheckCommand(nil).Long
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty.PkgPath() == "time" {
			return
		}
		seen[ty] = true
		for i := 0; i < ty.NumField(); i++ {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if !strings.Contains(help, `"`+name+`"`) {
				t.Errorf("%s.%s (%q) is not documented in check --help", ty.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(check.Report{}))
	if len(seen) < 6 {
		t.Errorf("walked only %d types", len(seen))
	}
}
