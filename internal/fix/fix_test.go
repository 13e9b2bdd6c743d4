package fix

import (
	"errors"
	"fmt"
	"testing"
)

func TestSplit(t *testing.T) {
	base := New(errors.New("role refused"), "ask the vendor")
	for _, tc := range []struct {
		err          error
		problem, fix string
	}{
		{base, "role refused", "ask the vendor"},
		{fmt.Errorf("registry x: %w", base), "registry x: role refused", "ask the vendor"},
		{fmt.Errorf("%w (after 3 tries)", base), "role refused; ask the vendor (after 3 tries)", "ask the vendor"},
		{errors.New("plain"), "plain", ""},
		{New(errors.New("no fix"), ""), "no fix", ""},
		{nil, "", ""},
	} {
		p, f := Split(tc.err)
		if p != tc.problem || f != tc.fix {
			t.Errorf("Split(%v) = %q, %q; want %q, %q", tc.err, p, f, tc.problem, tc.fix)
		}
	}
	if base.Error() != "role refused; ask the vendor" {
		t.Errorf("Error() = %q", base.Error())
	}
	if New(nil, "x") != nil {
		t.Error("New(nil) is not nil")
	}
}
