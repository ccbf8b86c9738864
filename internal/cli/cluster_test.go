package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster"
)

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

// testdataDir is absolute because the cluster tests change directory.
var testdataDir, _ = filepath.Abs("testdata")

// clusterCLI runs envctl in a sandbox: an empty working directory (so no
// repository is found above it), a state directory, a kubeconfig and a PATH
// of its own. It returns the exit code, stdout and stderr.
type clusterCLI struct {
	t          *testing.T
	dir        string
	state      string
	kubeconfig string
	bin        string
}

func newClusterCLI(t *testing.T) *clusterCLI {
	t.Helper()
	c := &clusterCLI{t: t, dir: t.TempDir(), state: t.TempDir(), bin: t.TempDir()}
	c.kubeconfig = filepath.Join(t.TempDir(), "config")
	t.Chdir(c.dir)
	t.Setenv("XDG_STATE_HOME", c.state)
	t.Setenv("KUBECONFIG", c.kubeconfig)
	t.Setenv("PATH", c.bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	c.docker(`echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`)
	return c
}

// docker installs a fake docker client running script.
func (c *clusterCLI) docker(script string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.bin, "docker"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		c.t.Fatal(err)
	}
}

func (c *clusterCLI) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// writeClusterFiles writes files (path relative to root: content).
func writeClusterFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClusterCommandsRejectBadInput(t *testing.T) {
	c := newClusterCLI(t)
	embedded := slices.Contains(cluster.Registered(), "embedded")
	for _, tc := range []struct {
		args []string
		want []string
		skip bool
	}{
		{[]string{"cluster", "create", "--provider", "minikube"}, []string{`unknown provider "minikube"; valid providers: auto, embedded, kind, existing`}, false},
		{[]string{"cluster", "create", "Bad_Name"}, []string{`invalid cluster name "Bad_Name"`}, false},
		{[]string{"cluster", "create", strings.Repeat("x", 41)}, []string{"41 characters, at most 40"}, false},
		{[]string{"cluster", "create", "a", "--name", "b"}, []string{`the cluster is named twice: "a" as the argument and "b" with --name`}, false},
		{[]string{"cluster", "create", "a", "b"}, []string{"accepts at most 1 arg(s)", "envctl cluster create --help"}, false},
		{[]string{"cluster", "create", "-o", "xml"}, []string{`unknown output format "xml"`}, false},
		{[]string{"cluster", "create", "--wait", "-1s"}, []string{"--wait -1s"}, false},
		{[]string{"cluster", "create", "--cluster-timeout", "-1s"}, []string{"--cluster-timeout -1s"}, false},
		{[]string{"cluster", "load"}, []string{"requires at least 1 arg(s)"}, false},
		{[]string{"cluster", "load", "model:dev", "--name", "nope"}, []string{`cluster "nope" not found`}, false},
		{[]string{"cluster", "create", "--provider", "kind"}, []string{
			"provider kind needs a container runtime: no container runtime answered",
			"docker: Cannot connect to the Docker daemon",
			"podman: not installed (not found in PATH)",
			"nerdctl: not installed (not found in PATH)",
		}, false},
		{[]string{"cluster", "create", "--provider", "embedded"}, []string{`provider "embedded": this build of envctl has no embedded control plane`}, embedded},
		{[]string{"cluster", "create", "--env", "dev"}, []string{"no envctl repository found"}, false},
		{[]string{"cluster", "delete", "nope"}, []string{`cluster "nope" not found (looked in: `}, false},
		{[]string{"cluster", "delete", "nope", "--provider", "kind"}, []string{`kind cluster "nope" not found`}, false},
		{[]string{"cluster", "kubeconfig", "nope", "--provider", "kind", "--print"}, []string{`kind cluster "nope" not found`}, false},
		{[]string{"cluster", "delete"}, []string{"name the cluster to delete"}, false},
		{[]string{"cluster", "kubeconfig"}, []string{"name the cluster"}, false},
		{[]string{"cluster", "kubeconfig", "x", "--print", "--write"}, []string{"--write excludes --print and --internal"}, false},
		{[]string{"cluster", "kubeconfig", "nope"}, []string{`cluster "nope" not found`}, false},
		{[]string{"cluster", "list", "-o", "xml"}, []string{`unknown output format "xml"`}, false},
		{[]string{"cluster", "list", "extra"}, []string{`unknown command "extra"`}, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if tc.skip {
				t.Skip("the embedded provider is registered in this build")
			}
			code, out, errOut := c.run(tc.args...)
			if code != ExitInput {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, ExitInput, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not say %q:\n%s", w, errOut)
				}
			}
			if out != "" {
				t.Errorf("stdout should be empty on failure, got:\n%s", out)
			}
		})
	}
}

