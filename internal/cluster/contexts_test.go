package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
)

// statefulFake keeps each cluster as a state directory under root, as the
// embedded and kind providers do.
type statefulFake struct{ name, root string }

func (f *statefulFake) Name() string { return f.name }
func (f *statefulFake) ClusterDir(name string) (string, error) {
	return filepath.Join(f.root, name), nil
}
func (f *statefulFake) Ensure(_ context.Context, s Spec) (*Info, error) {
	return &Info{Name: s.Name}, os.MkdirAll(filepath.Join(f.root, s.Name), 0o700)
}
func (f *statefulFake) Delete(_ context.Context, name string) error {
	return os.RemoveAll(filepath.Join(f.root, name))
}
func (f *statefulFake) List(context.Context) ([]Info, error) { panic("not used") }
func (f *statefulFake) Exists(_ context.Context, name string) (bool, error) {
	_, err := os.Stat(filepath.Join(f.root, name))
	return err == nil, nil
}
func (f *statefulFake) RESTConfig(_ context.Context, name string) (*rest.Config, error) {
	return &rest.Config{Host: fakeServer(f.name, name)}, nil
}
func (f *statefulFake) Kubeconfig(_ context.Context, name string) ([]byte, error) {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, fakeServer(f.name, name)), nil
}

// progressLog records steps and notes.
type progressLog struct{ steps, notes []string }

func (p *progressLog) Step(name string) func(error) {
	p.steps = append(p.steps, name)
	return func(error) {}
}

func (p *progressLog) Note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

