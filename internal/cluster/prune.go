package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// PruneOptions say which clusters Prune removes.
type PruneOptions struct {
	// Options configure the providers.
	Options Options
	// OlderThan, when positive, also removes clusters created longer ago
	// than that, running or not.
	OlderThan time.Duration
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Now is the time ages are counted to; zero means time.Now().
	Now time.Time
	// Progress hears each deletion.
	Progress Progress
}

// PruneEntry is one cluster Prune removed, or would remove, or kept.
type PruneEntry struct {
	Info
	// Reason says why the cluster is removed (or kept).
	Reason string `json:"reason"`
	// Deleted says that Prune deleted it (never in a dry run).
	Deleted bool `json:"deleted"`
	// Error is why the deletion failed.
	Error string `json:"error,omitempty"`
}

// PruneResult is what Prune did.
type PruneResult struct {
	DryRun bool `json:"dryRun"`
	// OlderThan is the age limit, as given ("" for none).
	OlderThan string `json:"olderThan,omitempty"`
	// Removed are the clusters removed, or that a dry run would remove.
	Removed []PruneEntry `json:"removed"`
	// Kept are the clusters envctl created that stay.
	Kept []PruneEntry `json:"kept"`
}

// Prune removes the clusters envctl created (embedded and kind, as its
// state directory records them) that nothing serves any more, or that are
// older than o.OlderThan: an embedded cluster whose serve process is gone
// (killed, or the machine restarted), a kind cluster whose containers were
// removed behind envctl's back, and with an age limit any cluster created
// before it. Each removal deletes the cluster, its state and its
// kubeconfig context, as `envctl cluster delete` does. Clusters of the
// existing provider are never touched. A cluster that fails to delete is
// reported with the others deleted, as a cluster error.
func Prune(ctx context.Context, o PruneOptions) (*PruneResult, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	res := &PruneResult{DryRun: o.DryRun, Removed: []PruneEntry{}, Kept: []PruneEntry{}}
	if o.OlderThan > 0 {
		res.OlderThan = o.OlderThan.String()
	}
	all, listErr := ListAll(ctx, o.Options)
	failed := 0
	for _, in := range all {
		if in.Provider != config.ProviderEmbedded && in.Provider != config.ProviderKind {
			continue
		}
		why, remove := pruneReason(in, o.OlderThan, now)
		e := PruneEntry{Info: in, Reason: why}
		if !remove {
			res.Kept = append(res.Kept, e)
			continue
		}
		if !o.DryRun {
			if err := pruneOne(ctx, o, in); err != nil {
				e.Error = err.Error()
				failed++
			} else {
				e.Deleted = true
			}
		}
		res.Removed = append(res.Removed, e)
	}
	switch {
	case failed > 0:
		return res, errs.Cluster(fmt.Errorf("%d of %d clusters to prune could not be deleted", failed, len(res.Removed)))
	case listErr != nil:
		return res, listErr
	}
	return res, nil
}

// pruneReason says whether Prune removes in, and why (or why not).
func pruneReason(in Info, olderThan time.Duration, now time.Time) (string, bool) {
	age := now.Sub(in.Created).Round(time.Second)
	switch {
	case in.Provider == config.ProviderEmbedded && in.Status == StatusStopped:
		return "its serve process is gone", true
	case in.Provider == config.ProviderKind && in.Status == StatusMissing:
		return "its containers are gone", true
	case olderThan > 0 && !in.Created.IsZero() && age > olderThan:
		return fmt.Sprintf("created %s ago, more than --older-than %s", age, olderThan), true
	case olderThan > 0 && in.Created.IsZero():
		return "its creation time is unknown", false
	case olderThan > 0:
		return fmt.Sprintf("%s, created %s ago", in.Status, age), false
	}
	return in.Status, false
}

// pruneOne deletes one cluster and its context.
func pruneOne(ctx context.Context, o PruneOptions, in Info) error {
	p, err := New(in.Provider, o.Options)
	if err != nil {
		return err
	}
	progress := o.Progress
	if progress == nil {
		progress = noProgress{}
	}
	return Delete(ctx, p, in.Name, "", progress)
}

// noProgress hears nothing.
type noProgress struct{}

func (noProgress) Step(string) func(error) { return func(error) {} }
