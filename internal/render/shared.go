package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
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
// not change. Before a kustomize build, a manifests directory's decoding or
// a chart's templating, a render hashes what the component reads under its
// root (its kustomizations' directories, its manifests directory, its chart
// directory with file:// dependencies, values files and CA file); renders
// whose component has the same declaration and inputs of the same digest do
// the work once, the others taking a copy. A component that decrypts is
// never shared (each render must know the values it decrypted, to mask
// them), nor one whose inputs cannot all be named.
type Shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{entries: map[string]*sharedEntry{}} }

// sharedEntry is one component phase as its first render did it.
type sharedEntry struct {
	done chan struct{}
	// out is nil when the first render failed.
	out *Component
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

// share runs phase, which renders part of job j reading inputs, unless a
// render sharing r.opts.Shared did or does it for the same declaration and
// inputs: then j takes a copy of its output.
func (r *renderer) share(ctx context.Context, j *job, phase string, extra any, inputs []string, run func() error) error {
	s := r.opts.Shared
	if s == nil || j.comp.Decrypts() {
		return run()
	}
	digest, ok := digestInputs(r.src.Root, inputs)
	if !ok {
		return run()
	}
	key, err := json.Marshal([]any{phase, j.comp, r.settings, extra, inputs, digest})
	if err != nil {
		return run()
	}
	e, first := s.claim(string(key))
	if first {
		defer close(e.done)
		err := run()
		if err == nil {
			e.out = copyOutput(j.out)
		}
		return err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if e.out == nil {
		return run()
	}
	out := copyOutput(e.out)
	j.out.Objects, j.out.Hooks, j.out.Tests = out.Objects, out.Hooks, out.Tests
	r.log.Debug("component's inputs unchanged; its output is shared", "component", j.comp.Name, "phase", phase)
	return nil
}

// sharePrepare is prepare, shared (Shared) for a kustomize or manifests
// component; a Helm release shares its template (shareTemplate).
func (r *renderer) sharePrepare(ctx context.Context, j *job) error {
	c := j.comp
	if r.opts.Shared == nil || len(c.SourceKinds()) != 1 {
		return r.prepare(ctx, j)
	}
	var inputs []string
	switch {
	case c.Manifests != nil:
		inputs = []string{c.Manifests.Path}
	case c.Kustomize != "":
		sc, err := r.scanKustomize(c)
		if err != nil {
			return err
		}
		j.scan = sc
		if sc.remote {
			return r.prepare(ctx, j)
		}
		// kustomize's root-only load restriction keeps what a
		// kustomization reads under its directory.
		inputs = slices.Sorted(maps.Keys(sc.seen))
	default:
		return r.prepare(ctx, j)
	}
	return r.share(ctx, j, "build", nil, inputs, func() error { return r.prepare(ctx, j) })
}

// shareTemplate is template, shared (Shared) with a render whose chart,
// values and capabilities are the same.
func (r *renderer) shareTemplate(ctx context.Context, j *job, crds []string) error {
	inputs, ok := helmInputs(j.comp, j.helm)
	if !ok {
		return r.template(ctx, j, crds)
	}
	installed := r.installed != nil && r.installed(j.comp.Name)
	extra := []any{r.caps.KubeVersion, r.caps.APIVersions, slices.Sorted(slices.Values(crds)), installed, j.out.Namespace}
	return r.share(ctx, j, "template", extra, inputs, func() error { return r.template(ctx, j, crds) })
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

// digestInputs names what each path of inputs holds under root: as Git
// names it (source.TreeHash), which a preview's base answers from its
// index without writing the files, or where a symlink is in the way, by a
// hash of its kinds, names, symlink targets, executable bits and bytes,
// symlinks followed as a render reads through them. ok is false when a
// path cannot be read (it is then not shared).
func digestInputs(root string, inputs []string) (digest string, ok bool) {
	h := sha256.New()
	for _, rel := range inputs {
		fmt.Fprintf(h, "input %q\n", rel)
		if name, ok := source.TreeHash(root, rel); ok {
			fmt.Fprintf(h, "git %s\n", name)
			continue
		}
		p, err := source.Confine(root, rel)
		if err != nil {
			return "", false
		}
		if !hashTree(h, p, 0) {
			return "", false
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// maxHashDepth bounds hashTree through symlinked directories, which may
// loop.
const maxHashDepth = 64

func hashTree(h io.Writer, p string, depth int) bool {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprint(h, "missing\n")
		return true
	case err != nil || depth > maxHashDepth:
		return false
	case !st.IsDir():
		f, err := os.Open(p)
		if err != nil {
			return false
		}
		defer f.Close()
		fmt.Fprintf(h, "file %d %t\n", st.Size(), st.Mode().Perm()&0o111 != 0)
		n, err := io.Copy(h, f)
		return err == nil && n == st.Size()
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return false
	}
	fmt.Fprintf(h, "dir %d\n", len(entries))
	for _, e := range entries {
		child := filepath.Join(p, e.Name())
		fmt.Fprintf(h, "entry %q\n", e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			// A render that confines paths may refuse one target and not
			// another, whatever they hold.
			target, err := os.Readlink(child)
			if err != nil {
				return false
			}
			fmt.Fprintf(h, "link %q\n", target)
		}
		if !hashTree(h, child, depth+1) {
			return false
		}
	}
	return true
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
