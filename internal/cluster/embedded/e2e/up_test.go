package e2e_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// envctl up, status and down of an environment whose provider is auto,
// where no container runtime answers: up creates the embedded cluster
// detached and applies to it through the provider, down deletes both.
func TestUpStatusDown(t *testing.T) {
	s := newSandbox(t)
	s.noContainerRuntime()
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: e2e\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  cluster:
    provider: auto
    name: updown
    embedded:
      nodes: [{count: 2}]
  components:
    - name: app
      kustomize: overlays/app
      timeout: 1m
`,
		"overlays/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: default\nresources:\n  - app.yaml\n",
		"overlays/app/app.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
data:
  mode: test
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 2
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0
          resources:
            requests: {cpu: 100m, memory: 64Mi}
`,
	})

	// The user's kubeconfig has a current context of their own: up of a
	// cluster it creates switches to the new one, as kind does, and says
	// so; down unsets it again, keeping the user's context.
	writeFiles(t, filepath.Dir(s.kubeconfig), map[string]string{filepath.Base(s.kubeconfig): `apiVersion: v1
kind: Config
current-context: mine
clusters:
- {name: mine, cluster: {server: "https://example.com"}}
contexts:
- {name: mine, context: {cluster: mine}}
`})

	r := s.mustRun("-C", repo, "up")
	for _, want := range []string{"provider embedded", "using embedded", "Starting embedded control plane updown"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up progress does not say %q:\n%v", want, r)
		}
	}
	if !strings.Contains(r.stdout, "kubectl --context envctl-updown") {
		t.Errorf("up does not say how to reach the cluster:\n%v", r)
	}
	if !strings.Contains(r.stderr, "Switched the current context to envctl-updown (it was mine; back with: kubectl config use-context mine)") {
		t.Errorf("up does not say it switched the current context:\n%v", r)
	}
	if got := s.loadKubeconfig().CurrentContext; got != "envctl-updown" {
		t.Errorf("current context after up: %q, want the new envctl-updown", got)
	}
	pid := s.pid("updown")
	if !alive(pid) {
		t.Fatalf("serve process %d not running after up returned", pid)
	}
	c, _ := s.client("updown")
	d, err := c.AppsV1().Deployments("default").Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || d.Status.ReadyReplicas != 2 {
		t.Errorf("Deployment app after up, through context envctl-updown: %v ready, %v; want 2", d.Status.ReadyReplicas, err)
	}
	nodes, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 2 {
		t.Errorf("nodes: %v, %v; want the environment's 2", nodes, err)
	}

	s.mustRun("-C", repo, "status")
	r = s.mustRun("-C", repo, "up")
	if !strings.Contains(r.stderr, "already running") || !strings.Contains(r.stdout, " 0 writes)") {
		t.Errorf("second up: want the running cluster reused and nothing written:\n%v", r)
	}
	if got := s.serveProcs("updown"); len(got) != 1 || got[0] != pid {
		t.Errorf("serve processes after the second up: %v, want just %d", got, pid)
	}

	r = s.mustRun("-C", repo, "down", "--yes")
	if !strings.Contains(r.stdout, "cluster updown deleted") {
		t.Errorf("down does not say it deleted the cluster:\n%v", r)
	}
	if alive(pid) {
		t.Errorf("serve process %d still running after down", pid)
	}
	if _, err := os.Stat(s.clusterDir("updown")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory after down: %v, want it gone", err)
	}
	kc := s.loadKubeconfig()
	if _, ok := kc.Contexts["envctl-updown"]; ok {
		t.Error("context envctl-updown still in the kubeconfig after down")
	}
	if kc.CurrentContext != "" || kc.Contexts["mine"] == nil {
		t.Errorf("after down: current context %q, contexts %d; want it unset and the user's mine kept", kc.CurrentContext, len(kc.Contexts))
	}
	if !strings.Contains(r.stderr, "Context envctl-updown was the current context; none is current now") {
		t.Errorf("down does not say it unset the current context:\n%v", r)
	}
}

// noContainerRuntime puts clients of every container runtime on the
// sandbox's PATH whose daemons do not answer, so that provider auto picks
// embedded even on a machine where Docker runs.
func (s *sandbox) noContainerRuntime() {
	s.t.Helper()
	bin := filepath.Join(s.home, "bin")
	for _, rt := range []string{"docker", "podman", "nerdctl"} {
		writeFiles(s.t, bin, map[string]string{rt: "#!/bin/sh\necho \"Cannot connect to the " + rt + " daemon\" >&2\nexit 1\n"})
		if err := os.Chmod(filepath.Join(bin, rt), 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	s.path = bin + string(os.PathListSeparator) + os.Getenv("PATH")
}
