package kubeconfig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envctl/envctl/internal/errs"
)

// userFile is a kubeconfig as a user might have it: several contexts,
// preferences, an extension, a namespace, and an exec plugin, all of which
// a merge must leave alone.
const userFile = `apiVersion: v1
kind: Config
preferences:
  colors: true
current-context: prod
clusters:
- name: prod
  cluster:
    server: https://prod.example.com:6443
    certificate-authority-data: Y2EtZGF0YQ==
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: prod
- name: staging
  cluster:
    server: https://staging.example.com
    insecure-skip-tls-verify: true
users:
- name: alice
  user:
    token: not-a-real-token
- name: sso
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sso-helper
      args: [token]
      interactiveMode: Never
contexts:
- name: prod
  context: {cluster: prod, user: sso, namespace: ml}
- name: staging
  context: {cluster: staging, user: alice}
`

// clusterKubeconfig is what a provider hands over: one context, named the
// way that provider names it.
func clusterKubeconfig(name, server string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: kind-%[1]s
clusters:
- name: kind-%[1]s
  cluster: {server: %[2]s, certificate-authority-data: Y2E=}
users:
- name: kind-%[1]s
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
contexts:
- name: kind-%[1]s
  context: {cluster: kind-%[1]s, user: kind-%[1]s}
`, name, server))
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

// ignoreOrigin drops the field LoadFromFile fills in with the file name.
var ignoreOrigin = cmp.Options{
	cmpopts.IgnoreFields(clientcmdapi.Cluster{}, "LocationOfOrigin"),
	cmpopts.IgnoreFields(clientcmdapi.AuthInfo{}, "LocationOfOrigin"),
	cmpopts.IgnoreFields(clientcmdapi.Context{}, "LocationOfOrigin"),
}

// without returns cfg with the named entries removed, for comparing the
// rest of a file before and after a change.
func without(cfg *clientcmdapi.Config, name string) *clientcmdapi.Config {
	out := cfg.DeepCopy()
	delete(out.Clusters, name)
	delete(out.AuthInfos, name)
	delete(out.Contexts, name)
	return out
}

func TestContextName(t *testing.T) {
	for _, tc := range []struct{ cluster, want string }{
		{"ml", "envctl-ml"},
		{"envctl-local", "envctl-local"},
		{"envctlx", "envctl-envctlx"},
	} {
		if got := ContextName(tc.cluster); got != tc.want {
			t.Errorf("ContextName(%q) = %q, want %q", tc.cluster, got, tc.want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	writeFile(t, exists, "apiVersion: v1\nkind: Config\n", 0o600)
	sep := string(os.PathListSeparator)
	// client-go's rules, which kubectl follows: the only file; else the
	// first that exists; else the last.
	for _, tc := range []struct{ env, want string }{
		{"", filepath.Join(home, ".kube", "config")},
		{"/a/only", "/a/only"},
		{"/a/first" + sep + exists + sep + "/b/third", exists},
		{"/a/first" + sep + "/b/second", "/b/second"},
		{sep + "/b/second", "/b/second"},
	} {
		t.Setenv("KUBECONFIG", tc.env)
		got, err := DefaultPath()
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("KUBECONFIG=%q: DefaultPath() = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestMergeKeepsOtherEntries(t *testing.T) {
	for _, current := range []Current{CurrentIfUnset, CurrentNever, CurrentAlways} {
		t.Run(fmt.Sprintf("current=%d", current), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			writeFile(t, path, userFile, 0o644)
			before := load(t, path)

			got, err := Merge(context.Background(), WriteOptions{Path: path, Current: current}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:40001"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Context != "envctl-ml" || got.Path != path {
				t.Errorf("Merge wrote context %q to %q, want envctl-ml to %s", got.Context, got.Path, path)
			}
			after := load(t, path)
			if diff := cmp.Diff(without(before, "envctl-ml"), without(after, "envctl-ml"), ignoreOrigin, cmpopts.IgnoreFields(clientcmdapi.Config{}, "CurrentContext")); diff != "" {
				t.Errorf("other entries changed (-before +after):\n%s", diff)
			}
			wantCurrent := "prod"
			if current == CurrentAlways {
				wantCurrent = "envctl-ml"
			}
			if after.CurrentContext != wantCurrent || got.Current != (wantCurrent == "envctl-ml") || got.Previous != "prod" {
				t.Errorf("current-context = %q, Written %+v; want %q, previous prod", after.CurrentContext, got, wantCurrent)
			}
			c := after.Contexts["envctl-ml"]
			if c == nil || c.Cluster != "envctl-ml" || c.AuthInfo != "envctl-ml" {
				t.Fatalf("context envctl-ml = %+v, want cluster and user envctl-ml", c)
			}
			if s := after.Clusters["envctl-ml"].Server; s != "https://127.0.0.1:40001" {
				t.Errorf("server = %q", s)
			}
			if string(after.AuthInfos["envctl-ml"].ClientKeyData) != "key" {
				t.Errorf("client key not carried over")
			}
			assertMode(t, path, 0o600)
			assertNoLockLeft(t, path)
		})
	}
}

// The current-context rules of issue 12, as kind has them where the user
// has not chosen a context: a kubeconfig without a (usable) current context
// gets the new one; one whose user chose a context keeps it, including a
// choice made in another file of $KUBECONFIG.
func TestMergeCurrentContextRules(t *testing.T) {
	const noCurrent = "apiVersion: v1\nkind: Config\ncontexts:\n- {name: mine, context: {cluster: mine}}\nclusters:\n- {name: mine, cluster: {server: \"https://example.com\"}}\n"
	const current = "apiVersion: v1\nkind: Config\ncurrent-context: mine\ncontexts:\n- {name: mine, context: {cluster: mine}}\nclusters:\n- {name: mine, cluster: {server: \"https://example.com\"}}\n"
	const dangling = "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
	for _, tc := range []struct {
		name string
		file string // "" for no file
		// other is a second $KUBECONFIG file after ours; before, when
		// set, is one listed before ours.
		other, before string
		current       Current
		wantFile      string // current-context in our file afterwards
		wantBefore    string // current-context in the file before ours
		wantCurrent   bool
		wantPrevious  string
	}{
		{name: "no file", current: CurrentIfUnset, wantFile: "envctl-ml", wantCurrent: true},
		{name: "no current context", file: noCurrent, current: CurrentIfUnset, wantFile: "envctl-ml", wantCurrent: true},
		{name: "dangling current context", file: dangling, current: CurrentIfUnset, wantFile: "envctl-ml", wantCurrent: true},
		{name: "user's current context", file: current, current: CurrentIfUnset, wantFile: "mine", wantPrevious: "mine"},
		{name: "already current", file: strings.Replace(current, "current-context: mine", "current-context: envctl-ml", 1), current: CurrentIfUnset, wantFile: "envctl-ml", wantCurrent: true},
		{name: "set in a later KUBECONFIG file", file: noCurrent, other: current, current: CurrentIfUnset, wantFile: "", wantPrevious: "mine"},
		{name: "set in an earlier KUBECONFIG file", file: noCurrent, before: current, current: CurrentIfUnset, wantFile: "", wantPrevious: "mine"},
		{name: "always, over the user's", file: current, current: CurrentAlways, wantFile: "envctl-ml", wantCurrent: true, wantPrevious: "mine"},
		// As kubectl config use-context: the first file that sets one is
		// where current-context is changed.
		{name: "always, behind an earlier KUBECONFIG file", file: noCurrent, before: current, current: CurrentAlways, wantFile: "", wantBefore: "envctl-ml", wantCurrent: true, wantPrevious: "mine"},
		{name: "never, none set", file: noCurrent, current: CurrentNever, wantFile: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			if tc.file != "" {
				writeFile(t, path, tc.file, 0o600)
			}
			list := []string{path}
			if tc.before != "" {
				p := filepath.Join(dir, "before")
				writeFile(t, p, tc.before, 0o600)
				list = append([]string{p}, list...)
			}
			if tc.other != "" {
				p := filepath.Join(dir, "other")
				writeFile(t, p, tc.other, 0o600)
				list = append(list, p)
			}
			t.Setenv("KUBECONFIG", strings.Join(list, string(os.PathListSeparator)))
			got, err := Merge(context.Background(), WriteOptions{Current: tc.current}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1"))
			if err != nil {
				t.Fatal(err)
			}
			if cur := load(t, path).CurrentContext; cur != tc.wantFile {
				t.Errorf("current-context in the file = %q, want %q", cur, tc.wantFile)
			}
			if tc.before != "" {
				want := "mine"
				if tc.wantBefore != "" {
					want = tc.wantBefore
				}
				if cur := load(t, filepath.Join(dir, "before")).CurrentContext; cur != want {
					t.Errorf("current-context in the earlier file = %q, want %q", cur, want)
				}
			}
			if got.Current != tc.wantCurrent || got.Previous != tc.wantPrevious {
				t.Errorf("Written = %+v, want Current %v, Previous %q", got, tc.wantCurrent, tc.wantPrevious)
			}
		})
	}
}

func TestMergeReplacesEarlierEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	ctx := context.Background()
	for _, server := range []string{"https://127.0.0.1:1111", "https://127.0.0.1:2222"} {
		if _, err := Merge(ctx, WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", server)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := load(t, path)
	if got := cfg.Clusters["envctl-ml"].Server; got != "https://127.0.0.1:2222" {
		t.Errorf("server = %q, want the later one", got)
	}
	if len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 {
		t.Errorf("want exactly one context, cluster and user; got %d, %d, %d", len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos))
	}
}

func TestMergeCreatesMissingFileAndDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".kube", "config")
	if _, err := Merge(context.Background(), WriteOptions{Path: path, Current: CurrentAlways}, "a", clusterKubeconfig("a", "https://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	if cfg := load(t, path); cfg.CurrentContext != "envctl-a" {
		t.Errorf("current-context = %q", cfg.CurrentContext)
	}
	assertMode(t, path, 0o600)
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", st.Mode().Perm())
	}
}

func TestMergeFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles-kubeconfig")
	link := filepath.Join(dir, "config")
	writeFile(t, target, userFile, 0o600)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(context.Background(), WriteOptions{Path: link}, "a", clusterKubeconfig("a", "https://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink", link)
	}
	if _, ok := load(t, target).Contexts["envctl-a"]; !ok {
		t.Errorf("context not written to the link's target")
	}
}

func TestMergeRefusesInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	const garbage = "clusters: [this is: not: a kubeconfig\n"
	writeFile(t, path, garbage, 0o600)
	_, err := Merge(context.Background(), WriteOptions{Path: path}, "a", clusterKubeconfig("a", "https://127.0.0.1:1"))
	if err == nil {
		t.Fatal("Merge into an unparsable file succeeded")
	}
	if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v (kind %v), want bad input naming %s", err, errs.KindOf(err), path)
	}
	if b, _ := os.ReadFile(path); string(b) != garbage {
		t.Errorf("file was changed to:\n%s", b)
	}
}

func TestMergeRejectsKubeconfigWithoutContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	_, err := Merge(context.Background(), WriteOptions{Path: path}, "a", []byte("apiVersion: v1\nkind: Config\n"))
	if err == nil || !strings.Contains(err.Error(), "cluster a") {
		t.Fatalf("err = %v, want an error naming cluster a", err)
	}
	if _, statErr := os.Stat(path); statErr == nil {
		t.Errorf("file written despite the error")
	}
}

func TestRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, userFile, 0o600)
	ctx := context.Background()
	before := load(t, path)
	if _, err := Merge(ctx, WriteOptions{Path: path, Current: CurrentAlways}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	r, err := Remove(ctx, path, "envctl-ml")
	if err != nil || !r.Found || !r.WasCurrent {
		t.Fatalf("Remove = %+v, %v; want found and current, nil", r, err)
	}
	after := load(t, path)
	if diff := cmp.Diff(before, after, ignoreOrigin, cmpopts.IgnoreFields(clientcmdapi.Config{}, "CurrentContext")); diff != "" {
		t.Errorf("file after merge and remove differs from before (-before +after):\n%s", diff)
	}
	if after.CurrentContext != "" {
		t.Errorf("current-context = %q, want it unset since it named the removed context", after.CurrentContext)
	}
	r, err = Remove(ctx, path, "envctl-ml")
	if err != nil || r.Found {
		t.Errorf("second Remove = %+v, %v; want not found, nil", r, err)
	}
	assertNoLockLeft(t, path)
}

func TestRemoveKeepsCurrentContextOfOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, userFile, 0o600)
	ctx := context.Background()
	if _, err := Merge(ctx, WriteOptions{Path: path}, "ml", clusterKubeconfig("ml", "https://127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(ctx, path, "envctl-ml"); err != nil {
		t.Fatal(err)
	}
	if got := load(t, path).CurrentContext; got != "prod" {
		t.Errorf("current-context = %q, want prod", got)
	}
}

func TestForCluster(t *testing.T) {
	out, err := ForCluster(clusterKubeconfig("ml", "https://127.0.0.1:5"), "ml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	if diff := cmp.Diff([]string{"envctl-ml"}, names); diff != "" || cfg.CurrentContext != "envctl-ml" {
		t.Errorf("contexts (-want +got):\n%s current-context %q", diff, cfg.CurrentContext)
	}
	if cfg.Clusters["envctl-ml"].Server != "https://127.0.0.1:5" {
		t.Errorf("server lost: %+v", cfg.Clusters["envctl-ml"])
	}
}

// TestMergeConcurrentGoroutines: merges racing in one process lose nothing.
func TestMergeConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, userFile, 0o600)
	const n = 24
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("g%d", i)
			_, err := Merge(context.Background(), WriteOptions{Path: path}, name, clusterKubeconfig(name, "https://127.0.0.1:"+strconv.Itoa(10000+i)))
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	assertContexts(t, path, "g", n)
}

// TestMergeConcurrentProcesses: merges from separate processes, each also
// racing goroutines, lose nothing. It re-runs this test binary as the
// writers.
func TestMergeConcurrentProcesses(t *testing.T) {
	if path := os.Getenv("ENVCTL_TEST_MERGE_PATH"); path != "" {
		mergeWorker(t, path, os.Getenv("ENVCTL_TEST_MERGE_PREFIX"))
		return
	}
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, userFile, 0o600)
	const procs = 4
	var wg sync.WaitGroup
	errc := make(chan error, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMergeConcurrentProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ENVCTL_TEST_MERGE_PATH="+path, fmt.Sprintf("ENVCTL_TEST_MERGE_PREFIX=p%d-", p))
		wg.Go(func() {
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("worker %d: %v\n%s", p, err, out)
			}
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	for p := range procs {
		assertContexts(t, path, fmt.Sprintf("p%d-", p), workerMerges)
	}
	before := clientcmdapi.NewConfig()
	if err := loadInto(userFile, before); err != nil {
		t.Fatal(err)
	}
	after := load(t, path)
	for _, name := range []string{"prod", "staging"} {
		if diff := cmp.Diff(before.Contexts[name], after.Contexts[name], ignoreOrigin); diff != "" {
			t.Errorf("context %s changed:\n%s", name, diff)
		}
	}
	assertNoLockLeft(t, path)
}

const workerMerges = 8

func mergeWorker(t *testing.T, path, prefix string) {
	var wg sync.WaitGroup
	for i := range workerMerges {
		wg.Go(func() {
			name := fmt.Sprintf("%s%d", prefix, i)
			if _, err := Merge(context.Background(), WriteOptions{Path: path, Current: []Current{CurrentAlways, CurrentNever}[i%2]}, name, clusterKubeconfig(name, "https://127.0.0.1:1")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func loadInto(content string, into *clientcmdapi.Config) error {
	cfg, err := clientcmd.Load([]byte(content))
	if err != nil {
		return err
	}
	*into = *cfg
	return nil
}

func assertContexts(t *testing.T, path, prefix string, n int) {
	t.Helper()
	cfg := load(t, path)
	for i := range n {
		name := fmt.Sprintf("envctl-%s%d", prefix, i)
		if _, ok := cfg.Contexts[name]; !ok {
			t.Errorf("context %s lost", name)
		}
		if _, ok := cfg.Clusters[name]; !ok {
			t.Errorf("cluster %s lost", name)
		}
		if _, ok := cfg.AuthInfos[name]; !ok {
			t.Errorf("user %s lost", name)
		}
	}
	for _, keep := range []string{"prod", "staging"} {
		if _, ok := cfg.Contexts[keep]; !ok {
			t.Errorf("the user's context %s was lost", keep)
		}
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s mode = %v, want %v", path, st.Mode().Perm(), want)
	}
}

func assertNoLockLeft(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".lock") || strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
