package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source"
	"github.com/envctl/envctl/internal/source/git"
)

// Declared is the state a run works from: a snapshot of the source, the
// configuration in it and one environment.
type Declared struct {
	Source   source.Source
	Snapshot *source.Snapshot
	Repo     *config.Repo
	Env      *config.Environment
}

// Revision is the snapshot's revision.
func (d *Declared) Revision() string { return d.Snapshot.Revision }

// Settings are the repository's settings, overrides applied.
func (d *Declared) Settings() config.Settings { return d.Repo.Config.Spec }

// Repository is the repository's identity, recorded in inventories:
// config.yaml's metadata.name, else the name of the repository's directory
// (a Git source's last path element).
func (d *Declared) Repository() string {
	if n := d.Repo.Config.Metadata.Name; n != "" {
		return n
	}
	if d.Repo.DirName != "" {
		return d.Repo.DirName
	}
	return filepath.Base(d.Repo.Root)
}

// LoadOptions say where the declared state comes from and which
// environment of it a run takes.
type LoadOptions struct {
	// Source yields the snapshots.
	Source source.Source
	// Environment names the environment; "" is the default one.
	Environment string
	// Config carries the setting overrides (flags, ENVCTL_* variables);
	// Load sets its directory.
	Config config.LoadOptions
	// Components must name components of the environment.
	Components []string
	// Instance, when set, makes the environment that instance of itself
	// (config.Environment.SetInstance): a cluster of its own.
	Instance string
	// OnFetch, when set, is told that a remote source is being fetched and
	// returns what to call with the outcome (a step of progress).
	OnFetch func(what string) func(error)
	Logger  *slog.Logger
}

// Load takes a snapshot of the source and loads the environment from it.
func Load(ctx context.Context, opts LoadOptions) (*Declared, error) {
	if opts.Source == nil {
		return nil, errors.New("load: no source")
	}
	start := time.Now()
	done := func(error) {}
	if _, remote := opts.Source.(*git.Source); remote && opts.OnFetch != nil {
		done = opts.OnFetch("Fetching " + opts.Source.String())
	}
	snap, err := opts.Source.Snapshot(ctx)
	done(err)
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil {
		opts.Logger.Info("source ready", "source", opts.Source.String(), "revision", snap.Revision, "duration", time.Since(start).Round(time.Millisecond))
	}
	return LoadSnapshot(snap, opts)
}

// LoadSnapshot loads the environment from snap, a snapshot of
// opts.Source: the configuration with its overrides, the environment, and
// the check that the components asked for exist. A snapshot of a Git
// source that holds no config.yaml is an input error naming the path and
// revision.
func LoadSnapshot(snap *source.Snapshot, opts LoadOptions) (*Declared, error) {
	d := &Declared{Source: opts.Source, Snapshot: snap}
	g, remote := opts.Source.(*git.Source)
	if remote {
		if _, err := os.Stat(filepath.Join(snap.Root, config.FileName)); errors.Is(err, fs.ErrNotExist) {
			where := "the repository's root"
			if p := g.Path(); p != "" {
				where = fmt.Sprintf("--path %q", p)
			}
			return nil, errs.Inputf("%s holds no %s at %s (%s)", where, config.FileName, snap.Revision, opts.Source)
		}
	}
	lo := opts.Config
	lo.Dir, lo.NoSearch = snap.Root, true
	var err error
	if d.Repo, err = config.Load(lo); err != nil {
		return nil, err
	}
	if remote {
		d.Repo.DirName = g.DirName()
	}
	if d.Env, err = d.Repo.Environment(opts.Environment); err != nil {
		return nil, err
	}
	if err := d.Env.SetInstance(opts.Instance); err != nil {
		return nil, err
	}
	if err := checkComponents(d.Env, opts.Components); err != nil {
		return nil, err
	}
	return d, nil
}

// checkComponents reports a component name the environment does not have.
func checkComponents(env *config.Environment, names []string) error {
	var known []string
	for _, c := range env.Spec.Components {
		known = append(known, c.Name)
	}
	slices.Sort(known)
	for _, name := range names {
		if env.Component(name) == nil {
			return errs.Input(fmt.Errorf("--component: unknown component %q in environment %s (%s); known components: %s",
				name, env.Name(), env.File, strings.Join(known, ", ")))
		}
	}
	return nil
}
