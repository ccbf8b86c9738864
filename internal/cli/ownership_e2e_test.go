package cli

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// An object labelled for another environment is not taken over: the apply
// fails for it (exit 5, naming the other environment), applies the rest,
// and --adopt takes it.
func TestObjectOfAnotherEnvironmentIsNotTakenOver(t *testing.T) {
	a := newE2E(t, "owna")
	b := newE2E(t, "ownb")
	shared := strings.ReplaceAll(cmYAML("shared"), "NS", a.ns)
	a.overlay(map[string]string{"ns.yaml": nsYAML, "shared.yaml": shared}, "")
	a.mustRun(ExitOK, "apply")

	b.overlay(map[string]string{"ns.yaml": nsYAML, "b1.yaml": cmYAML("b1"), "shared.yaml": shared}, "")
	stdout, stderr, code := b.run("apply")
	if code != ExitConflict {
		t.Errorf("apply of an object of another environment: exit %d, want %d", code, ExitConflict)
	}
	mustContain(t, "the apply", stdout+stderr, `ConfigMap `+a.ns+`/shared`, `environment "owna"`, "--adopt")
	cms := testenv.Get(t).Clientset().CoreV1().ConfigMaps(a.ns)
	got, err := cms.Get(t.Context(), "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := got.Labels["envctl.dev/environment"]; env != "owna" {
		t.Errorf("shared is labelled for environment %q now, want it left to owna", env)
	}
	if !b.configMapExists("b1") {
		t.Error("the other objects of the run were not applied")
	}

	// diff says the same ahead.
	stdout, _, code = b.run("diff")
	if code != diffExitError || !strings.Contains(stdout, `environment "owna"`) {
		t.Errorf("diff: exit %d, want %d and the other environment named:\n%s", code, diffExitError, stdout)
	}

	stdout, _ = b.mustRun(ExitOK, "apply", "--adopt")
	mustContain(t, "the summary", stdout, "adopted: ConfigMap "+a.ns+"/shared", `belonged to environment "owna"`)
	got, err = cms.Get(t.Context(), "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := got.Labels["envctl.dev/environment"]; env != "ownb" {
		t.Errorf("after --adopt shared is labelled for %q, want ownb", env)
	}
}

// An object without envctl's labels that exists already is adopted, with a
// note in diff and in the summary, and recorded.
func TestUnlabelledObjectIsAdoptedWithANote(t *testing.T) {
	e := newE2E(t, "adoptee")
	te := testenv.Get(t)
	if _, err := te.Clientset().CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Clientset().CoreV1().ConfigMaps(e.ns).Create(t.Context(), mustConfigMap(e.ns, "preexisting"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.overlay(map[string]string{"ns.yaml": nsYAML, "pre.yaml": cmYAML("preexisting"), "new.yaml": cmYAML("fresh")}, "")
	stdout, _ := e.mustRun(diffExitChanges, "diff")
	mustContain(t, "diff", stdout, "ConfigMap "+e.ns+"/preexisting", "without envctl's labels", "adopt")

	stdout, _ = e.mustRun(ExitOK, "apply", "-o", "json")
	var s ui.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	adopted := map[string]string{}
	for _, a := range s.Adopted {
		adopted[a.Object] = a.Reason
	}
	if !strings.Contains(adopted["ConfigMap "+e.ns+"/preexisting"], "without envctl's labels") {
		t.Errorf("the summary's adopted objects: %v, want the ConfigMap", s.Adopted)
	}
	if _, ok := adopted["ConfigMap "+e.ns+"/fresh"]; ok {
		t.Error("a created object is reported adopted")
	}
	inv, err := e.storedInventory()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range inv.Entries {
		found = found || en.Name == "preexisting"
	}
	if !found {
		t.Error("the adopted object is not recorded")
	}
	// Once adopted, it is envctl's: the next run notes nothing.
	stdout, _ = e.mustRun(ExitOK, "apply")
	if strings.Contains(stdout, "adopted") {
		t.Errorf("a second apply notes an adoption:\n%s", stdout)
	}
}

// Two repositories that both name an environment "twin" on one cluster do
// not apply over, or prune, each other's objects.
func TestTwoRepositoriesSameEnvironmentName(t *testing.T) {
	one := newE2E(t, "twin")
	two := newE2E(t, "twin")
	for _, r := range []struct {
		e    *e2e
		name string
	}{{one, "repo-one"}, {two, "repo-two"}} {
		r.e.write("config.yaml", "apiVersion: envctl.dev/v1alpha1\nkind: Config\nmetadata:\n  name: "+r.name+"\nspec:\n  defaultEnvironment: twin\n  apply:\n    timeout: 90s\n")
	}
	one.overlay(map[string]string{"ns.yaml": nsYAML, "t1.yaml": cmYAML("t1"), "t2.yaml": cmYAML("t2"), "t3.yaml": cmYAML("t3")}, "")
	one.mustRun(ExitOK, "apply")

	two.overlay(map[string]string{"ns.yaml": nsYAML, "t1.yaml": cmYAML("t1"), "t2.yaml": cmYAML("t2"), "t4.yaml": cmYAML("t4")}, "")
	stdout, stderr, code := two.run("apply")
	if code != ExitConflict {
		t.Errorf("apply from the second repository: exit %d, want %d", code, ExitConflict)
	}
	mustContain(t, "the apply", stdout+stderr, `repository "repo-one"`, `"repo-two"`, "--adopt")
	if !one.configMapExists("t3") {
		t.Error("the second repository pruned the first one's object")
	}
	if one.configMapExists("t4") {
		t.Error("the second repository applied over the first one's environment")
	}
	stdout, stderr = one.mustRun(ExitOK, "apply", "-o", "json")
	var s ui.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests.Writes != 0 {
		t.Errorf("the first repository's next run wrote %d times, want 0:\n%s", s.Requests.Writes, stderr)
	}
}
