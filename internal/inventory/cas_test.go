package inventory_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
)

// A writer that read the inventory cannot save over a newer one that
// another writer stored since, nor delete it: its save and its delete are
// refused as conflicts, and the newer inventory is what stays stored.
func TestSaveAndDeleteOverANewerInventoryAreRefused(t *testing.T) {
	s, _, counter := store(t)
	ctx := t.Context()
	if _, err := s.Save(ctx, makeInventory("cas", 4)); err != nil {
		t.Fatal(err)
	}
	stale, err := s.Load(ctx, "cas")
	if err != nil {
		t.Fatal(err)
	}
	newer, err := s.Load(ctx, "cas")
	if err != nil {
		t.Fatal(err)
	}
	newer.Revision = "rev-of-the-new-holder"
	if wrote, err := s.Save(ctx, newer); err != nil || !wrote {
		t.Fatalf("the new holder's save = %v, %v", wrote, err)
	}

	before := counter.Snapshot()
	stale.Revision = "rev-of-the-stale-holder"
	stale.Entries = stale.Entries[:1]
	wrote, err := s.Save(ctx, stale)
	var se *inventory.StaleError
	if !errors.As(err, &se) || wrote {
		t.Fatalf("the stale holder's save = %v, %v; want a StaleError and no write", wrote, err)
	}
	if k := errs.KindOf(err); k != errs.KindConflict {
		t.Errorf("the stale save's error is a %v error, want a conflict", k)
	}
	if err := s.DeleteVersion(ctx, "cas", stale.Version); !errors.As(err, &se) {
		t.Fatalf("the stale holder's delete = %v, want a StaleError", err)
	}
	if d := counter.Snapshot().Sub(before); d.Writes != 0 {
		t.Errorf("the stale holder made %d writes (%v), want none", d.Writes, d.WritePaths)
	}
	got, err := s.Load(ctx, "cas")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(newer, got); diff != "" {
		t.Errorf("the stored inventory is not the new holder's (-want +got):\n%s", diff)
	}

	// A first save finds one stored: refused the same way.
	first := makeInventory("cas", 1)
	if _, err := s.Save(ctx, first); !errors.As(err, &se) {
		t.Errorf("a save that expects no inventory over a stored one = %v, want a StaleError", err)
	}
	// The holder that wrote last may save and delete.
	newer.Entries = newer.Entries[:2]
	if _, err := s.Save(ctx, newer); err != nil {
		t.Fatalf("the new holder's next save: %v", err)
	}
	if err := s.DeleteVersion(ctx, "cas", newer.Version); err != nil {
		t.Fatalf("the new holder's delete: %v", err)
	}
	if _, err := s.Load(ctx, "cas"); !errors.Is(err, inventory.ErrNotFound) {
		t.Errorf("Load after the delete = %v, want ErrNotFound", err)
	}
}
