package ui

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/envctl/envctl/internal/engine"
)

// RebuildReport is what `envctl inventory rebuild -o json` prints.
type RebuildReport struct {
	Environment string `json:"environment"`
	// Objects counts the objects found, per component.
	Objects map[string]int `json:"objects"`
	// Replaced says whether a stored inventory (damaged or not) was
	// replaced; Deleted that none was kept, since nothing was found.
	Replaced bool `json:"replaced"`
	Deleted  bool `json:"deleted,omitempty"`
}

// NewRebuildReport reports rebuilt inventory rb of environment env.
func NewRebuildReport(env string, rb *engine.Rebuilt) *RebuildReport {
	inv := rb.Inventory
	r := &RebuildReport{Environment: env, Objects: map[string]int{}, Replaced: rb.Replaced, Deleted: len(inv.Entries) == 0 && rb.Replaced}
	for _, e := range inv.Entries {
		r.Objects[e.Component]++
	}
	return r
}

// WriteRebuild prints the report: as JSON, or the objects found per
// component.
func WriteRebuild(w io.Writer, format string, r *RebuildReport) error {
	if IsData(format) {
		return WriteData(w, format, r)
	}
	total := 0
	for _, n := range r.Objects {
		total += n
	}
	if total == 0 {
		fmt.Fprintf(w, "No object in the cluster is labelled for environment %s; it has no inventory now.\n", r.Environment)
		return nil
	}
	fmt.Fprintf(w, "Rebuilt the inventory of environment %s from %s:\n", r.Environment, Plural(total, "object"))
	for _, c := range slices.Sorted(maps.Keys(r.Objects)) {
		fmt.Fprintf(w, "  %s: %s\n", c, Plural(r.Objects[c], "object"))
	}
	return nil
}
