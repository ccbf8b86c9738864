package preview

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/source"
)

// Side is one of the two states compared.
type Side struct {
	// Ref is the state as the user named it: "main", "HEAD~1", "work tree".
	Ref string `json:"ref"`
	// Revision is its snapshot's revision ("main@sha1:<hex>",
	// "sha1:<hex>-dirty").
	Revision string `json:"revision"`

	src source.Source
}

// Environment is the comparison of one environment.
type Environment struct {
	Name string `json:"name"`
	Counts
	// Components are every component of either side, in the head's order.
	Components []Component `json:"components"`
	// InBase and InHead say whether the environment exists on each side
	// (a pull request that adds or removes one).
	InBase bool `json:"inBase"`
	InHead bool `json:"inHead"`
	// Error is why a side did not render; the counts are then empty.
	Error string `json:"error,omitempty"`

	err error
}

// Report is a preview of one or every environment.
type Report struct {
	Base Side `json:"base"`
	Head Side `json:"head"`
	// All is set for a preview of every environment.
	All          bool          `json:"allEnvironments"`
	Environments []Environment `json:"environments"`

	components []string
}

// Changed says whether any environment differs.
func (r *Report) Changed() bool {
	for _, e := range r.Environments {
		if e.Any() {
			return true
		}
	}
	return false
}

// Err joins the environments' errors; nil when every one rendered.
func (r *Report) Err() error {
	var list []error
	for _, e := range r.Environments {
		if e.err != nil {
			list = append(list, e.err)
		}
	}
	return errors.Join(list...)
}

// Options say what Run compares.
type Options struct {
	// Base and Head are the two sources, each with the name it goes by.
	Base, Head       source.Source
	BaseRef, HeadRef string
	// Environment is the one to compare ("" for the default); ignored with
	// All, which compares every environment of either side.
	Environment string
	All         bool
	// Components limits the comparison to these components (each must
	// exist on one side at least).
	Components []string
	// Load carries the setting overrides and the logger; Run sets the
	// source, the environment and the components.
	Load engine.LoadOptions
	// Engine renders; it has no cluster, so both sides render offline for
	// the cluster the environment would get.
	Engine *engine.Engine
}