func TestClusterHelpHasExamples(t *testing.T) {
	c := newClusterCLI(t)
	for _, sub := range []string{"create", "delete", "list", "kubeconfig", "load"} {
		code, out, _ := c.run("cluster", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "envctl cluster "+sub) {
			t.Errorf("cluster %s --help (exit %d) lacks examples:\n%s", sub, code, out)
		}
	}
}

const apiToken = "cli-test-token"

// fakeAPIServer answers /version and /api/v1/nodes like a Kubernetes API
// server, to an authenticated client only.
func fakeAPIServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/version":
			fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
		case "/api/v1/nodes":
			fmt.Fprint(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}},{"metadata":{"name":"c"}}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeExistingRepo writes a repository whose environment prod points at
// srv through a kubeconfig of its own, and returns the root.
func writeExistingRepo(t *testing.T, srv *httptest.Server) (root, kc string) {
	t.Helper()
	root = t.TempDir()
	kc = filepath.Join(t.TempDir(), "prod-kubeconfig")
	ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	writeClusterFiles(t, filepath.Dir(kc), map[string]string{filepath.Base(kc): fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: other
clusters:
- {name: prod, cluster: {server: %q, certificate-authority-data: %s}}
users:
- {name: admin, user: {token: %s}}
contexts:
- {name: prod-admin, context: {cluster: prod, user: admin}}
- {name: other, context: {cluster: prod, user: nobody}}
`, srv.URL, ca, apiToken)})
	writeClusterFiles(t, root, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: prod\n",
		"environments/prod.yaml": fmt.Sprintf(`apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  cluster:
    provider: existing
    name: prod
    existing: {kubeconfig: %q, context: prod-admin}
  components:
    - name: platform
      kustomize: overlays/prod
`, kc),
		"overlays/prod/kustomization.yaml": "resources: []\n",
	})
	return root, kc
}

func TestClusterCommandsOnExistingCluster(t *testing.T) {
	c := newClusterCLI(t)
	srv := fakeAPIServer(t)
	repo, kc := writeExistingRepo(t, srv)

	code, out, errOut := c.run("cluster", "create", "-C", repo, "--env", "prod")
	if code != 0 {
		t.Fatalf("create: exit %d\n%s", code, errOut)
	}
	want := fmt.Sprintf("Cluster prod is ready: existing, Kubernetes v1.37.2, 3 nodes.\n  server:  %s\n  context: prod-admin\nTry: kubectl --context prod-admin get nodes\n", srv.URL)
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("create stdout (-want +got):\n%s", diff)
	}
	for _, w := range []string{"Cluster prod of environment prod\n", "• Connecting to context prod-admin of " + kc + "\n", "✓ Connecting to context prod-admin of " + kc + " ("} {
		if !strings.Contains(errOut, w) {
			t.Errorf("create stderr does not say %q:\n%s", w, errOut)
		}
	}
	if _, err := os.Stat(c.kubeconfig); err == nil {
		t.Errorf("create wrote %s for an existing cluster", c.kubeconfig)
	}

	// The default environment is prod, so --env may be left out.
	code, out, errOut = c.run("cluster", "create", "-C", repo, "-o", "json")
	if code != 0 {
		t.Fatalf("create -o json: exit %d\n%s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("create -o json printed no JSON: %v\n%s", err, out)
	}
	for k, v := range map[string]any{"name": "prod", "provider": "existing", "status": "running", "version": "v1.37.2", "nodes": 3.0, "context": "prod-admin"} {
		if res[k] != v {
			t.Errorf("create -o json: %s = %v, want %v", k, res[k], v)
		}
	}

	code, out, errOut = c.run("cluster", "list", "-C", repo, "-o", "json")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, errOut)
	}
	var list []cluster.Info
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	wantList := []cluster.Info{{Name: "prod", Provider: "existing", Context: "prod-admin", Server: srv.URL, Version: "v1.37.2", Status: "running", Nodes: 3}}
	if diff := cmp.Diff(wantList, list); diff != "" {
		t.Errorf("list -o json (-want +got):\n%s", diff)
	}

	code, out, errOut = c.run("cluster", "kubeconfig", "-C", repo, "prod", "--print")
	if code != 0 {
		t.Fatalf("kubeconfig --print: exit %d\n%s", code, errOut)
	}
	cfg, err := clientcmd.Load([]byte(out))
	if err != nil || cfg.CurrentContext != "prod-admin" || len(cfg.Contexts) != 1 {
		t.Errorf("kubeconfig --print gave %d contexts, current %q, err %v; want only prod-admin", len(cfg.Contexts), cfg.CurrentContext, err)
	}

	code, _, errOut = c.run("cluster", "kubeconfig", "-C", repo, "prod")
	if code != ExitInput || !strings.Contains(errOut, "cluster prod is an existing cluster: its context is already in your kubeconfig") {
		t.Errorf("kubeconfig --write of an existing cluster: exit %d\n%s", code, errOut)
	}

	code, _, errOut = c.run("cluster", "delete", "-C", repo, "--name", "prod")
	if code != ExitInput || !strings.Contains(errOut, "envctl does not delete clusters it did not create") {
		t.Errorf("delete of an existing cluster: exit %d\n%s", code, errOut)
	}
	// Only --print, asked for, shows credentials.
	for _, args := range [][]string{
		{"cluster", "create", "-C", repo},
		{"cluster", "create", "-C", repo, "-o", "json"},
		{"cluster", "list", "-C", repo},
		{"cluster", "list", "-C", repo, "-o", "json"},
		{"cluster", "delete", "-C", repo, "prod"},
		{"-vv", "cluster", "create", "-C", repo},
	} {
		if _, out, errOut := c.run(args...); strings.Contains(out+errOut, apiToken) {
			t.Errorf("envctl %s shows the token", strings.Join(args, " "))
		}
	}
}

func TestClusterCreateUnreachableExistingCluster(t *testing.T) {
	c := newClusterCLI(t)
	srv := fakeAPIServer(t)
	repo, _ := writeExistingRepo(t, srv)
	srv.Close()
	code, _, errOut := c.run("cluster", "create", "-C", repo)
	if code != ExitCluster {
		t.Errorf("exit %d, want %d (cluster unreachable)\n%s", code, ExitCluster, errOut)
	}
	for _, w := range []string{"✗ Connecting to context prod-admin", "cluster prod (context prod-admin of", "does not answer", srv.URL} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr does not say %q:\n%s", w, errOut)
		}
	}
}

// answeringDocker answers kind's questions and has no clusters.
const answeringDocker = `case "$1 $2 $3" in
"info --format {{.ServerVersion}}") echo 27.3.1 ;;
"info --format {{json .}}") echo '{"CgroupVersion":"2"}' ;;
esac
exit 0`

func TestClusterListAndDeleteKindRecords(t *testing.T) {
	c := newClusterCLI(t)
	created := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	for _, name := range []string{"scratch", "envctl-local"} {
		writeClusterFiles(t, c.state, map[string]string{
			filepath.Join("envctl", "clusters", "kind", name, "cluster.json"): fmt.Sprintf(`{"name": %q, "runtime": "docker", "created": %q}`, name, created.Format(time.RFC3339)),
		})
	}

	code, out, errOut := c.run("cluster", "list")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s", code, errOut)
	}
	checkClusterGolden(t, "cluster-list-runtime-down.txt", out)

	c.docker(answeringDocker)
	code, out, errOut = c.run("cluster", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("list -o json: exit %d\n%s", code, errOut)
	}
	var list []cluster.Info
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "envctl-local" || list[0].Status != "missing" || !list[0].Created.Equal(created) {
		t.Errorf("list -o json = %+v; want envctl-local and scratch, missing, created %v", list, created)
	}

	// Deleting a cluster removes its kind-NAME context (and the
	// envctl-NAME of earlier releases) and nothing else.
	writeClusterFiles(t, filepath.Dir(c.kubeconfig), map[string]string{filepath.Base(c.kubeconfig): `apiVersion: v1
kind: Config
current-context: kind-scratch
clusters:
- {name: kind-scratch, cluster: {server: "https://127.0.0.1:1"}}
- {name: envctl-scratch, cluster: {server: "https://127.0.0.1:1"}}
- {name: mine, cluster: {server: "https://example.com"}}
users:
- {name: kind-scratch, user: {}}
- {name: envctl-scratch, user: {}}
contexts:
- {name: kind-scratch, context: {cluster: kind-scratch, user: kind-scratch}}
- {name: envctl-scratch, context: {cluster: envctl-scratch, user: envctl-scratch}}
- {name: mine, context: {cluster: mine, user: ""}}
`})
	code, out, errOut = c.run("cluster", "delete", "scratch")
	if code != 0 {
		t.Fatalf("delete: exit %d\n%s", code, errOut)
	}
	if out != "Deleted cluster scratch (kind).\n" {
		t.Errorf("delete stdout = %q", out)
	}
	for _, w := range []string{"✓ Deleting kind cluster scratch", "✓ Removing context kind-scratch from " + c.kubeconfig, "Context kind-scratch was the current context; none is current now"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("delete stderr does not say %q:\n%s", w, errOut)
		}
	}
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Contexts) != 1 || cfg.Contexts["mine"] == nil || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 0 || cfg.CurrentContext != "" {
		t.Errorf("after delete: contexts %v, current %q; want only mine, none current", slices.Sorted(maps.Keys(cfg.Contexts)), cfg.CurrentContext)
	}
	code, _, errOut = c.run("cluster", "delete", "scratch")
	if code != ExitInput || !strings.Contains(errOut, `cluster "scratch" not found`) {
		t.Errorf("second delete: exit %d\n%s", code, errOut)
	}
}

// checkClusterGolden compares got with testdata/name; -update rewrites it.
func checkClusterGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

func TestClusterDeleteRefusesForeignKindCluster(t *testing.T) {
	c := newClusterCLI(t)
	c.docker(`case "$1 $2 $3" in
"info --format {{.ServerVersion}}") echo 27.3.1 ;;
"ps -a --filter") echo theirs ;;
esac
exit 0`)
	code, _, errOut := c.run("cluster", "delete", "theirs", "--provider", "kind")
	if code != ExitInput {
		t.Errorf("exit %d, want %d", code, ExitInput)
	}
	for _, w := range []string{"kind cluster theirs was not created by envctl", "kind delete cluster --name theirs"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr does not say %q:\n%s", w, errOut)
		}
	}
}

// Deleting a cluster leaves a current context that names another cluster:
// only a current context that pointed at the deleted cluster is cleared
// (TestClusterListAndDeleteKindRecords covers that one).
func TestClusterDeleteKeepsAnotherCurrentContext(t *testing.T) {
	c := newClusterCLI(t)
	writeClusterFiles(t, c.state, map[string]string{
		filepath.Join("envctl", "clusters", "kind", "scratch", "cluster.json"): `{"name": "scratch", "runtime": "docker", "created": "2026-01-02T03:04:05Z"}`,
	})
	c.docker(answeringDocker)
	writeClusterFiles(t, filepath.Dir(c.kubeconfig), map[string]string{filepath.Base(c.kubeconfig): `apiVersion: v1
kind: Config
current-context: mine
clusters:
- {name: kind-scratch, cluster: {server: "https://127.0.0.1:1"}}
- {name: mine, cluster: {server: "https://example.com"}}
users:
- {name: kind-scratch, user: {}}
contexts:
- {name: kind-scratch, context: {cluster: kind-scratch, user: kind-scratch}}
- {name: mine, context: {cluster: mine, user: ""}}
`})
	if code, _, errOut := c.run("cluster", "delete", "scratch"); code != 0 {
		t.Fatalf("delete: exit %d\n%s", code, errOut)
	}
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Contexts["kind-scratch"]; ok || cfg.CurrentContext != "mine" {
		t.Errorf("after delete: contexts %v, current %q; want kind-scratch gone and mine still current", slices.Sorted(maps.Keys(cfg.Contexts)), cfg.CurrentContext)
	}
}
