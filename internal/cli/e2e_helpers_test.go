package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/envctl/envctl/internal/testenv"
)

// e2e is one end-to-end test: a repository written to a temp dir, with one
// environment whose cluster is the test cluster, and a transcript of every
// byte the commands wrote.
type e2e struct {
	t          *testing.T
	env        string
	repo       string
	ns         string
	kubeconfig string
	transcript bytes.Buffer
	// home is the home directory of the envctl processes the test starts
	// (e.start), made on first use.
	home string
	// ownCluster says that the environment declares a cluster of its own
	// (embedded), so that commands are not pointed at the test cluster.
	ownCluster bool
}

// newE2E writes a repository for environment env, whose single component
// "app" is the kustomize overlay overlays/app. Objects go in namespace
// "e2e-ENV", which the overlay declares.
func newE2E(t *testing.T, env string) *e2e {
	t.Helper()
	te := testenv.Get(t)
	e := &e2e{t: t, env: env, repo: t.TempDir(), ns: "e2e-" + env, kubeconfig: te.Kubeconfig(t)}
	e.write("config.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Config
metadata:
  name: e2e
spec:
  defaultEnvironment: `+env+`
  apply:
    timeout: 90s
`)
	e.write("environments/"+env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: `+env+`
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      kustomize: overlays/app
`)
	t.Cleanup(func() {
		// Best effort: a test that failed half-way must not leave its
		// namespace to the next package run. The cluster is per package.
		_ = te.Clientset().CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{})
	})
	return e
}

// write writes a repository file.
func (e *e2e) write(rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.repo, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// overlay writes overlays/app: a kustomization listing the given resource
// files (name -> YAML, NS replaced by the test's namespace) plus extra
// kustomization lines.
func (e *e2e) overlay(resources map[string]string, extra string) {
	e.t.Helper()
	var list strings.Builder
	for name, body := range resources {
		e.write("overlays/app/"+name, strings.ReplaceAll(body, "NS", e.ns))
		fmt.Fprintf(&list, "  - %s\n", name)
	}
	res := "resources:\n" + list.String()
	if len(resources) == 0 {
		res = "resources: []\n"
	}
	e.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"+res+strings.ReplaceAll(extra, "NS", e.ns))
	for _, old := range e.staleFiles(resources) {
		_ = os.Remove(old)
	}
}

// staleFiles are resource files of earlier overlay calls that the current
// one does not list.
func (e *e2e) staleFiles(resources map[string]string) []string {
	entries, _ := os.ReadDir(filepath.Join(e.repo, "overlays/app"))
	var out []string
	for _, d := range entries {
		if _, ok := resources[d.Name()]; !ok && d.Name() != "kustomization.yaml" {
			out = append(out, filepath.Join(e.repo, "overlays/app", d.Name()))
		}
	}
	return out
}

// args are the arguments of envctl args: --repo first and, for the
// commands that reach a cluster, the test cluster's --kubeconfig, unless
// the environment has a cluster of its own.
func (e *e2e) args(args []string) []string {
	full := append([]string{"--repo", e.repo}, args...)
	switch args[0] {
	case "apply", "diff", "status", "down":
		if !e.ownCluster {
			full = append(full, "--kubeconfig", e.kubeconfig)
		}
	}
	return full
}

// run runs envctl with e.args(args) and returns its output and exit code.
func (e *e2e) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	full := e.args(args)
	var out, errOut bytes.Buffer
	code = Main(full, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	fmt.Fprintf(&e.transcript, "$ envctl %s (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	e.t.Logf("envctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// mustRun runs envctl and fails the test unless it exits with want.
func (e *e2e) mustRun(want int, args ...string) (stdout, stderr string) {
	e.t.Helper()
	stdout, stderr, code := e.run(args...)
	if code != want {
		e.t.Fatalf("envctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// ourObjects lists every object in the cluster, of every listable kind,
// that carries env's environment label.
func ourObjects(t *testing.T, env string) []string {
	t.Helper()
	te := testenv.Get(t)
	disc, err := discovery.NewDiscoveryClientForConfig(te.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	lists, err := discovery.ServerPreferredResources(disc)
	if err != nil && len(lists) == 0 {
		t.Fatal(err)
	}
	var found []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") {
				continue
			}
			list, err := te.Dynamic().Resource(gv.WithResource(r.Name)).List(context.Background(), metav1.ListOptions{LabelSelector: "envctl.dev/environment=" + env})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			for _, it := range list.Items {
				if it.GetDeletionTimestamp() != nil {
					found = append(found, fmt.Sprintf("%s %s/%s (terminating)", r.Kind, it.GetNamespace(), it.GetName()))
					continue
				}
				found = append(found, fmt.Sprintf("%s %s/%s", r.Kind, it.GetNamespace(), it.GetName()))
			}
		}
	}
	return found
}

// writeSOPSEnvironment declares e's environment on the test cluster with
// one component, app (overlays/app), whose SOPS files are decrypted.
func (e *e2e) writeSOPSEnvironment() {
	e.write("environments/"+e.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: `+e.env+`
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      kustomize: overlays/app
      decryption: {provider: sops}
`)
}
