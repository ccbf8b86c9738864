package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/webhook"
)

// webhookEvents is how many pushes one op of BenchmarkWebhookToAppliedCI
// makes, enough for a p99.
const webhookEvents = 50

// BenchmarkWebhookToAppliedCI measures how long a push takes to be applied
// after its webhook: `envctl daemon ci --git` follows a branch holding the
// repository's own ci environment (every component of the example
// platform) on git http-backend, with polling off (--interval 1h). Each
// event commits a change to the platform overlay (an annotation on its
// Namespaces, quotas and PriorityClass), pushes it, sends a signed webhook
// and waits until the daemon's /metrics says the new revision is applied:
// a ref listing, a fetch of the new commit, a snapshot, a render of every
// component and the engine's run with its health checks. It reports the
// p50 and p99 over all events.
func BenchmarkWebhookToAppliedCI(b *testing.B) {
	g := newGitRepo(b)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"config.yaml", "environments"} {
		if err := os.RemoveAll(filepath.Join(g.dir, p)); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range []string{"config.yaml", "environments", "bases", "overlays"} {
		if out, err := exec.Command("cp", "-R", filepath.Join(root, p), g.dir).CombinedOutput(); err != nil {
			b.Fatalf("copy %s: %v: %s", p, err, out)
		}
	}
	kustomization := filepath.Join(g.dir, "overlays", "ci", "platform", "kustomization.yaml")
	original, err := os.ReadFile(kustomization)
	if err != nil {
		b.Fatal(err)
	}
	rev := "main@sha1:" + g.git.Commit("the repository's ci environment")

	addr := freeAddr(b)
	p := g.startGit("daemon", "ci", "--kubeconfig", g.kubeconfig, "--listen", addr, "--interval", "1h", "--log-format", "text")
	appliedIn := func(rev string, timeout time.Duration) error {
		deadline := time.Now().Add(timeout)
		sample := `envctl_applied_revision_info{environment="ci",revision="` + rev + `"} 1`
		for time.Now().Before(deadline) {
			if p.exited() {
				return fmt.Errorf("the daemon exited %d: %s", p.code, p.err)
			}
			if _, text, err := get(addr, "/metrics"); err == nil && strings.Contains(text, sample) {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		return fmt.Errorf("%s not applied within %s", rev, timeout)
	}
	if err := appliedIn(rev, 5*time.Minute); err != nil {
		b.Fatal(err)
	}

	var all []time.Duration
	n := 0
	b.ResetTimer()
	for range b.N {
		for range webhookEvents {
			b.StopTimer()
			n++
			annotated := fmt.Sprintf("%s\ncommonAnnotations:\n  envctl.dev/bench-push: %q\n", original, fmt.Sprint(n))
			if err := os.WriteFile(kustomization, []byte(annotated), 0o644); err != nil {
				b.Fatal(err)
			}
			rev := "main@sha1:" + g.git.Commit(fmt.Sprintf("push %d", n))
			body := fmt.Appendf(nil, `{"ref":"refs/heads/main","n":%d}`, n)
			b.StartTimer()
			start := time.Now()
			code, resp := post(b, addr, body, map[string]string{
				webhook.HeaderGitHub: webhook.Sign(body, []byte(hookSecret)), "X-GitHub-Delivery": fmt.Sprintf("bench-%d", n),
			})
			if code != 202 {
				b.Fatalf("webhook: HTTP %d %q", code, resp)
			}
			if err := appliedIn(rev, 30*time.Second); err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(all)
	pct := func(p int) time.Duration { return all[max((len(all)*p+99)/100-1, 0)] }
	b.ReportMetric(pct(50).Seconds()*1000, "p50-ms")
	b.ReportMetric(pct(99).Seconds()*1000, "p99-ms")
	b.ReportMetric(float64(len(all)), "events")
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		b.Errorf("daemon exit %d after SIGTERM", code)
	}
}
