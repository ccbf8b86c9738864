package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// A kubeconfig of the user's own: kubectl's default file in the test.
const userKubeconfig = `apiVersion: v1
kind: Config
clusters:
- {name: mine, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: mine, user: {token: not-a-real-token}}
contexts:
- {name: mine, context: {cluster: mine, user: mine}}
current-context: mine
`

// up --kubeconfig FILE writes the context of the cluster it creates to
// FILE and to no other kubeconfig; down deletes the cluster and removes its
// context, cluster and user entries from FILE, whether FILE is named again
// (as kind delete cluster --kubeconfig takes it) or not (envctl recorded
// where it wrote them), and leaves kubectl's default kubeconfig as it was.
func TestDownRemovesTheContextFromTheFileUpWroteItTo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts embedded clusters")
	}
	e := newE2E(t, "kcfg")
	e.ownCluster = true
	e.write("environments/kcfg.yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: kcfg
spec:
  cluster:
    provider: embedded
    name: kcfg
    embedded:
      nodes: [{name: node, count: 1}]
  components:
    - name: app
      kustomize: overlays/app
`)
	e.overlay(map[string]string{"namespace.yaml": nsYAML, "configmap.yaml": configMapYAML}, "")
	e.processEnv() // makes e.home
	defaultFile := filepath.Join(e.home, ".kube", "config")
	if err := os.MkdirAll(filepath.Dir(defaultFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(defaultFile, []byte(userKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, round := range []struct {
		cluster string
		// instance and down are more arguments of up and down, and of down.
		instance, down []string
	}{
		{cluster: "kcfg", down: []string{"--kubeconfig", "FILE"}},
		{cluster: "kcfg-ci7", instance: []string{"--instance", "ci7"}},
	} {
		file := filepath.Join(t.TempDir(), "kubeconfig")
		name := "envctl-" + round.cluster
		stateDir := filepath.Join(e.home, ".local", "state", "envctl", "clusters", "embedded", round.cluster)
		t.Cleanup(func() {
			if _, err := os.Stat(stateDir); err != nil {
				return
			}
			if e.start("", nil, "cluster", "delete", round.cluster).wait(2*time.Minute) != ExitOK {
				if pid := servePID(stateDir); pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})

		up := e.start("", nil, append([]string{"up", "--kubeconfig", file}, round.instance...)...)
		if code := up.wait(5 * time.Minute); code != ExitOK {
			t.Fatalf("up %s: exit %d", round.cluster, code)
		}
		cfg, err := clientcmd.LoadFromFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Contexts[name] == nil || cfg.Clusters[name] == nil || cfg.AuthInfos[name] == nil || cfg.CurrentContext != name {
			t.Errorf("after up %s --kubeconfig FILE, FILE has contexts %v, current %q; want %s, current", round.cluster, keys(cfg.Contexts), cfg.CurrentContext, name)
		}
		sameFile(t, "after up, kubectl's default kubeconfig", defaultFile, userKubeconfig)

		args := append(append([]string{"down", "--yes"}, round.instance...), round.down...)
		for i, a := range args {
			if a == "FILE" {
				args[i] = file
			}
		}
		down := e.start("", nil, args...)
		if code := down.wait(5 * time.Minute); code != ExitOK {
			t.Fatalf("%s: exit %d", strings.Join(args, " "), code)
		}
		mustContain(t, strings.Join(args, " "), down.errOut.String(),
			"✓ Deleting embedded cluster "+round.cluster, "✓ Removing context "+name+" from "+file)
		if cfg, err = clientcmd.LoadFromFile(file); err != nil {
			t.Fatal(err)
		}
		if cfg.Contexts[name] != nil || cfg.Clusters[name] != nil || cfg.AuthInfos[name] != nil || cfg.CurrentContext != "" {
			t.Errorf("after %s, FILE still has contexts %v, clusters %v, users %v, current %q", strings.Join(args, " "), keys(cfg.Contexts), keys(cfg.Clusters), keys(cfg.AuthInfos), cfg.CurrentContext)
		}
		sameFile(t, "after down, kubectl's default kubeconfig", defaultFile, userKubeconfig)
		if _, err := os.Stat(stateDir); err == nil {
			t.Errorf("after %s, the cluster's state %s is still there", strings.Join(args, " "), stateDir)
		}
	}
}

// sameFile fails the test unless the file at path holds want.
func sameFile(t *testing.T, what, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s changed:\n%s", what, got)
	}
}

// keys are a map's keys, for messages.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
