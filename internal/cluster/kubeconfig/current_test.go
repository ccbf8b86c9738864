package kubeconfig

import "testing"

// --set-context parses into a Current: left out it keeps CurrentIfUnset,
// which help shows as false.
func TestCurrentFlagValue(t *testing.T) {
	var c Current
	if c.String() != "false" || c.Type() != "bool" {
		t.Errorf("unset: String %q, Type %q; want false, bool", c.String(), c.Type())
	}
	for _, tt := range []struct {
		in   string
		want Current
	}{{"true", CurrentAlways}, {"false", CurrentNever}, {"1", CurrentAlways}, {"0", CurrentNever}} {
		c = CurrentIfUnset
		if err := c.Set(tt.in); err != nil || c != tt.want {
			t.Errorf("Set(%q) = %v, %v; want %v", tt.in, c, err, tt.want)
		}
	}
	c = CurrentAlways
	if c.String() != "true" {
		t.Errorf("CurrentAlways shows as %q, want true", c.String())
	}
	if err := c.Set("maybe"); err == nil || err.Error() != `want true or false, got "maybe"` {
		t.Errorf("Set(maybe) = %v", err)
	}
}
