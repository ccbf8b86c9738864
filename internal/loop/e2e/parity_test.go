package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
)

// stagingKey opens the SOPS file of the platform's staging environment.
var stagingKey = filepath.Join("..", "..", "render", "testdata", "sops", "staging.agekey")

// platform makes r's repository a copy of this repository's declared
// state (config.yaml, environments, bases, overlays) in which every
// environment's cluster is the test cluster (provider existing); the
// platform's manifests are as they are. r works on environment env.
func (r *repo) platform(env string) {
	r.t.Helper()
	root := filepath.Join("..", "..", "..")
	dir := r.t.TempDir()
	for _, d := range []string{"environments", "bases", "overlays"} {
		if err := os.CopyFS(filepath.Join(dir, d), os.DirFS(filepath.Join(root, d))); err != nil {
			r.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(root, config.FileName))
	if err != nil {
		r.t.Fatal(err)
	}
	r.dir, r.env = dir, env
	r.write(config.FileName, string(data))
	files, err := filepath.Glob(filepath.Join(dir, "environments", "*.yaml"))
	if err != nil || len(files) == 0 {
		r.t.Fatalf("no environments in the copy: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			r.t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			r.t.Fatalf("%s: %v", f, err)
		}
		spec, _ := doc["spec"].(map[string]any)
		spec["cluster"] = map[string]any{"provider": "existing", "existing": map[string]any{"kubeconfig": r.kubeconfig}}
		out, err := yaml.Marshal(doc)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// helmComponents are the components of r's environment that are Helm
// releases: what down renders for their delete hooks.
func (r *repo) helmComponents() []string {
	r.t.Helper()
	repo, err := config.Load(config.LoadOptions{Dir: r.dir, NoSearch: true, LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		r.t.Fatal(err)
	}
	env, err := repo.Environment(r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, c := range env.Spec.Components {
		if c.Helm != nil {
			out = append(out, c.Name)
		}
	}
	return out
}

// parity runs envctl commands on r's environment, each recording its
// renders, and compares them with what `envctl render --kubeconfig` renders
// for the cluster in the same state.
type parity struct {
	t    *testing.T
	r    *repo
	args []string // given to every command (the SOPS key)
	// ref is render's render, by component.
	ref map[string]rendered
}

// renderNow takes `envctl render --kubeconfig` as the reference.
func (p *parity) renderNow() {
	p.t.Helper()
	got := p.run("render", []int{0}, "render", p.r.env, "--kubeconfig", p.r.kubeconfig)
	p.ref = map[string]rendered{}
	for _, c := range got {
		if _, dup := p.ref[c.Component]; dup {
			p.t.Fatalf("render rendered component %s twice: %v", c.Component, got)
		}
		p.ref[c.Component] = c
	}
	if len(p.ref) == 0 {
		p.t.Fatal("render recorded no render")
	}
}

// run runs envctl args to the end, which must exit with one of codes, and
// returns its renders.
func (p *parity) run(name string, codes []int, args ...string) []rendered {
	p.t.Helper()
	rr, rec := p.r.recorder()
	start := time.Now()
	code, stdout, stderr := rr.run(append(args, p.args...)...)
	if !slices.Contains(codes, code) {
		p.t.Fatalf("%s: exit %d, want one of %v\n%s%s", name, code, codes, stdout, stderr)
	}
	p.t.Logf("%s took %v", name, time.Since(start).Round(time.Millisecond))
	return renders(p.t, rec)
}

// loop runs envctl args (sync or daemon) until its first reconcile, stops
// it and returns its renders.
func (p *parity) loop(args ...string) []rendered {
	p.t.Helper()
	rr, rec := p.r.recorder()
	since := time.Now()
	proc := rr.start(append(args, p.args...)...)
	p.r.reconciled(proc, since)
	p.t.Logf("%s reconciled after %v", args[0], time.Since(since).Round(time.Millisecond))
	if code, _ := proc.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		p.t.Errorf("%s: exit %d after SIGTERM", args[0], code)
	}
	return renders(p.t, rec)
}

// same checks that the driver rendered each of components, and every
// component it rendered (every time) as render did.
func (p *parity) same(driver string, got []rendered, components []string) {
	p.t.Helper()
	rendered := map[string]bool{}
	for _, c := range got {
		rendered[c.Component] = true
		want, ok := p.ref[c.Component]
		switch {
		case !ok:
			p.t.Errorf("%s rendered component %s, which render does not", driver, c.Component)
		case c != want:
			p.t.Errorf("%s rendered %v; render %v", driver, c, want)
		}
	}
	for _, c := range components {
		if !rendered[c] {
			p.t.Errorf("%s did not render component %s (it rendered %v)", driver, c, got)
		}
	}
}

// all are the components render rendered.
func (p *parity) all() []string {
	var out []string
	for c := range p.ref {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// full brings r's environment up and down through every driver, checking
// that each renders, component by component, what render renders for the
// cluster as it is at that point: before the environment is up (diff, up:
// releases render as installs), and once it is up (diff, apply, sync,
// daemon, test, and down's delete hooks: releases render as upgrades).
// diffUp is the exit code of the diff right after up: 1 when a release
// renders differently as an upgrade.
func (p *parity) full(diffUp int) {
	t, r := p.t, p.r
	p.renderNow()
	p.same("diff before up", p.run("diff before up", []int{1}, "diff", r.env, "--kubeconfig", r.kubeconfig), p.all())
	t.Cleanup(func() {
		// Whatever failed, the environment leaves the shared cluster.
		if code, stdout, stderr := r.run("down", r.env, "--yes", "--kubeconfig", r.kubeconfig); code != 0 {
			t.Errorf("down %s: exit %d\n%s%s", r.env, code, stdout, stderr)
		}
	})
	p.same("up", p.run("up", []int{0}, "up", r.env), p.all())

	p.renderNow()
	p.same("diff once up", p.run("diff once up", []int{diffUp}, "diff", r.env, "--kubeconfig", r.kubeconfig), p.all())
	p.same("apply", p.run("apply", []int{0}, "apply", r.env, "--kubeconfig", r.kubeconfig), p.all())
	p.same("sync", p.loop("sync", r.env), p.all())
	p.same("daemon", p.loop("daemon", r.env, "--kubeconfig", r.kubeconfig, "--listen", freeAddr(t)), p.all())
	p.same("test", p.run("test", []int{0}, "test", r.env, "--kubeconfig", r.kubeconfig), p.all())
	p.same("down", p.run("down", []int{0}, "down", r.env, "--yes", "--kubeconfig", r.kubeconfig), r.helmComponents())
}

// TestEveryDriverRendersWhatRenderDoes: render, diff, up, apply, sync,
// daemon, test and down all render through the one engine, so each renders
// every component exactly as `envctl render --kubeconfig` does for the
// cluster in the same state (its API versions, the releases its inventory
// holds). The repository's ci environment and the capability-gated chart
// go through every driver; local and staging, whose platforms do not fit
// the shared test cluster beside ci (they share its namespaces, and staging
// needs storage and Secrets made out of band), through render and diff.
func TestEveryDriverRendersWhatRenderDoes(t *testing.T) {
	t.Run("chart", func(t *testing.T) {
		r := newRepo(t)
		r.applyWidgetCRD()
		r.chart()
		p := &parity{t: t, r: r}
		// Once installed, the release renders .Release.IsUpgrade true.
		p.full(1)
		if p.ref["chart"].Objects != withWidget {
			t.Errorf("render rendered %v, want the Widget the cluster serves among %d objects", p.ref["chart"], withWidget)
		}
	})
	t.Run("ci", func(t *testing.T) {
		r := newRepo(t)
		r.platform("ci")
		(&parity{t: t, r: r}).full(0)
	})
	for _, env := range []string{"local", "staging"} {
		t.Run(env, func(t *testing.T) {
			r := newRepo(t)
			r.platform(env)
			key, err := filepath.Abs(stagingKey)
			if err != nil {
				t.Fatal(err)
			}
			p := &parity{t: t, r: r.with("SOPS_AGE_KEY=", "SOPS_AGE_KEY_FILE="), args: []string{"--decryption-key-file", key}}
			p.renderNow()
			p.same("diff", p.run("diff", []int{1}, "diff", env, "--kubeconfig", r.kubeconfig), p.all())
			if env == "staging" && !strings.Contains(strings.Join(p.all(), " "), "model-serving") {
				t.Errorf("staging rendered %v, without its SOPS-decrypting model-serving", p.all())
			}
		})
	}
}
