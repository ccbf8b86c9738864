package decodecases

import "testing"

// TestEveryMutationFits catches a mutation whose edit no longer matches any
// base (a base rewritten, a typo in the text it looks for).
func TestEveryMutationFits(t *testing.T) {
	fits := map[string]int{}
	for _, c := range Cases() {
		fits[c.Mutation.Name]++
		if c.Doc == c.Base.Doc && c.Mutation.Name != "unchanged" {
			t.Errorf("%s leaves the document as it was", c.Describe())
		}
	}
	seen := map[string]bool{}
	for _, m := range Mutations() {
		if seen[m.Name] {
			t.Errorf("two mutations are named %q", m.Name)
		}
		seen[m.Name] = true
		if fits[m.Name] == 0 {
			t.Errorf("mutation %q fits no base", m.Name)
		}
	}
}