// Run snapshots both sources and renders the environments on each side,
// base and head side by side, and compares them. An environment that does
// not render on a side is reported with its error (Report.Err); any other
// error ends the run.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Engine.Client() != nil {
		return nil, errors.New("preview: the engine must be offline")
	}
	rep := &Report{Base: Side{Ref: opts.BaseRef, src: opts.Base}, Head: Side{Ref: opts.HeadRef, src: opts.Head}, All: opts.All, components: opts.Components}
	snaps := make([]*source.Snapshot, 2)
	err := parallel(2, 2, func(i int) error {
		side := []*Side{&rep.Base, &rep.Head}[i]
		snap, err := side.src.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("%s %s: %w", []string{"--base", "head"}[i], side.Ref, err)
		}
		snaps[i], side.Revision = snap, snap.Revision
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := []string{opts.Environment}
	switch {
	case opts.All:
		if names, err = environments(snaps, opts.Load); err != nil {
			return nil, err
		}
	case opts.Environment == "":
		// The head's default: the one the change is reviewed for.
		repo, err := loadRepo(snaps[1], opts.Load)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rep.Head.Ref, err)
		}
		names[0] = repo.Config.Spec.DefaultEnvironment
	}
	rep.Environments = make([]Environment, len(names))
	results := make([][2]rendered, len(names))
	// A component whose inputs are the same on both sides renders once.
	shared := render.NewShared()
	// Every render is a job of its own: base and head of one environment
	// run side by side, as do environments while cores are free.
	_ = parallel(2*len(names), max(2, runtime.GOMAXPROCS(0)), func(i int) error {
		env, side := i/2, i%2
		results[env][side] = renderSide(ctx, opts, []*Side{&rep.Base, &rep.Head}[side], snaps[side], names[env], shared)
		return nil
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, name := range names {
		rep.Environments[i] = compareEnv(name, results[i][0], results[i][1], rep)
	}
	return rep, nil
}

// rendered is one side's render of an environment.
type rendered struct {
	res *render.Result
	// absent: the side has no such environment.
	absent bool
	// err is why the side did not load or render.
	err error
	// comps are the environment's components on this side.
	comps []string
}

// renderSide loads and renders environment env from snap.
func renderSide(ctx context.Context, opts Options, side *Side, snap *source.Snapshot, env string, shared *render.Shared) rendered {
	lo := opts.Load
	lo.Source, lo.Environment, lo.Components = side.src, env, nil
	d, err := engine.LoadSnapshot(snap, lo)
	var unknown *config.UnknownEnvironmentError
	if errors.As(err, &unknown) {
		return rendered{absent: true}
	}
	if err != nil {
		return rendered{err: fmt.Errorf("at %s: %w", side.Ref, err)}
	}
	var all []string
	for _, c := range d.Env.Spec.Components {
		all = append(all, c.Name)
	}
	comps := slices.DeleteFunc(slices.Clone(opts.Components), func(c string) bool { return !slices.Contains(all, c) })
	if len(opts.Components) > 0 && len(comps) == 0 {
		// None of them on this side: it declares nothing of them.
		return rendered{res: &render.Result{Environment: d.Env.Name()}, comps: all}
	}
	r, err := opts.Engine.Render(ctx, engine.Request{Declared: d, Policy: engine.Policy{Components: comps}, Shared: shared})
	if err != nil {
		return rendered{err: fmt.Errorf("at %s: %w", side.Ref, err)}
	}
	return rendered{res: r.Result, comps: all}
}

// environments lists the environments of either snapshot, sorted.
func environments(snaps []*source.Snapshot, lo engine.LoadOptions) ([]string, error) {
	var names []string
	for _, snap := range snaps {
		repo, err := loadRepo(snap, lo)
		if err != nil {
			return nil, err
		}
		list, err := repo.EnvironmentNames()
		if err != nil {
			return nil, err
		}
		names = append(names, list...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil, errs.Inputf("--all-environments: neither side has an environment")
	}
	return names, nil
}

// loadRepo loads the configuration of snap, as engine.LoadSnapshot does.
func loadRepo(snap *source.Snapshot, lo engine.LoadOptions) (*config.Repo, error) {
	co := lo.Config
	co.Dir, co.NoSearch = snap.Root, true
	return config.Load(co)
}

// compareEnv compares environment name's two renders.
func compareEnv(name string, base, head rendered, rep *Report) Environment {
	e := Environment{Name: name, InBase: !base.absent, InHead: !head.absent, Components: []Component{}}
	err := errors.Join(base.err, head.err)
	if base.absent && head.absent {
		err = errs.Inputf("environment %q exists neither at %s nor at %s", name, rep.Base.Ref, rep.Head.Ref)
	}
	if err == nil {
		err = checkComponents(rep, base, head)
	}
	if err == nil {
		e.Components, e.Counts, err = Compare(base.res, head.res, rep.Base.Ref, rep.Head.Ref)
	}
	if err != nil {
		e.err = fmt.Errorf("environment %s: %w", name, err)
		e.Error = e.err.Error()
	}
	return e
}

// checkComponents reports a component asked for (--component) that
// neither side of an environment has.
func checkComponents(rep *Report, base, head rendered) error {
	for _, c := range rep.components {
		if !slices.Contains(base.comps, c) && !slices.Contains(head.comps, c) {
			known := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(base.comps), head.comps...))))
			return errs.Inputf("--component: unknown component %q at %s and at %s; known components: %s",
				c, rep.Base.Ref, rep.Head.Ref, strings.Join(known, ", "))
		}
	}
	return nil
}

// parallel runs job(0..n-1), at most limit at once, and returns the first
// error in job order.
func parallel(n, limit int, job func(i int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	errList := make([]error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errList[i] = job(i)
		})
	}
	wg.Wait()
	for _, err := range errList {
		if err != nil {
			return err
		}
	}
	return nil
}
