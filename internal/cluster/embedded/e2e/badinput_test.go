package e2e_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envctl/envctl/internal/cluster"
)

// Bad input: a clear error, a non-zero exit, and no cluster left behind.
func TestBadInput(t *testing.T) {
	s := newSandbox(t)
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: e2e\nspec:\n  defaultEnvironment: gpu\n",
		"environments/gpu.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: gpu
spec:
  cluster:
    provider: embedded
    embedded:
      nodes:
        - name: gpu
          capacity: {nvidia.com/gpu: one}
  components: []
`,
	})
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown provider", []string{"cluster", "create", "x", "--provider", "bogus"}, 2,
			[]string{`unknown provider "bogus"`, "embedded"}},
		{"invalid name", []string{"cluster", "create", "Bad_Name", "--provider", "embedded"}, 2,
			[]string{`invalid cluster name "Bad_Name"`}},
		{"name too long", []string{"cluster", "create", strings.Repeat("a", 41), "--provider", "embedded"}, 2,
			[]string{"41 characters, at most 40 allowed"}},
		{"delete of a missing cluster", []string{"cluster", "delete", "ghost", "--provider", "embedded"}, 2,
			[]string{`embedded cluster "ghost" not found`}},
		{"delete of a missing cluster, any provider", []string{"cluster", "delete", "ghost"}, 2,
			[]string{`cluster "ghost" not found (looked in: embedded, kind, existing)`}},
		{"kubeconfig of a missing cluster", []string{"cluster", "kubeconfig", "ghost", "--provider", "embedded", "--print"}, 2,
			[]string{`embedded cluster "ghost" not found`}},
		{"serve of a missing cluster", []string{"cluster", "serve", "ghost"}, 2,
			[]string{"embedded cluster ghost has no state in", "envctl cluster create ghost --provider embedded"}},
		{"serve with a standard stream as ready pipe", []string{"cluster", "serve", "ghost", "--ready-fd", "1"}, 2,
			[]string{"--ready-fd 1: want a descriptor of 3 or more"}},
		{"bad node pool", []string{"-C", repo, "cluster", "create"}, 2,
			[]string{"environments/gpu.yaml", "nvidia.com/gpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run(tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if t.Failed() {
				t.Logf("%v", r)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(s.root(), "clusters", "embedded")); len(entries) != 0 {
		t.Errorf("bad input left state behind: %v", entries)
	}
	if got := s.procs(func([]string) bool { return true }); len(got) != 0 {
		t.Errorf("bad input left processes behind: %v", got)
	}
}

// A damaged state directory: create says which file and how to get out
// (exit 6), list shows the cluster with the same message, delete works.
func TestDamagedState(t *testing.T) {
	pemBlock := func(kind string) string {
		return "-----BEGIN " + kind + "-----\nAAAA\n-----END " + kind + "-----\n"
	}
	served := `{"format":1,"name":"NAME","created":"2026-01-02T03:04:05Z","kubernetesVersion":"v1.37.2","nodes":[{"name":"node","count":1}],"server":"https://127.0.0.1:1","port":1}`
	// credentials that look like credentials but are not: only a start
	// of the control plane finds out.
	pki := map[string]string{
		"pki/ca.crt": pemBlock("CERTIFICATE"), "pki/ca.key": pemBlock("EC PRIVATE KEY"),
		"pki/front-proxy-ca.crt": pemBlock("CERTIFICATE"), "pki/front-proxy-ca.key": pemBlock("EC PRIVATE KEY"),
		"pki/sa.key": pemBlock("EC PRIVATE KEY"), "pki/sa.pub": pemBlock("PUBLIC KEY"),
		"etcd/.keep": "",
	}
	with := func(base map[string]string, extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name  string
		files map[string]string
		// without are files of files to leave out.
		without string
		// code is the exit code of create; want what its error says, with
		// the directory's path in place of DIR.
		code int
		want []string
		// listWant is what cluster list says of the cluster.
		listStatus, listWant string
	}{
		{"garbage state file", map[string]string{"cluster.json": "garbage{"}, "", 6,
			[]string{"DIR/cluster.json is not a valid state file (invalid character 'g'", "envctl cluster delete NAME"},
			cluster.StatusUnknown, "DIR/cluster.json is not a valid state file"},
		{"certificate authority key missing", with(pki, map[string]string{"cluster.json": served}), "pki/ca.key", 6,
			[]string{"DIR/pki/ca.key is missing", "envctl cluster delete NAME"},
			cluster.StatusStopped, "restarts it"},
		{"state file missing beside data", map[string]string{"etcd/member/wal": "x"}, "", 6,
			[]string{"DIR/cluster.json is missing, but DIR/etcd holds cluster data", "envctl cluster delete NAME"},
			cluster.StatusUnknown, "has no cluster.json"},
		{"credentials the control plane cannot read", with(pki, map[string]string{"cluster.json": served}), "", 6,
			[]string{"ended before it was serving the API (exit status 1); the end of its log DIR/serve.log", "DIR/pki/ca.crt: x509: malformed certificate", "its state is kept in DIR"},
			cluster.StatusStopped, "restarts it"},
		{"damaged pid file", with(pki, map[string]string{"cluster.json": served, "serve.pid": "garbage"}), "pki/sa.key", 6,
			[]string{"DIR/pki/sa.key is missing"},
			cluster.StatusStopped, "restarts it"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			name := "damaged" + string(rune('a'+i))
			dir := s.clusterDir(name)
			files := map[string]string{}
			for k, v := range tt.files {
				if k != tt.without {
					files[k] = strings.ReplaceAll(v, "NAME", name)
				}
			}
			writeFiles(t, dir, files)
			expand := func(s string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, "DIR", dir), "NAME", name)
			}

			r := s.run("cluster", "create", name, "--provider", "embedded")
			if r.code != tt.code {
				t.Errorf("create: exit %d, want %d", r.code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, expand(w)) {
					t.Errorf("create error does not say %q", expand(w))
				}
			}
			if t.Failed() {
				t.Logf("%v", r)
			}
			if got := s.serveProcs(name); len(got) != 0 {
				t.Errorf("serve processes after a failed create: %v", got)
			}

			r = s.mustRun("cluster", "list", "-o", "json")
			var infos []cluster.Info
			if err := json.Unmarshal([]byte(r.stdout), &infos); err != nil || len(infos) != 1 {
				t.Fatalf("cluster list: %v\n%v", err, r)
			}
			if infos[0].Status != tt.listStatus || !strings.Contains(infos[0].Message, expand(tt.listWant)) {
				t.Errorf("cluster list: status %q, message %q; want %q saying %q", infos[0].Status, infos[0].Message, tt.listStatus, expand(tt.listWant))
			}

			r = s.mustRun("cluster", "delete", name)
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state directory after delete: %v, want it gone", err)
			}
		})
	}
}
