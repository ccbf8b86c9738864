package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/ownership"
	"github.com/envctl/envctl/internal/render"
)

// fixture is one environment on the test cluster: its own name and
// namespace, a render that the test edits between reconciles, and a client
// whose requests are counted.
type fixture struct {
	t       *testing.T
	name    string
	ns      string
	client  *kube.Client
	counter *kube.Counter
	env     *config.Environment
	comps   []*render.Component
	events  []Event
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ns := testNamespace(t)
	cfg, counter := kube.CountingConfig(testConfig(t))
	client, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, name: "env-" + ns, ns: ns, client: client, counter: counter}
}

// component sets the objects of a component, labelled as render labels
// them. Each document is YAML with NS standing for the test namespace.
func (f *fixture) component(name string, dependsOn []string, docs ...string) *render.Component {
	f.t.Helper()
	c := &render.Component{Name: name, DependsOn: dependsOn}
	for _, d := range docs {
		c.Objects = append(c.Objects, f.object(name, d))
	}
	for i, old := range f.comps {
		if old.Name == name {
			f.comps[i] = c
			return c
		}
	}
	f.comps = append(f.comps, c)
	return c
}

func (f *fixture) object(component, doc string) *unstructured.Unstructured {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "NS", f.ns)), &u.Object); err != nil {
		f.t.Fatalf("test manifest: %v", err)
	}
	l := u.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[ownership.LabelManagedBy] = ownership.ManagedByValue
	l[ownership.LabelEnvironment] = f.name
	l[ownership.LabelComponent] = component
	u.SetLabels(l)
	return u
}

// reconcile runs the engine on the current render and returns the result,
// the error and the requests it made.
func (f *fixture) reconcile(edit ...func(*runOptions)) (*Result, error, kube.Snapshot) {
	f.t.Helper()
	env := &config.Environment{Metadata: config.Metadata{Name: f.name}}
	for _, c := range f.comps {
		env.Spec.Components = append(env.Spec.Components, config.Component{Name: c.Name, DependsOn: c.DependsOn})
	}
	comps := append([]*render.Component(nil), f.comps...)
	opts := runOptions{
		Environment: env,
		Settings:    config.DefaultSettings(),
		Revision:    "test",
		Render: func(context.Context, *inventory.Inventory) (*render.Result, error) {
			return &render.Result{Environment: f.name, Components: comps}, nil
		},
		Client:  f.client,
		Policy:  Policy{Timeout: 60 * time.Second},
		OnEvent: func(e Event) { f.events = append(f.events, e) },
	}
	for _, e := range edit {
		e(&opts)
	}
	f.events = nil
	before := f.counter.Snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := reconcile(ctx, opts)
	return res, err, f.counter.Snapshot().Sub(before)
}

func (f *fixture) get(gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	return f.client.Dynamic.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
}

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	jobs       = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

func counts(res *Result) map[string]Counts {
	out := map[string]Counts{}
	for _, c := range res.Components {
		out[c.Name] = c.Counts
	}
	return out
}

func deployment(name string, replicas int, cpu string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":"NS"},
		"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},
		"spec":{"containers":[{"name":"main","image":"example.com/%s:1","resources":{"requests":{"cpu":%q}}}]}}}}`, name, replicas, name, name, name, cpu)
}

func configMap(name, value string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"NS"},"data":{"k":%q}}`, name, value)
}

// requireNodes skips a test that needs pods to run when the cluster has no
// Ready node.
func requireNodes(t *testing.T, f *fixture) {
	t.Helper()
	nodes, err := f.client.Clientset.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return
			}
		}
	}
	t.Skip("the test cluster has no Ready node")
}
