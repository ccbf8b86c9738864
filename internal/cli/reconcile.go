package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/health"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/prune"
)

// reconcileOptions are the flags `envctl up` and `envctl apply` share.
type reconcileOptions struct {
	Env    string
	Policy engine.Policy
	Output string
	// LockTimeout is how long to wait for the environment's lock.
	LockTimeout time.Duration
	// command names the command (up, apply) in the lock's holder identity.
	command string
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
	// Source says where the declared state comes from.
	Source sourceFlags
}

func (o *reconcileOptions) bind(fs *pflag.FlagSet) {
	bindPolicy(fs, &o.Policy, nil, reconcileFlags...)
	fs.StringVarP(&o.Output, "output", "o", "text", "summary format: text or json")
	bindLockTimeout(fs, &o.LockTimeout)
	config.BindFlags(fs, "apply.concurrency")
	o.Source.bind(fs)
}

// load checks the flags, takes the source's snapshot (a Git fetch shown as
// a step of progress) and loads the environment: the start that up and
// apply share.
func (o *reconcileOptions) load(ctx context.Context, f *Factory, progress stepper) (*engine.Declared, error) {
	if err := checkOutput(o.Output, "text", "json"); err != nil {
		return nil, err
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	if err := checkLockTimeout(o.LockTimeout); err != nil {
		return nil, err
	}
	return o.Source.load(ctx, f, o.Env, o.Flags, o.Policy.Components, progress)
}

// clusterInfo is the cluster a reconcile ran against, for the summary.
type clusterInfo struct {
	Name     string `json:"name,omitempty"`
	Provider string `json:"provider,omitempty"`
	Context  string `json:"context,omitempty"`
	// CurrentContext says whether Context is kubectl's current context
	// (up makes it so when the kubeconfig had none).
	CurrentContext bool `json:"currentContext,omitempty"`
	Created        bool `json:"created,omitempty"`
}

// reconcile runs the engine's reconcile of d on target t, holding the
// environment's lock, with progress on the error stream and the summary on
// the output stream.
func reconcile(ctx context.Context, f *Factory, o *reconcileOptions, d *engine.Declared, t *cluster.Target, cl clusterInfo, progress *progressView) (*engine.Result, error) {
	defer progress.Close()
	lockClient, err := kube.New(t.Config)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	ctx, lock, err := lockEnvironment(ctx, f, lockClient.Clientset, d.Env.Name(), o.command, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	// Count the run's requests (the lock's aside), so that the summary can
	// show that a run with nothing to do wrote nothing.
	cfg, counter := kube.CountingConfig(t.Config)
	client, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	res, err := f.engine(client, "", "").Reconcile(ctx, engine.Request{Declared: d, Policy: o.Policy, OnEvent: progress.Event})
	progress.Close()
	if res != nil {
		reqs := counter.Snapshot()
		if werr := writeSummary(f.Streams.Out, o.Output, res, cl, requestCounts{Total: reqs.Requests, Writes: reqs.Writes}); werr != nil && err == nil {
			err = werr
		}
	}
	return res, err
}

// summary is what `-o json` prints.
type summary struct {
	Environment     string             `json:"environment"`
	Revision        string             `json:"revision,omitempty"`
	Cluster         clusterInfo        `json:"cluster"`
	Succeeded       bool               `json:"succeeded"`
	DurationSeconds float64            `json:"durationSeconds"`
	Components      []componentSummary `json:"components"`
	Pruned          []string           `json:"pruned"`
	PruneSkipped    []prunedSkip       `json:"pruneSkipped,omitempty"`
	// PruneHeld are objects a prune guard kept (they stay recorded).
	PruneHeld   []prunedSkip `json:"pruneHeld,omitempty"`
	PruneNotRun string       `json:"pruneNotRun,omitempty"`
	// HealthNotChecked says that prune ran without a health check (--no-wait).
	HealthNotChecked bool `json:"healthNotChecked,omitempty"`
	// Adopted are the objects this run took over, and whose they were.
	Adopted []prunedSkip `json:"adopted,omitempty"`
	// InventoryRebuilt is how many objects a lost inventory was rebuilt from.
	InventoryRebuilt int           `json:"inventoryRebuilt,omitempty"`
	Requests         requestCounts `json:"requests"`
	// Warnings are things the run did not do as declared, such as
	// webhooks the embedded cluster skips; each is said once.
	Warnings []string `json:"warnings,omitempty"`
}

// requestCounts are the API requests a run made to the cluster; writes
// include every POST, PUT, PATCH and DELETE.
type requestCounts struct {
	Total  int `json:"total"`
	Writes int `json:"writes"`
}

type componentSummary struct {
	Name            string                `json:"name"`
	State           engine.State          `json:"state"`
	Reason          string                `json:"reason,omitempty"`
	Counts          engine.Counts         `json:"counts"`
	Changed         []objectChange        `json:"changed,omitempty"`
	NotReady        []health.ObjectStatus `json:"notReady,omitempty"`
	Hooks           []engine.HookResult   `json:"hooks,omitempty"`
	DurationSeconds float64               `json:"durationSeconds"`
}

type objectChange struct {
	Object string `json:"object"`
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

type prunedSkip struct {
	Object string `json:"object"`
	Reason string `json:"reason"`
}

func summarize(res *engine.Result, cl clusterInfo, reqs requestCounts) summary {
	s := summary{
		Requests:         reqs,
		Environment:      res.Environment,
		Revision:         res.Revision,
		Cluster:          cl,
		Succeeded:        res.Succeeded,
		DurationSeconds:  res.Duration.Seconds(),
		Pruned:           []string{},
		PruneNotRun:      res.PruneSkipped,
		HealthNotChecked: res.HealthNotChecked && res.Prune != nil,
		InventoryRebuilt: res.InventoryRebuilt,
		Warnings:         res.Warnings,
	}
	for _, c := range res.Components {
		cs := componentSummary{
			Name: c.Name, State: c.State, Reason: c.Reason, Counts: c.Counts,
			NotReady: c.NotReady, Hooks: c.Hooks, DurationSeconds: c.Duration.Seconds(),
		}
		for _, ch := range c.Changes {
			if ch.Adopted != "" {
				s.Adopted = append(s.Adopted, prunedSkip{Object: ch.Ref.String(), Reason: ch.Adopted})
			}
			if ch.Action == "unchanged" {
				continue
			}
			oc := objectChange{Object: ch.Ref.String(), Action: string(ch.Action)}
			if ch.Err != nil {
				oc.Error = ch.Err.Error()
			}
			cs.Changed = append(cs.Changed, oc)
		}
		s.Components = append(s.Components, cs)
	}
	if res.Prune != nil {
		for _, it := range res.Prune.With(prune.Pruned) {
			s.Pruned = append(s.Pruned, it.Entry.Ref.String())
		}
		for _, it := range res.Prune.With(prune.Skipped) {
			s.PruneSkipped = append(s.PruneSkipped, prunedSkip{Object: it.Entry.Ref.String(), Reason: it.Reason})
		}
		for _, it := range res.Prune.With(prune.Held) {
			s.PruneHeld = append(s.PruneHeld, prunedSkip{Object: it.Entry.Ref.String(), Reason: it.Reason})
		}
	}
	return s
}

// writeSummary prints the per-component summary, then the warnings.
func writeSummary(w io.Writer, format string, res *engine.Result, cl clusterInfo, reqs requestCounts) error {
	s := summarize(res, cl, reqs)
	if format == "json" {
		return writeJSON(w, s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tCREATED\tCHANGED\tUNCHANGED\tPRUNED\tTIME")
	for _, c := range s.Components {
		took := "-"
		if c.State != engine.Skipped {
			took = round(time.Duration(c.DurationSeconds * float64(time.Second))).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.State, c.Counts.Created, c.Counts.Changed(), c.Counts.Unchanged, c.Counts.Pruned, took)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range s.Components {
		if c.State == engine.Failed || c.State == engine.Skipped {
			fmt.Fprintf(w, "\n%s %s: %s\n", c.Name, c.State, indent(c.Reason))
		}
	}
	if len(s.Pruned) > 0 {
		fmt.Fprintf(w, "\npruned %s:\n", plural(len(s.Pruned), "object"))
		for _, p := range s.Pruned {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	for _, p := range s.PruneSkipped {
		fmt.Fprintf(w, "not pruned: %s: %s\n", p.Object, p.Reason)
	}
	for _, p := range s.PruneHeld {
		fmt.Fprintf(w, "held, not pruned: %s: %s\n", p.Object, p.Reason)
	}
	for _, a := range s.Adopted {
		fmt.Fprintf(w, "adopted: %s: %s; envctl manages it for environment %s from now on\n", a.Object, a.Reason, s.Environment)
	}
	if s.InventoryRebuilt > 0 {
		fmt.Fprintf(w, "note: the inventory was missing and was rebuilt from the labels of %s\n", plural(s.InventoryRebuilt, "object"))
	}
	if s.HealthNotChecked {
		fmt.Fprintln(w, "note: prune ran after every apply succeeded, but health was not checked (--no-wait)")
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
	verdict := "is up to date"
	if !s.Succeeded {
		verdict = "did not fully converge"
	}
	at := ""
	if s.Revision != "" {
		at = " at " + s.Revision
	}
	fmt.Fprintf(w, "\nenvironment %s %s%s (%s, %s, %s)\n", s.Environment, verdict, at, round(res.Duration),
		plural(s.Requests.Total, "request"), plural(s.Requests.Writes, "write"))
	return nil
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }
