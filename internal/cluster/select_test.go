package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// fakeProvider stands in for a real provider in tests of selection logic.
type fakeProvider struct {
	name     string
	clusters map[string]bool
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) Ensure(context.Context, Spec) (*Info, error) {
	panic("not used by selection")
}
func (f *fakeProvider) Delete(context.Context, string) error { panic("not used by selection") }
func (f *fakeProvider) List(context.Context) ([]Info, error) { panic("not used by selection") }
func (f *fakeProvider) Kubeconfig(context.Context, string) ([]byte, error) {
	panic("not used by selection")
}
func (f *fakeProvider) RESTConfig(_ context.Context, name string) (*rest.Config, error) {
	if !f.clusters[name] {
		return nil, NotFound(f.name, name)
	}
	return &rest.Config{Host: fakeServer(f.name, name)}, nil
}

// fakeServer is the API server of a fake provider's cluster.
func fakeServer(provider, name string) string { return "https://" + name + "." + provider + ".test" }
func (f *fakeProvider) Exists(_ context.Context, name string) (bool, error) {
	return f.clusters[name], nil
}

// fakeClusters is what each fake provider has, set per test.
var fakeClusters = map[string]map[string]bool{}

// The test binary registers kind and embedded fakes; existing stays
// unregistered so that its absence can be tested.
func init() {
	for _, n := range []string{config.ProviderKind, config.ProviderEmbedded} {
		Register(n, func(Options) (Provider, error) {
			return &fakeProvider{name: n, clusters: fakeClusters[n]}, nil
		})
	}
}

func TestRegisterRejectsBadNames(t *testing.T) {
	for _, name := range []string{"auto", "docker", "kind"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			Register(name, nil)
		}()
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{"kind", ""},
		{"embedded", ""},
		{"kindd", `unknown provider "kindd"; valid providers: auto, embedded, kind, existing`},
		{"existing", `provider "existing" is not available in this build of envctl; available: auto, embedded, kind`},
	} {
		p, err := New(tc.name, Options{})
		if tc.want == "" {
			if err != nil || p.Name() != tc.name {
				t.Errorf("New(%q) = %v, %v", tc.name, p, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%q) error = %v, want %q", tc.name, err, tc.want)
		}
		if errs.KindOf(err) != errs.KindInput {
			t.Errorf("New(%q): kind %v, want input", tc.name, errs.KindOf(err))
		}
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		provider string
		cluster  string
		have     map[string]map[string]bool
		fakes    map[string]string // fake runtimes on PATH
		want     string
		reason   []string
	}{
		{
			name:     "named provider",
			provider: "embedded",
			fakes:    map[string]string{"docker": answers},
			want:     "embedded",
		},
		{
			name:   "auto with docker answering",
			fakes:  map[string]string{"docker": answers},
			want:   "kind",
			reason: []string{"docker 27.3.1 answered; using kind"},
		},
		{
			name:  "auto without a runtime",
			fakes: map[string]string{"docker": daemonDown},
			want:  "embedded",
			reason: []string{
				"no container runtime answered: docker: Cannot connect to the Docker daemon",
				"podman: not installed",
				"; using embedded",
			},
		},
		{
			name:     "auto prefers the provider that has the cluster",
			provider: "auto",
			cluster:  "ml",
			have:     map[string]map[string]bool{"embedded": {"ml": true}},
			fakes:    map[string]string{"docker": answers},
			want:     "embedded",
			reason:   []string{"cluster ml exists (embedded); using it"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, script := range tc.fakes {
				fakeRuntime(t, dir, name, script)
			}
			t.Setenv("PATH", dir)
			t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
			fakeClusters = tc.have
			t.Cleanup(func() { fakeClusters = nil })

			sel, err := Select(context.Background(), tc.provider, tc.cluster, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if sel.Provider.Name() != tc.want {
				t.Errorf("provider = %s, want %s (reason %q)", sel.Provider.Name(), tc.want, sel.Reason)
			}
			for _, r := range tc.reason {
				if !strings.Contains(sel.Reason, r) {
					t.Errorf("reason %q does not say %q", sel.Reason, r)
				}
			}
		})
	}
}

func TestSelectUnknownProvider(t *testing.T) {
	_, err := Select(context.Background(), "minikube", "ml", Options{})
	if err == nil || errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "valid providers: auto, embedded, kind, existing") {
		t.Errorf("err = %v, want bad input listing the valid providers", err)
	}
}

