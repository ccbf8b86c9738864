package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

func validState() *clusterState {
	return &clusterState{
		Name:              "demo",
		Created:           time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		KubernetesVersion: "v1.37.2",
		Nodes:             []config.NodePool{{Name: "gpu", Count: 2, Capacity: map[string]string{"nvidia.com/gpu": "1"}}},
		Server:            "https://127.0.0.1:40001",
		Port:              40001,
		PID:               4242,
		Started:           time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Webhooks:          config.WebhooksFail,
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := validState()
	if err := writeState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state after a round trip (-wrote +read):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestReadStateRejectsDamage(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"garbage", "garbage{", "is not a valid state file (invalid character 'g'"},
		{"empty", "", "is not a valid state file (EOF)"},
		{"unknown field", `{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}],"colour":"red"}`, `unknown field "colour"`},
		{"trailing data", `{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}]} {}`, "unexpected data after the JSON object"},
		{"other format", `{"format":7,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}]}`, "format 7, want 1"},
		{"no created", `{"format":1,"name":"demo","nodes":[{"count":1}]}`, "no creation time"},
		{"no nodes", `{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z"}`, "no node pools"},
		{"bad port", `{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}],"port":70000}`, "port 70000 out of range"},
		{"bad webhook policy", `{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}],"webhooks":"maybe"}`, `unknown webhook policy "maybe"`},
		{"other cluster", `{"format":1,"name":"other","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}]}`, `is the state of cluster "other", not "demo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readState(dir, "demo")
			if err == nil {
				t.Fatal("damaged state file accepted")
			}
			for _, w := range []string{path, tt.want, "envctl cluster delete demo"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if errs.KindOf(err) != errs.KindCluster {
				t.Errorf("error kind %v, want cluster", errs.KindOf(err))
			}
		})
	}
}

func TestReadStateMissing(t *testing.T) {
	_, err := readState(t.TempDir(), "demo")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing state file: %v, want an error that is fs.ErrNotExist", err)
	}
}

func TestCheckRestartable(t *testing.T) {
	pem := "-----BEGIN X-----\nAAAA\n-----END X-----\n"
	complete := func(t *testing.T) string {
		dir := t.TempDir()
		for _, rel := range restartFiles {
			writeTestFile(t, filepath.Join(dir, rel), pem)
		}
		if err := os.Mkdir(filepath.Join(dir, "etcd"), 0o700); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if err := checkRestartable(complete(t), "demo"); err != nil {
		t.Fatalf("complete state directory: %v", err)
	}
	tests := []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"CA key missing", func(dir string) error { return os.Remove(filepath.Join(dir, "pki/ca.key")) }, "pki/ca.key is missing"},
		{"service-account key missing", func(dir string) error { return os.Remove(filepath.Join(dir, "pki/sa.key")) }, "pki/sa.key is missing"},
		{"CA certificate not PEM", func(dir string) error { return os.WriteFile(filepath.Join(dir, "pki/ca.crt"), []byte("junk"), 0o600) }, "pki/ca.crt is not a PEM file"},
		{"etcd data gone", func(dir string) error { return os.RemoveAll(filepath.Join(dir, "etcd")) }, "etcd is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := complete(t)
			if err := tt.damage(dir); err != nil {
				t.Fatal(err)
			}
			err := checkRestartable(dir, "demo")
			if err == nil {
				t.Fatal("damaged state directory accepted")
			}
			for _, w := range []string{dir, tt.want, "envctl cluster delete demo"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNodePools(t *testing.T) {
	tests := []struct {
		name string
		spec *config.EmbeddedSpec
		want []config.NodePool
	}{
		{"none declared", nil, []config.NodePool{{Name: "node", Count: 1}}},
		{"empty", &config.EmbeddedSpec{}, []config.NodePool{{Name: "node", Count: 1}}},
		{"defaults filled", &config.EmbeddedSpec{Nodes: []config.NodePool{{Count: 3}, {Name: "gpu"}}},
			[]config.NodePool{{Name: "node", Count: 3}, {Name: "gpu", Count: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, nodePools(tt.spec)); diff != "" {
				t.Errorf("nodePools (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSamePools(t *testing.T) {
	a := []config.NodePool{{Name: "node", Count: 2, Labels: map[string]string{}}}
	b := []config.NodePool{{Name: "node", Count: 2}}
	if !samePools(a, b) {
		t.Error("an empty label map and no labels should be the same pools")
	}
	c := []config.NodePool{{Name: "node", Count: 3}}
	if samePools(b, c) {
		t.Error("pools of 2 and 3 nodes reported the same")
	}
}

// FuzzParseState: whatever is in the state file, parsing it returns a
// state or an error, never panics, and a state it accepts survives a
// round trip.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"count":1}]}`))
	f.Add([]byte(`{"format":1,"name":"demo","created":"2026-01-02T03:04:05Z","nodes":[{"name":"gpu","count":2,"capacity":{"nvidia.com/gpu":"1"}}],"server":"https://127.0.0.1:1","port":1,"pid":3}`))
	f.Add([]byte("garbage{"))
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseState(data)
		if err != nil {
			return
		}
		dir := t.TempDir()
		if err := writeState(dir, st); err != nil {
			t.Fatal(err)
		}
		again, err := readState(dir, st.Name)
		if err != nil {
			t.Fatalf("accepted state does not read back: %v", err)
		}
		// Empty maps and slices are left out of the file (omitempty).
		if diff := cmp.Diff(st, again, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip changed the state:\n%s", diff)
		}
	})
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
