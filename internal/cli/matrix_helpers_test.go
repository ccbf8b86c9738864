package cli

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/object"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// invariants are the four checks every scenario of the fault-injection
// matrix ends with:
//  1. no object outside the environment's inventory was changed (the
//     bystanders: objects of others beside the environment's own);
//  2. the inventory never loses a live object it owns (every object
//     labelled for the environment that envctl applied is listed in the
//     stored inventory);
//  3. a canary Secret value appears in no output;
//  4. the next healthy run converges, and the one after it writes nothing.
type invariants struct {
	t          *testing.T
	e          *e2e
	canary     string
	client     kubernetes.Interface
	cfg        *rest.Config
	bystanders []bystander
}

type bystander struct {
	what string
	get  func(ctx context.Context) (metav1.Object, error)
	uid  types.UID
	rv   string
}

// newInvariants starts the checks for e, whose Secret holds canary, on the
// package's cluster; watch adds the bystanders.
func newInvariants(t *testing.T, e *e2e, canary string) *invariants {
	return newInvariantsOn(t, e, canary, testenv.Get(t).RESTConfig())
}

// newInvariantsOn is newInvariants on the cluster of cfg.
func newInvariantsOn(t *testing.T, e *e2e, canary string, cfg *rest.Config) *invariants {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &invariants{t: t, e: e, canary: canary, client: client, cfg: cfg}
}

// watch creates bystanders in namespace ns (created when missing): an
// unlabelled ConfigMap, a ConfigMap labelled for another environment and a
// Secret, and records their state.
func (iv *invariants) watch(ns string) {
	iv.t.Helper()
	ctx := context.Background()
	_, err := iv.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		iv.t.Fatal(err)
	}
	if err == nil {
		iv.t.Cleanup(func() { _ = iv.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	}
	cms := iv.client.CoreV1().ConfigMaps(ns)
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "bystander-unlabelled"}, Data: map[string]string{"k": "v"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bystander-other-env", Labels: map[string]string{
			"app.kubernetes.io/managed-by": "envctl", "envctl.dev/environment": "someone-else", "envctl.dev/component": "app",
		}}, Data: map[string]string{"k": "v"}},
	} {
		got, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			iv.t.Fatal(err)
		}
		name := got.Name
		iv.bystanders = append(iv.bystanders, bystander{what: "ConfigMap " + ns + "/" + name, uid: got.UID, rv: got.ResourceVersion,
			get: func(ctx context.Context) (metav1.Object, error) { return cms.Get(ctx, name, metav1.GetOptions{}) }})
	}
	secrets := iv.client.CoreV1().Secrets(ns)
	s, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bystander-secret"}, StringData: map[string]string{"k": "theirs"}}, metav1.CreateOptions{})
	if err != nil {
		iv.t.Fatal(err)
	}
	iv.bystanders = append(iv.bystanders, bystander{what: "Secret " + ns + "/bystander-secret", uid: s.UID, rv: s.ResourceVersion,
		get: func(ctx context.Context) (metav1.Object, error) {
			return secrets.Get(ctx, "bystander-secret", metav1.GetOptions{})
		}})
}

// check runs invariants 1 to 3 after the scenario named what.
func (iv *invariants) check(what string) {
	iv.t.Helper()
	ctx := context.Background()
	for _, b := range iv.bystanders {
		got, err := b.get(ctx)
		switch {
		case err != nil:
			iv.t.Errorf("%s: bystander %s: %v", what, b.what, err)
		case got.GetUID() != b.uid || got.GetResourceVersion() != b.rv:
			iv.t.Errorf("%s: bystander %s was changed (resourceVersion %s -> %s)", what, b.what, b.rv, got.GetResourceVersion())
		}
	}

	inv, err := inventory.NewStore(iv.client).Load(ctx, iv.e.env)
	if err != nil && !errors.Is(err, inventory.ErrNotFound) {
		iv.t.Errorf("%s: the inventory cannot be read: %v", what, err)
	}
	recorded := inv.Index()
	for _, k := range ownedKeys(iv.t, iv.cfg, iv.e.env) {
		if _, ok := recorded[k]; !ok {
			iv.t.Errorf("%s: live object %s, applied by envctl for environment %s, is not in its inventory", what, k, iv.e.env)
		}
	}

	noCanary(iv.t, what, iv.e.transcript.String(), iv.canary)
}

// converge runs invariant 4: a healthy run (as a process, with debug logs,
// so that the canary check covers them) exits 0, and the next one writes
// nothing. args are the command ("apply" or "up") and its flags.
func (iv *invariants) converge(what string, args ...string) {
	iv.t.Helper()
	p := iv.e.start("", nil, append(args, "-vv")...)
	if code := p.wait(timeoutRun); code != ExitOK {
		iv.t.Fatalf("%s: the next healthy run exited %d", what, code)
	}
	p = iv.e.start("", nil, append(args, "-o", "json")...)
	if code := p.wait(timeoutRun); code != ExitOK {
		iv.t.Fatalf("%s: the run after it exited %d", what, code)
	}
	var s ui.Summary
	if err := json.Unmarshal(p.out.Bytes(), &s); err != nil {
		iv.t.Fatalf("%s: summary: %v", what, err)
	}
	if s.Requests.Writes != 0 {
		iv.t.Errorf("%s: the second healthy run made %d writes, want 0", what, s.Requests.Writes)
	}
	noCanary(iv.t, what, iv.e.transcript.String(), iv.canary)
}

// ownedKeys lists the objects of every listable kind that carry env's
// ownership labels and envctl's digest annotation: what envctl applied.
func ownedKeys(t *testing.T, cfg *rest.Config, env string) []object.Key {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := discovery.ServerPreferredResources(disc)
	if err != nil && len(lists) == 0 {
		t.Fatal(err)
	}
	var out []object.Key
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			list, err := dyn.Resource(gv.WithResource(r.Name)).List(context.Background(), metav1.ListOptions{
				LabelSelector: "app.kubernetes.io/managed-by=envctl,envctl.dev/environment=" + env,
			})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			for _, it := range list.Items {
				if _, ok := it.GetAnnotations()[kube.DigestAnnotation]; !ok {
					continue
				}
				out = append(out, object.Key{Group: gv.Group, Kind: r.Kind, Namespace: it.GetNamespace(), Name: it.GetName()})
			}
		}
	}
	return out
}
