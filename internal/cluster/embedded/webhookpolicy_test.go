package embedded_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/testenv"
)

// A serve process follows the webhook policy its state file records, and
// Ensure can tell from the API server when it has.
func TestWebhookPolicyFollowsTheState(t *testing.T) {
	cp := testenv.Get(t).ControlPlane()
	t.Cleanup(func() { _ = cp.SetWebhookPolicy("skip") })
	dir := t.TempDir()
	ctx := context.Background()
	for _, policy := range []string{"fail", "skip", "fail"} {
		if err := embedded.WriteTestState(dir, "demo", policy); err != nil {
			t.Fatal(err)
		}
		embedded.FollowWebhookPolicy(slog.New(slog.DiscardHandler), cp, dir, "demo")
		if got := cp.WebhookPolicy(); got != policy {
			t.Errorf("after the state said %s, the control plane's policy is %s", policy, got)
		}
		if err := embedded.WaitWebhookPolicy(ctx, cp.RESTConfig(), policy, 5*time.Second); err != nil {
			t.Errorf("the API server does not report webhooks: %s: %v", policy, err)
		}
	}
	err := embedded.WaitWebhookPolicy(ctx, cp.RESTConfig(), "skip", 300*time.Millisecond)
	if errs.KindOf(err) != errs.KindTimeout || !strings.Contains(err.Error(), "did not take up webhooks: skip") || !strings.Contains(err.Error(), "it reports webhooks: fail") {
		t.Errorf("waiting for a policy the cluster does not have: %v", err)
	}
}
