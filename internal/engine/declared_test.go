package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/source"
)

// writeRepo writes a repository with config.yaml (named name, unless
// empty) and one environment, dev, of a kustomize and a Helm component.
func writeRepo(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	meta := ""
	if name != "" {
		meta = "metadata: {name: " + name + "}\n"
	}
	files := map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\n" + meta + "spec: {defaultEnvironment: dev}\n",
		"environments/dev.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  components:
    - name: app
      kustomize: overlays/app
    - name: chart
      helm: {chart: charts/c, release: c, namespace: c}
`,
		"overlays/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
		"charts/c/Chart.yaml":             "apiVersion: v2\nname: c\nversion: 0.1.0\n",
	}
	for rel, body := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadDev(t *testing.T, dir string, components ...string) (*Declared, error) {
	t.Helper()
	return LoadSnapshot(mustLocal(t, dir), LoadOptions{
		Source:     source.Dir{Path: dir},
		Components: components,
		Config:     config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	})
}

func TestLoadSnapshot(t *testing.T) {
	dir := writeRepo(t, "platform")
	d, err := loadDev(t, dir, "chart")
	if err != nil {
		t.Fatal(err)
	}
	if d.Env.Name() != "dev" || d.Repository() != "platform" || d.Revision() == "" {
		t.Errorf("loaded environment %s of repository %s at %q", d.Env.Name(), d.Repository(), d.Revision())
	}

	// Without metadata.name the repository is its directory's name.
	unnamed := writeRepo(t, "")
	if d, err = loadDev(t, unnamed); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Repository(), filepath.Base(d.Repo.Root); got != want {
		t.Errorf("repository of an unnamed config.yaml = %q, want the directory's name %q", got, want)
	}

	_, err = loadDev(t, dir, "app", "trainer")
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("an unknown component: %v, want bad input", err)
	}
	for _, want := range []string{`unknown component "trainer"`, "environments/dev.yaml", "known components: app, chart"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tt := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{ForcePrune: true, Timeout: time.Minute}, true},
		{Policy{ForcePrune: true, NoPrune: true}, false},
		{Policy{Timeout: -time.Second}, false},
	} {
		err := tt.p.Validate()
		if (err == nil) != tt.ok || (err != nil && errs.KindOf(err) != errs.KindInput) {
			t.Errorf("Validate(%+v) = %v", tt.p, err)
		}
	}
}

// A render is kept for a run only while the inventory says the same
// releases are installed: a release installed since renders as an upgrade.
func TestRenderingFresh(t *testing.T) {
	d, err := loadDev(t, writeRepo(t, "platform"))
	if err != nil {
		t.Fatal(err)
	}
	none := &inventory.Inventory{Environment: "dev"}
	withChart := &inventory.Inventory{Environment: "dev", Components: []string{"app", "chart"}}
	withApp := &inventory.Inventory{Environment: "dev", Components: []string{"app"}}

	if got := installedOf(d.Env, nil, withChart); !cmp.Equal(got, map[string]bool{"chart": true}) {
		t.Errorf("installed = %v, want the Helm release only", got)
	}
	if got := installedOf(d.Env, []string{"app"}, withChart); len(got) != 0 {
		t.Errorf("installed of a run of app alone = %v, want none", got)
	}
	r := &Rendering{Declared: d, installed: installedOf(d.Env, nil, nil)}
	for _, tt := range []struct {
		name  string
		prev  *inventory.Inventory
		fresh bool
	}{
		{"never applied", nil, true},
		{"empty inventory", none, true},
		{"only the kustomize component", withApp, true},
		{"the release installed since", withChart, false},
	} {
		if got := r.fresh(tt.prev); got != tt.fresh {
			t.Errorf("%s: fresh = %v, want %v", tt.name, got, tt.fresh)
		}
	}
}