func TestFind(t *testing.T) {
	fakeClusters = map[string]map[string]bool{
		"kind":     {"a": true, "both": true},
		"embedded": {"b": true, "both": true},
	}
	t.Cleanup(func() { fakeClusters = nil })
	ctx := context.Background()

	for name, want := range map[string]string{"a": "kind", "b": "embedded"} {
		p, err := Find(ctx, name, Options{})
		if err != nil || p.Name() != want {
			t.Errorf("Find(%s) = %v, %v; want %s", name, p, err, want)
		}
	}
	_, err := Find(ctx, "nope", Options{})
	if !IsNotFound(err) || errs.KindOf(err) != errs.KindInput || err.Error() != `cluster "nope" not found (looked in: embedded, kind)` {
		t.Errorf("Find(nope) error = %v", err)
	}
	_, err = Find(ctx, "both", Options{})
	if err == nil || !strings.Contains(err.Error(), "several providers (embedded, kind); say which with --provider") {
		t.Errorf("Find(both) error = %v", err)
	}
}

// noteList records notes.
type noteList struct{ said []string }

func (n *noteList) Note(format string, args ...any) {
	n.said = append(n.said, fmt.Sprintf(format, args...))
}

// startingDocker fails its first two answers, as Docker Desktop does while
// it starts, and then answers.
const startingDocker = `n=0; [ -f "$0.count" ] && read n < "$0.count"; n=$((n+1)); echo $n > "$0.count"
[ $n -gt 2 ] && echo 27.3.1 && exit 0
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`

func TestSelectWaitsForARuntimeThatIsStarting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		wait   time.Duration
		want   string
		reason []string
		notes  string
	}{
		{"starting", startingDocker, 20 * time.Second, "kind", []string{"docker 27.3.1 answered; using kind"},
			"docker installed but not answering (docker: Cannot connect to the Docker daemon"},
		{"never answers", daemonDown, 3 * time.Second, "embedded", []string{
			"docker did not answer within 3s",
			"once it does, `envctl cluster delete ml` lets the next up create the cluster on kind; using embedded",
		}, "waiting up to 3s for it to start (cluster.runtimeWait)"},
		{"no wait asked", daemonDown, 0, "embedded", []string{"no container runtime answered: docker: Cannot connect"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fakeRuntime(t, dir, "docker", tc.script)
			t.Setenv("PATH", dir)
			t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
			n := &noteList{}
			sel, err := Select(context.Background(), "auto", "ml", Options{RuntimeWait: tc.wait, Notes: n})
			if err != nil {
				t.Fatal(err)
			}
			if sel.Provider.Name() != tc.want {
				t.Errorf("provider %s, want %s (reason %q)", sel.Provider.Name(), tc.want, sel.Reason)
			}
			for _, r := range tc.reason {
				if !strings.Contains(sel.Reason, r) {
					t.Errorf("reason %q does not say %q", sel.Reason, r)
				}
			}
			got := strings.Join(n.said, "\n")
			if tc.notes == "" && got != "" || !strings.Contains(got, tc.notes) {
				t.Errorf("notes %q, want %q", got, tc.notes)
			}
		})
	}
}

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "ml.lock")
	held, err := LockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 300*time.Millisecond, errors.New("--cluster-timeout 300ms passed"))
	defer cancel()
	var holder int
	_, err = LockFile(ctx, path, func(pid int) { holder = pid })
	if errs.KindOf(err) != errs.KindTimeout || !strings.Contains(err.Error(), "held by another envctl") || !strings.Contains(err.Error(), "--cluster-timeout 300ms passed") {
		t.Errorf("LockFile while held = %v, want a timeout naming the holder and the deadline", err)
	}
	if holder != os.Getpid() {
		t.Errorf("waiting heard holder %d, want %d", holder, os.Getpid())
	}
	held.Unlock()
	again, err := LockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("LockFile after Unlock: %v", err)
	}
	again.Unlock()
}
