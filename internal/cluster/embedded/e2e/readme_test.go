package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// The README's main command: `envctl up` in this repository, on a machine
// where no container runtime answers, brings the default environment (the
// ML platform's local environment) up on the embedded cluster with every
// component healthy; a second up writes nothing; down removes it all.
func TestReadmeUpOfThisRepository(t *testing.T) {
	s := newSandbox(t)
	s.noContainerRuntime()
	repo, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	r := s.mustRun("-C", repo, "up")
	for _, component := range []string{"platform", "model-serving", "training", "feature-store", "monitoring", "logging"} {
		if !strings.Contains(r.stdout, component) {
			t.Errorf("up summary does not list component %s:\n%v", component, r)
		}
	}
	if strings.Contains(r.stdout, "failed") || strings.Contains(r.stdout, "skipped") {
		t.Errorf("up of the repository's default environment did not converge:\n%v", r)
	}
	if !strings.Contains(r.stdout, "kubectl --context envctl-local") {
		t.Errorf("up does not say how to reach the cluster:\n%v", r)
	}

	r = s.mustRun("-C", repo, "up")
	if !strings.Contains(r.stdout, " 0 writes)") {
		t.Errorf("second up of the repository wrote something:\n%v", r)
	}
	s.mustRun("-C", repo, "status")
	s.mustRun("-C", repo, "down", "--yes")
	if got := s.serveProcs("envctl-local"); len(got) != 0 {
		t.Errorf("serve processes after down: %v", got)
	}
}
