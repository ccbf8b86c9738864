package difftest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envctl/envctl/internal/apply"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
	"github.com/envctl/envctl/internal/render/decodecases"
	"github.com/envctl/envctl/internal/source"
)

// outcome is one side's verdict on a document.
type outcome struct {
	// refused names the step that refused it: kubectl (its decoding),
	// server, render (envctl's), apply (envctl's, before any request),
	// kustomize or helm. Empty when every object was accepted.
	refused string
	reason  string
	// sent are the request bodies, stored the server's dry-run answers,
	// both in the order of object.Compare.
	sent, stored []*unstructured.Unstructured
}

func (o outcome) ok() bool { return o.refused == "" }

func (o outcome) verdict() string {
	if !o.ok() {
		return "refused (" + o.refused + ")"
	}
	return fmt.Sprintf("ok (%d)", len(o.sent))
}

// harness runs documents through both sides against one API server.
type harness struct {
	getter resource.RESTClientGetter
	client *kube.Client
	mgr    *apply.Manager
	root   string

	mu    sync.Mutex
	cache map[string]answer
}

// answer is the server's answer to one request body.
type answer struct {
	stored *unstructured.Unstructured
	err    error
}

// dryRun sends body once per side and remembers the answer: many cases
// send the same object through several ways in.
func (h *harness) dryRun(key string, send func() (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	h.mu.Lock()
	a, ok := h.cache[key]
	h.mu.Unlock()
	if ok {
		return a.stored, a.err
	}
	stored, err := send()
	h.mu.Lock()
	h.cache[key] = answer{stored, err}
	h.mu.Unlock()
	return stored, err
}

// kubectl is `kubectl apply --server-side --dry-run=server -f -` on data:
// kubectl's own decoding (cli-runtime's builder, Lists flattened, a
// namespaced object without a namespace put in "default") and one apply
// request per object with kubectl's field validation, Strict. A stream
// without objects is accepted: kubectl refuses an invocation that finds no
// object at all, which says nothing of the document.
func (h *harness) kubectl(ctx context.Context, data []byte) outcome {
	infos, err := resource.NewBuilder(h.getter).Unstructured().ContinueOnError().
		NamespaceParam("default").DefaultNamespace().
		Stream(bytes.NewReader(data), "doc").Flatten().Do().Infos()
	if err != nil {
		return outcome{refused: "kubectl", reason: err.Error()}
	}
	var out outcome
	for _, info := range infos {
		if info.Name == "" {
			return outcome{refused: "kubectl", reason: "resource name may not be empty"}
		}
		body, err := runtime.Encode(unstructured.UnstructuredJSONScheme, info.Object)
		if err != nil {
			return outcome{refused: "kubectl", reason: err.Error()}
		}
		stored, err := h.dryRun("kubectl "+info.Namespace+" "+string(body), func() (*unstructured.Unstructured, error) {
			obj, err := resource.NewHelper(info.Client, info.Mapping).DryRun(true).WithFieldManager("kubectl").
				WithFieldValidation(metav1.FieldValidationStrict).
				Patch(info.Namespace, info.Name, types.ApplyPatchType, body, &metav1.PatchOptions{})
			if err != nil {
				return nil, err
			}
			return obj.(*unstructured.Unstructured), nil
		})
		if err != nil {
			return outcome{refused: "server", reason: err.Error()}
		}
		sent := &unstructured.Unstructured{}
		if err := sent.UnmarshalJSON(body); err != nil {
			return outcome{refused: "kubectl", reason: err.Error()}
		}
		out.sent, out.stored = append(out.sent, sent), append(out.stored, stored)
	}
	return out.sorted()
}

// envctl renders the case's component and sends each object as envctl's
// apply would (apply.Manager's Prepare and Write), dry-run.
func (h *harness) envctl(ctx context.Context, dir string, comp config.Component) outcome {
	snap, err := source.Local(dir)
	if err != nil {
		return outcome{refused: "render", reason: err.Error()}
	}
	env := &config.Environment{
		APIVersion: config.APIVersion,
		Kind:       config.KindEnvironment,
		Metadata:   config.Metadata{Name: "difftest"},
		File:       "environments/difftest.yaml",
		Spec:       config.EnvironmentSpec{Components: []config.Component{comp}},
	}
	env.ApplyDefaults(config.DefaultSettings())
	res, err := render.Render(ctx, render.Options{
		Source:        snap,
		Environment:   env,
		Settings:      config.RenderSettings{Concurrency: 1},
		ChartCacheDir: filepath.Join(dir, ".charts"),
	})
	if err != nil {
		return outcome{refused: "render", reason: err.Error()}
	}
	var out outcome
	for _, it := range res.Items() {
		mapping, err := h.client.Mapper.Mapping(ctx, it.Object.GroupVersionKind())
		if err != nil {
			return outcome{refused: "apply", reason: err.Error()}
		}
		p, err := h.mgr.Prepare(it.Object, mapping)
		if err != nil {
			return outcome{refused: "apply", reason: err.Error()}
		}
		sent := p.Sent()
		body, err := json.Marshal(sent.Object)
		if err != nil {
			return outcome{refused: "apply", reason: err.Error()}
		}
		stored, err := h.dryRun("envctl "+string(body), func() (*unstructured.Unstructured, error) {
			out, _, err := h.mgr.Write(ctx, p, apply.WriteOptions{DryRun: true})
			return out, err
		})
		if err != nil {
			return outcome{refused: "server", reason: err.Error()}
		}
		out.sent, out.stored = append(out.sent, sent), append(out.stored, stored)
	}
	return out.sorted()
}

// sorted orders the objects by identity, so that both sides line up.
func (o outcome) sorted() outcome {
	idx := make([]int, len(o.sent))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return object.Compare(o.sent[a], o.sent[b]) })
	out := outcome{}
	for _, i := range idx {
		out.sent, out.stored = append(out.sent, o.sent[i]), append(out.stored, o.stored[i])
	}
	return out
}

