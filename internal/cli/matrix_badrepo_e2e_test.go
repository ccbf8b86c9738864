package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad repositories: each a clear error (exit 2) within seconds and bounded
// memory, with nothing applied and nothing pruned.
func TestMatrixBadRepositories(t *testing.T) {
	canary := newCanary(t)
	e := newE2E(t, "badrepo")
	iv := newInvariants(t, e, canary)
	iv.watch(e.ns + "-by")
	e.setComponents("app", "chart")
	e.componentOverlay("app", matrixRender(canary, 0))
	e.write("charts/demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
	e.write("charts/demo/values.yaml", "greeting: hello\n")
	e.write("charts/demo/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-chart\n  namespace: "+e.ns+"\ndata:\n  greeting: {{ .Values.greeting | quote }}\n")
	chartEnv := func(valuesFile string) {
		values := ""
		if valuesFile != "" {
			values = "\n        valuesFiles: [" + valuesFile + "]"
		}
		e.write("environments/"+e.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: `+e.env+`
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
    - name: app
      kustomize: overlays/app
    - name: chart
      helm:
        chart: charts/demo
        release: demo
        namespace: `+e.ns+values+`
`)
	}
	chartEnv("")
	e.mustRun(ExitOK, "apply")
	// Declared next: step 1, whose apply would change and prune objects.
	e.componentOverlay("app", matrixRender(canary, 1))

	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, prev := 'b', 'a'; i <= 'i'; i, prev = i+1, i {
		bomb += fmt.Sprintf("%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	tests := []struct {
		name   string
		break_ func(t *testing.T)
		want   []string
	}{
		{
			name:   "chart template that fails",
			break_: func(t *testing.T) { e.write("charts/demo/templates/fail.yaml", `{{ fail "the chart refuses" }}`+"\n") },
			want:   []string{"charts/demo", "demo/templates/fail.yaml", "the chart refuses"},
		},
		{
			name: "chart template that recurses without end",
			break_: func(t *testing.T) {
				e.write("charts/demo/templates/loop.yaml", `{{- define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}`+"\n")
			},
			want: []string{"charts/demo", "loop"},
		},
		{
			name: "kustomization that includes itself",
			break_: func(t *testing.T) {
				e.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../app\n")
			},
			want: []string{"overlays/app"},
		},
		{
			name: "values file of 50 MiB",
			break_: func(t *testing.T) {
				f, err := os.Create(filepath.Join(e.repo, "big-values.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				line := "k" + strings.Repeat("x", 60) + ": " + strings.Repeat("v", 60) + "\n"
				for n := 0; n < 50<<20; n += len(line) {
					fmt.Fprintf(f, "k%d%s", n, line)
				}
				f.Close()
				chartEnv("big-values.yaml")
			},
			want: []string{"big-values.yaml", "MiB"},
		},
		{
			name: "YAML bomb in a values file",
			break_: func(t *testing.T) {
				e.write("bomb-values.yaml", bomb)
				chartEnv("bomb-values.yaml")
			},
			want: []string{"bomb-values.yaml"},
		},
		{
			name: "YAML bomb in a kustomize resource",
			break_: func(t *testing.T) {
				res := matrixRender(canary, 1)
				res["bomb.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\n  namespace: NS\nbomb:\n" + indent2(bomb) + "data: {x: y}\n"
				e.componentOverlay("app", res)
			},
			want: []string{"overlays/app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.break_(t)
			t.Cleanup(func() {
				// Back to the good repository of step 1.
				for _, f := range []string{"charts/demo/templates/fail.yaml", "charts/demo/templates/loop.yaml", "big-values.yaml", "bomb-values.yaml", "overlays/app/bomb.yaml"} {
					_ = os.Remove(filepath.Join(e.repo, f))
				}
				e.componentOverlay("app", matrixRender(canary, 1))
				chartEnv("")
			})
			start := time.Now()
			p := e.start("", nil, "apply")
			code := p.wait(time.Minute)
			took := time.Since(start)
			if code != ExitInput {
				t.Errorf("exit %d, want %d", code, ExitInput)
			}
			mustContain(t, "the error", p.errOut.String(), tt.want...)
			if took > 20*time.Second {
				t.Errorf("took %v to fail, want seconds", took)
			}
			if rss := p.maxRSS(); rss > 1<<30 {
				t.Errorf("peak memory %d MiB, want it bounded (under 1 GiB)", rss>>20)
			}
			t.Logf("failed in %v, peak memory %d MiB", took.Round(time.Millisecond), p.maxRSS()>>20)
			// Nothing applied (step 1's objects), nothing pruned (step 0's).
			if e.configMapExists("step-1-a") || !e.configMapExists("step-0-a") {
				t.Error("a bad repository applied or pruned")
			}
			iv.check(tt.name)
		})
	}
	iv.converge("after the bad repositories", "apply")
}

// indent2 indents every line of s by two spaces.
func indent2(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