// userKubeconfig is a kubeconfig of the user's own.
const userKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: mine, cluster: {server: "https://mine.test"}}]
users: [{name: mine, user: {token: not-a-real-token}}]
contexts: [{name: mine, context: {cluster: mine, user: mine}}]
current-context: mine
`

// withDefaultKubeconfig makes kubectl's default kubeconfig a file of the
// test's holding userKubeconfig, and returns its path.
func withDefaultKubeconfig(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	file := filepath.Join(home, ".kube", "config")
	t.Setenv("KUBECONFIG", file)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Deleting a cluster removes its context from every kubeconfig file envctl
// wrote it to, recorded in the cluster's state, and from no other: not
// from kubectl's default file, which the context never went to.
func TestDeleteRemovesTheContextFromTheFilesItWasWrittenTo(t *testing.T) {
	ctx := context.Background()
	defaultFile := withDefaultKubeconfig(t)
	dir := t.TempDir()
	t.Chdir(dir)
	p := &statefulFake{name: config.ProviderEmbedded, root: filepath.Join(dir, "state")}
	if _, err := p.Ensure(ctx, Spec{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	a, b, gone := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "gone")
	// b relative, as --kubeconfig b gives it: recorded absolute.
	for _, f := range []string{a, "b", a, gone} {
		if _, err := WriteKubeconfig(ctx, p, "x", kubeconfig.WriteOptions{Path: f}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	sd, _ := p.ClusterDir("x")
	if got, err := readContexts(sd); err != nil || !slices.Equal(got, []string{a, b, gone}) {
		t.Errorf("recorded %v, %v; want %v", got, err, []string{a, b, gone})
	}

	progress := &progressLog{}
	if err := Delete(ctx, p, "x", "", progress); err != nil {
		t.Fatal(err)
	}
	wantSteps := []string{"Deleting embedded cluster x", "Removing context envctl-x from " + a, "Removing context envctl-x from " + b}
	if !slices.Equal(progress.steps, wantSteps) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(progress.steps, "\n"), strings.Join(wantSteps, "\n"))
	}
	if !slices.Contains(progress.notes, "Kubeconfig "+gone+" is gone; no context envctl-x to remove from it") {
		t.Errorf("notes %q do not say that %s is gone", progress.notes, gone)
	}
	for _, f := range []string{a, b} {
		cfg, err := clientcmd.LoadFromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Contexts)+len(cfg.Clusters)+len(cfg.AuthInfos) != 0 || cfg.CurrentContext != "" {
			t.Errorf("%s after delete: %d contexts, %d clusters, %d users, current %q; want none", f, len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos), cfg.CurrentContext)
		}
	}
	if got, _ := os.ReadFile(defaultFile); string(got) != userKubeconfig {
		t.Errorf("kubectl's default kubeconfig changed:\n%s", got)
	}
	if _, err := os.Stat(gone); err == nil {
		t.Errorf("delete created %s", gone)
	}
}

func TestContextFiles(t *testing.T) {
	ctx := context.Background()
	withDefaultKubeconfig(t)
	dir := t.TempDir()
	p := &statefulFake{name: config.ProviderKind, root: dir}
	record := func(name string, files ...string) {
		t.Helper()
		if _, err := p.Ensure(ctx, Spec{Name: name}); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := recordContext(p, name, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	record("none")
	record("two", a, b, a)
	record("corrupt")
	if err := os.WriteFile(filepath.Join(dir, "corrupt", contextsFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		desc     string
		p        Provider
		name     string
		named    string
		want     []string
		stateDir bool
	}{
		{desc: "nothing recorded: kubectl's files", p: p, name: "none", want: []string{""}},
		{desc: "recorded", p: p, name: "two", want: []string{a, b}},
		{desc: "named first, then the others recorded", p: p, name: "two", named: b, want: []string{b, a}},
		{desc: "named, nothing recorded", p: p, name: "none", named: a, want: []string{a}},
		{desc: "an unreadable record counts as none", p: p, name: "corrupt", want: []string{""}},
		{desc: "no state directory", p: p, name: "gone", want: []string{""}},
		{desc: "a provider without state", p: &fakeProvider{name: config.ProviderEmbedded}, name: "two", want: []string{""}},
	} {
		if got := contextFiles(tc.p, tc.name, tc.named); !slices.Equal(got, tc.want) {
			t.Errorf("%s: contextFiles = %q, want %q", tc.desc, got, tc.want)
		}
	}

	// Recording never makes a state directory for a cluster that has none.
	if err := recordContext(p, "gone", a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone")); err == nil {
		t.Error("recordContext created the state directory of a cluster that has none")
	}
}

// A kubeconfig context reaches the environment's own cluster, which envctl
// may delete, only when it is the context envctl writes for that cluster
// and reaches the cluster's API server.
func TestConnectClaimsTheEnvironmentsOwnCluster(t *testing.T) {
	withDefaultKubeconfig(t)
	fakeClusters = map[string]map[string]bool{config.ProviderEmbedded: {"dev": true}, config.ProviderKind: {"kdev": true}}
	t.Cleanup(func() { fakeClusters = nil })
	dir := t.TempDir()
	write := func(name, current string, contexts map[string]string) string {
		t.Helper()
		var cl, us, cx strings.Builder
		for c, server := range contexts {
			fmt.Fprintf(&cl, "- {name: %s, cluster: {server: %q}}\n", c, server)
			fmt.Fprintf(&us, "- {name: %s, user: {token: not-a-real-token}}\n", c)
			fmt.Fprintf(&cx, "- {name: %s, context: {cluster: %s, user: %s}}\n", c, c, c)
		}
		path := filepath.Join(dir, name)
		data := "apiVersion: v1\nkind: Config\nclusters:\n" + cl.String() + "users:\n" + us.String() + "contexts:\n" + cx.String() + "current-context: " + current + "\n"
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	own := write("own", "envctl-dev", map[string]string{"envctl-dev": fakeServer("embedded", "dev"), "mine": "https://mine.test"})
	notCurrent := write("not-current", "mine", map[string]string{"envctl-dev": fakeServer("embedded", "dev"), "mine": "https://mine.test"})
	elsewhere := write("elsewhere", "envctl-dev", map[string]string{"envctl-dev": "https://127.0.0.1:1"})
	kind := write("kind", "kind-kdev", map[string]string{"kind-kdev": fakeServer("kind", "kdev")})

	env := func(cluster, provider string) *config.Environment {
		e := &config.Environment{Metadata: config.Metadata{Name: "dev"}}
		e.Spec.Cluster = config.ClusterSpec{Name: cluster, Provider: provider}
		if provider == config.ProviderExisting {
			e.Spec.Cluster.Existing = &config.ExistingSpec{}
		}
		return e
	}
	for _, tc := range []struct {
		desc         string
		env          *config.Environment
		kc           Kubeconfig
		wantProvider string
		wantFile     string
	}{
		{"the current context is envctl's for the cluster", env("dev", config.ProviderAuto), Kubeconfig{Path: own}, config.ProviderEmbedded, own},
		{"--context names envctl's", env("dev", config.ProviderEmbedded), Kubeconfig{Path: notCurrent, Context: "envctl-dev"}, config.ProviderEmbedded, notCurrent},
		{"kind's context for a kind cluster", env("kdev", ""), Kubeconfig{Path: kind}, config.ProviderKind, kind},
		{"another context", env("dev", config.ProviderAuto), Kubeconfig{Path: notCurrent}, "", ""},
		{"envctl's name for another server", env("dev", config.ProviderAuto), Kubeconfig{Path: elsewhere}, "", ""},
		{"an environment on an existing cluster", env("dev", config.ProviderExisting), Kubeconfig{Path: own}, "", ""},
		{"the context of another environment's cluster", env("other", config.ProviderAuto), Kubeconfig{Path: own}, "", ""},
	} {
		tgt, err := Connect(context.Background(), tc.env, tc.kc, Options{})
		if err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		if tgt.ProviderName() != tc.wantProvider || tgt.KubeconfigPath != tc.wantFile {
			t.Errorf("%s: provider %q, kubeconfig %q; want %q, %q", tc.desc, tgt.ProviderName(), tgt.KubeconfigPath, tc.wantProvider, tc.wantFile)
		}
	}
}