// chartYAML is the chart a Helm case's document is the only template of.
const chartYAML = "apiVersion: v2\nname: c\nversion: 0.1.0\n"

// writeRepo lays out the case for path p under dir and returns the
// component that reads it.
func writeRepo(dir string, c decodecases.Case, p decodecases.Path) (config.Component, error) {
	file := "doc.yaml"
	if c.Mutation.JSON {
		file = "doc.json"
	}
	var files map[string]string
	var comp config.Component
	switch p {
	case decodecases.Manifests:
		files = map[string]string{"m/" + file: c.Doc}
		comp = config.Component{Name: "m", Manifests: &config.Manifests{Path: "m"}}
	case decodecases.Kustomize:
		files = map[string]string{"k/kustomization.yaml": "resources:\n- " + file + "\n", "k/" + file: c.Doc}
		comp = config.Component{Name: "k", Kustomize: "k"}
	case decodecases.Helm:
		files = map[string]string{"c/Chart.yaml": chartYAML, "c/templates/doc.yaml": c.Doc}
		comp = config.Component{Name: "c", Helm: &config.HelmRelease{Chart: "c", Namespace: "default"}}
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return comp, err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return comp, err
		}
	}
	return comp, nil
}

// kustomizeBuild is `kustomize build dir/k`, what `kubectl apply -k` sends.
func kustomizeBuild(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(dir, "k"))
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// helmTemplate is `helm template c dir/c -n default --skip-tests`, what
// `helm install` sends: the release's manifest, then its hooks as Helm read
// them from it (envctl runs test hooks only with `envctl test`).
func helmTemplate(ctx context.Context, dir string) ([]byte, error) {
	chrt, err := loader.Load(filepath.Join(dir, "c"))
	if err != nil {
		return nil, err
	}
	inst := action.NewInstall(&action.Configuration{})
	inst.ClientOnly, inst.DryRun, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = "c", "default"
	rel, err := inst.RunWithContext(ctx, chrt, map[string]any{})
	if err != nil {
		return nil, err
	}
	out := rel.Manifest
	for _, hk := range rel.Hooks {
		if !slices.Contains(hk.Events, release.HookTest) {
			out += "\n---\n# Source: " + hk.Path + "\n" + hk.Manifest + "\n"
		}
	}
	return []byte(out), nil
}

// row is one case through one way in.
type row struct {
	c    decodecases.Case
	path decodecases.Path
	// tool is kustomize's or Helm's own verdict; empty for manifests.
	tool   string
	server outcome
	envctl outcome
	// sent compares what both sides sent: "=" the same objects (envctl's
	// own labels and digest aside), "≠ stored =" different bodies that the
	// server stores alike, "≠" otherwise; empty when either refused.
	sent string
}

