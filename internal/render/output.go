package render

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
)

// Item is one object of a result in output order, with what the output says
// about it.
type Item struct {
	Component string
	Object    *unstructured.Unstructured
	// Hook is set for a Helm hook.
	Hook *Hook
}

// Items lists the result's objects in output order: components in result
// order, each with its objects and then its hooks.
func (r *Result) Items() []Item {
	var items []Item
	for _, c := range r.Components {
		for _, o := range c.Objects {
			items = append(items, Item{Component: c.Name, Object: o})
		}
		for _, h := range c.Hooks {
			items = append(items, Item{Component: c.Name, Object: h.Object, Hook: h})
		}
	}
	return items
}

// Source is the "# Source:" line of an item: component/kind/namespace/name,
// without the namespace for a cluster-scoped object.
func (it Item) Source() string {
	parts := []string{it.Component, it.Object.GetKind()}
	if ns := it.Object.GetNamespace(); ns != "" {
		parts = append(parts, ns)
	}
	parts = append(parts, it.Object.GetName())
	return strings.Join(parts, "/")
}

// hookComment describes a hook for the YAML stream.
func hookComment(h *Hook) string {
	phases := make([]string, len(h.Phases))
	for i, p := range h.Phases {
		phases[i] = string(p)
	}
	return fmt.Sprintf("# Hook: %s weight=%d delete-policy=%s",
		strings.Join(phases, ","), h.Weight, strings.Join(h.DeletePolicies, ","))
}

// WriteYAML writes the result as a YAML stream: each object a document
// introduced by "---" and a "# Source:" comment (and a "# Hook:" comment for
// a hook). Keys are sorted, so the same result always gives the same bytes.
func WriteYAML(w io.Writer, r *Result) error {
	bw := bufio.NewWriter(w)
	for _, it := range r.Items() {
		b, err := yaml.Marshal(it.Object.Object)
		if err != nil {
			return fmt.Errorf("encode %s: %w", it.Source(), err)
		}
		fmt.Fprintf(bw, "---\n# Source: %s\n", it.Source())
		if it.Hook != nil {
			fmt.Fprintln(bw, hookComment(it.Hook))
		}
		bw.Write(b)
	}
	return bw.Flush()
}

// list is the JSON form of a result, a v1 List that kubectl also reads.
type list struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Items      []map[string]any `json:"items"`
}

// WriteJSON writes the result as one JSON v1 List of its objects, hooks
// included (their helm.sh/hook annotations say what they are).
func WriteJSON(w io.Writer, r *Result) error {
	l := list{APIVersion: "v1", Kind: "List", Items: []map[string]any{}}
	for _, it := range r.Items() {
		l.Items = append(l.Items, it.Object.Object)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

// WriteDir writes each object of the result to its own YAML file under dir:
// dir/COMPONENT/NNN-KIND-NAMESPACE-NAME.yaml for objects, numbered in output
// order so that `kubectl apply -f` over the files follows the kind order, and
// dir/COMPONENT/hooks/... for hooks. dir must be empty or not exist, so that
// no file of an earlier render survives to be applied by mistake.
func WriteDir(dir string, r *Result) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		return errs.Inputf("output directory %s is not empty; render writes into an empty or new directory only", dir)
	}
	counters := map[string]int{}
	for _, it := range r.Items() {
		sub := filepath.Join(dir, it.Component)
		if it.Hook != nil {
			sub = filepath.Join(sub, "hooks")
		}
		counters[sub]++
		name := fmt.Sprintf("%03d-%s", counters[sub], fileSafe(strings.ToLower(it.Object.GetKind())))
		if ns := it.Object.GetNamespace(); ns != "" {
			name += "-" + fileSafe(ns)
		}
		name += "-" + fileSafe(it.Object.GetName()) + ".yaml"
		b, err := yaml.Marshal(it.Object.Object)
		if err != nil {
			return fmt.Errorf("encode %s: %w", it.Source(), err)
		}
		header := "# Source: " + it.Source() + "\n"
		if it.Hook != nil {
			header += hookComment(it.Hook) + "\n"
		}
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sub, name), append([]byte(header), b...), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fileSafe keeps a name usable as part of a file name on every platform.
func fileSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteString("_" + strconv.FormatInt(int64(r), 16))
		}
	}
	return b.String()
}
