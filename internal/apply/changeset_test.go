package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/object"
)

func TestChangeSet(t *testing.T) {
	ref := func(name string) object.Ref {
		return object.Ref{Version: "v1", Kind: "ConfigMap", Namespace: "ml", Name: name}
	}
	cs := &ChangeSet{Changes: []Change{
		{Ref: ref("a"), Action: Created},
		{Ref: ref("b"), Action: Unchanged},
		{Ref: ref("c"), Action: Failed, Err: errs.Conflict(errors.New("apply ConfigMap ml/c: conflict"))},
		{Ref: ref("d"), Action: Failed, Err: errs.Input(errors.New("apply ConfigMap ml/d: invalid"))},
	}}
	if cs.Count(Created) != 1 || cs.Count(Unchanged) != 1 || cs.Count(Failed) != 2 {
		t.Errorf("counts: created %d unchanged %d failed %d", cs.Count(Created), cs.Count(Unchanged), cs.Count(Failed))
	}
	if !cs.Wrote() {
		t.Error("Wrote = false with a created object")
	}
	if n := len(cs.Applied()); n != 2 {
		t.Errorf("Applied has %d changes, want 2", n)
	}
	err := cs.Err()
	if errs.KindOf(err) != errs.KindConflict {
		t.Errorf("kind of joined error = %v, want the first failure's (conflict)", errs.KindOf(err))
	}
	for _, s := range []string{"2 objects failed", "ConfigMap ml/c", "ConfigMap ml/d"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if e := cs.Changes[0].Entry("platform"); e.Component != "platform" || e.Ref != ref("a") {
		t.Errorf("Entry = %+v", e)
	}
	if (&ChangeSet{Changes: []Change{{Action: Unchanged}}}).Wrote() {
		t.Error("Wrote = true with only unchanged objects")
	}
}