// agree says whether envctl did what kubectl and the server did.
func (r row) agree() bool {
	return r.server.ok() == r.envctl.ok() && (!r.server.ok() || r.sent == "=")
}

// run puts the case through path p: the tool, kubectl and the server, and
// envctl.
func (h *harness) run(ctx context.Context, c decodecases.Case, p decodecases.Path) (row, error) {
	r := row{c: c, path: p}
	dir, err := os.MkdirTemp(h.root, "case-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	comp, err := writeRepo(dir, c, p)
	if err != nil {
		return r, err
	}
	input := []byte(c.Doc)
	var toolErr error
	switch p {
	case decodecases.Kustomize:
		input, toolErr = kustomizeBuild(dir)
	case decodecases.Helm:
		input, toolErr = helmTemplate(ctx, dir)
	}
	switch {
	case p == decodecases.Manifests:
	case toolErr != nil:
		r.tool = "refused"
		r.server = outcome{refused: string(p), reason: toolErr.Error()}
	default:
		r.tool = "ok"
	}
	if toolErr == nil {
		r.server = h.kubectl(ctx, input)
	}
	r.envctl = h.envctl(ctx, dir, comp)
	if r.server.ok() && r.envctl.ok() {
		r.sent = compareSent(r.server, r.envctl)
	}
	return r, nil
}

// envctlLabels are the labels envctl adds to every object it applies.
var envctlLabels = []string{ownership.LabelManagedBy, ownership.LabelEnvironment, ownership.LabelComponent}

// comparable returns obj without what envctl adds of its own (its labels
// and the digest annotation), and without labels or annotations left empty
// or null, which the server stores alike and envctl always fills.
func comparable(obj *unstructured.Unstructured) map[string]any {
	c := obj.DeepCopy().Object
	md, _ := c["metadata"].(map[string]any)
	if md == nil {
		return c
	}
	if l, ok := md["labels"].(map[string]any); ok {
		for _, k := range envctlLabels {
			delete(l, k)
		}
	}
	if a, ok := md["annotations"].(map[string]any); ok {
		delete(a, kube.DigestAnnotation)
	}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := md[k]; ok {
			if m, isMap := v.(map[string]any); v == nil || isMap && len(m) == 0 {
				delete(md, k)
			}
		}
	}
	return c
}

// storable is comparable without what the server makes anew for every
// request: identity, times, managed fields, allocated cluster IPs.
func storable(obj *unstructured.Unstructured) map[string]any {
	c := comparable(obj)
	if md, ok := c["metadata"].(map[string]any); ok {
		for _, k := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"} {
			delete(md, k)
		}
	}
	if spec, ok := c["spec"].(map[string]any); ok && obj.GetKind() == "Service" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	}
	return c
}

func compareSent(kubectl, envctl outcome) string {
	if len(kubectl.sent) != len(envctl.sent) {
		return "≠"
	}
	same := func(list func(outcome) []*unstructured.Unstructured, norm func(*unstructured.Unstructured) map[string]any) bool {
		a, b := list(kubectl), list(envctl)
		for i := range a {
			ja, _ := json.Marshal(norm(a[i]))
			jb, _ := json.Marshal(norm(b[i]))
			if !bytes.Equal(ja, jb) {
				return false
			}
		}
		return true
	}
	switch {
	case same(func(o outcome) []*unstructured.Unstructured { return o.sent }, comparable):
		return "="
	case same(func(o outcome) []*unstructured.Unstructured { return o.stored }, storable):
		return "≠ stored ="
	}
	return "≠"
}

// sentDiff shows how the bodies differ, for the verbose table.
func sentDiff(r row) string {
	var b strings.Builder
	for i := range min(len(r.server.sent), len(r.envctl.sent)) {
		ja, _ := json.Marshal(comparable(r.server.sent[i]))
		jb, _ := json.Marshal(comparable(r.envctl.sent[i]))
		if !bytes.Equal(ja, jb) {
			fmt.Fprintf(&b, "\n\t\tkubectl: %.300s\n\t\tenvctl:  %.300s", ja, jb)
		}
	}
	return b.String()
}

func newHarness(t *testing.T, getter resource.RESTClientGetter, client *kube.Client) *harness {
	mgr := apply.NewManager(client, apply.DefaultManagerOptions())
	mgr.UseSecretKey([]byte("difftest-fingerprint-key"))
	return &harness{getter: getter, client: client, mgr: mgr, root: t.TempDir(), cache: map[string]answer{}}
}
