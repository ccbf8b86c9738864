package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/source"
)

// Shared lets renders share the work of a component whose inputs are the
// same: the two sides of a pull-request preview, where most components did
// not change. The first render to reach a component's kustomize build,
// manifests or chart template does it and keeps its output and the paths
// it read; another render of a component with the same declaration takes a
// copy when those paths hold the same files under its own root, and does
// the work itself otherwise. A component that decrypts is never shared
// (each render must know the values it decrypted, to mask them).
type Shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{entries: map[string]*sharedEntry{}} }

// sharedEntry is one component phase as its first render did it.
type sharedEntry struct {
	done chan struct{}
	// root and inputs say what was read: repository paths (files, or
	// directories whole) under root. No out: nothing to share.
	root   string
	inputs []string
	out    *Component
}

// claim returns the entry of key, and whether the caller is the first and
// must fill it (and close done).
func (s *Shared) claim(key string) (*sharedEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		return e, false
	}
	e := &sharedEntry{done: make(chan struct{})}
	s.entries[key] = e
	return e, true
}

// share runs phase, which renders part of job j, unless another render
// sharing r.opts.Shared did it for the same key on inputs that hold the
// same files here: then j takes a copy of its output.
func (r *renderer) share(ctx context.Context, j *job, phase string, extra any, run func() error) error {
	s := r.opts.Shared
	if s == nil || j.comp.Decrypts() {
		return run()
	}
	key, err := json.Marshal([]any{phase, j.comp, r.settings, extra})
	if err != nil {
		return run()
	}
	e, first := s.claim(string(key))
	if first {
		defer close(e.done)
		err := run()
		if err == nil && j.shareable {
			e.root, e.inputs, e.out = r.src.Root, slices.Clone(j.inputs), copyOutput(j.out)
		}
		return err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if e.out == nil || !sameInputs(e.root, r.src.Root, e.inputs) {
		return run()
	}
	out := copyOutput(e.out)
	j.out.Objects, j.out.Hooks, j.out.Tests = out.Objects, out.Hooks, out.Tests
	j.inputs, j.shareable = slices.Clone(e.inputs), true
	r.log.Debug("component's inputs unchanged; its output is shared", "component", j.comp.Name, "phase", phase)
	return nil
}

// copyOutput copies what a phase renders of a component.
func copyOutput(c *Component) *Component {
	out := &Component{Objects: make([]*unstructured.Unstructured, len(c.Objects))}
	for i, o := range c.Objects {
		out.Objects[i] = o.DeepCopy()
	}
	copyHooks := func(hooks []*Hook) []*Hook {
		var list []*Hook
		for _, h := range hooks {
			list = append(list, &Hook{Object: h.Object.DeepCopy(), Phases: slices.Clone(h.Phases), Weight: h.Weight,
				DeletePolicies: slices.Clone(h.DeletePolicies)})
		}
		return list
	}
	out.Hooks, out.Tests = copyHooks(c.Hooks), copyHooks(c.Tests)
	return out
}

// sameInputs reports whether every path of inputs holds the same under
// root a as under root b: the same kind, a file the same bytes, a
// directory the same entries, each the same. Symlinks are followed, as a
// render reads through them.
func sameInputs(a, b string, inputs []string) bool {
	for _, rel := range inputs {
		pa, err := source.Confine(a, rel)
		if err != nil {
			return false
		}
		pb, err := source.Confine(b, rel)
		if err != nil || !sameTree(pa, pb, 0) {
			return false
		}
	}
	return true
}

// maxCompareDepth bounds sameTree through symlinked directories, which may
// loop; deeper is taken as different.
const maxCompareDepth = 64

func sameTree(a, b string, depth int) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	switch {
	case errors.Is(errA, fs.ErrNotExist) && errors.Is(errB, fs.ErrNotExist):
		return true
	case errA != nil || errB != nil || sa.IsDir() != sb.IsDir() || depth > maxCompareDepth:
		return false
	case !sa.IsDir():
		if sa.Size() != sb.Size() || sa.Mode().Perm()&0o111 != sb.Mode().Perm()&0o111 {
			return false
		}
		da, errA := os.ReadFile(a)
		db, errB := os.ReadFile(b)
		return errA == nil && errB == nil && bytes.Equal(da, db)
	}
	ea, errA := os.ReadDir(a)
	eb, errB := os.ReadDir(b)
	if errA != nil || errB != nil || len(ea) != len(eb) {
		return false
	}
	for i := range ea {
		if ea[i].Name() != eb[i].Name() || ea[i].Type()&fs.ModeSymlink != eb[i].Type()&fs.ModeSymlink {
			return false
		}
		if ea[i].Type()&fs.ModeSymlink != 0 && !sameLink(filepath.Join(a, ea[i].Name()), filepath.Join(b, eb[i].Name())) {
			return false
		}
		if !sameTree(filepath.Join(a, ea[i].Name()), filepath.Join(b, eb[i].Name()), depth+1) {
			return false
		}
	}
	return true
}

// sameLink compares two symlinks' targets: a render that confines paths
// may refuse one and not the other.
func sameLink(a, b string) bool {
	ta, errA := os.Readlink(a)
	tb, errB := os.Readlink(b)
	return errA == nil && errB == nil && ta == tb
}

// helmInputs are the repository paths a Helm release reads: its chart
// directory, its values files, the CA file of its repository, and its
// charts' file:// dependencies. ok is false when they cannot all be named
// (a dependency of a dependency given by path): it is then not shared.
func helmInputs(c config.Component, p *preparedChart) (inputs []string, ok bool) {
	h := c.Helm
	if h.ChartKind() == config.ChartLocal {
		inputs = append(inputs, h.Chart)
		for _, d := range p.chart.Metadata.Dependencies {
			if rel, ok := strings.CutPrefix(d.Repository, "file://"); ok {
				inputs = append(inputs, filepath.ToSlash(filepath.Join(h.Chart, rel)))
			}
		}
	}
	for _, sub := range p.chart.Dependencies() {
		for _, d := range sub.Metadata.Dependencies {
			if strings.HasPrefix(d.Repository, "file://") {
				return nil, false
			}
		}
	}
	inputs = append(inputs, h.ValuesFiles...)
	if h.RepoAuth != nil && h.RepoAuth.CAFile != "" {
		inputs = append(inputs, h.RepoAuth.CAFile)
	}
	return inputs, true
}
