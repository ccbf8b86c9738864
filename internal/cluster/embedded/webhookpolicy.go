package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/errs"
)

// followWebhookPolicy gives the serve process's control plane the webhook
// policy its state file records now, so that Ensure can change it without
// a restart. A state file that cannot be read is left to the pid-file
// watchdog and to the next Ensure, which report it.
func followWebhookPolicy(log *slog.Logger, cp *ControlPlane, dir, name string) {
	st, err := readState(dir, name)
	if err != nil {
		return
	}
	if policy := st.webhookPolicy(); policy != cp.WebhookPolicy() {
		if err := cp.SetWebhookPolicy(policy); err != nil {
			log.Warn("embedded cluster: webhook policy in the state file not taken up", "err", err)
			return
		}
		log.Info("embedded cluster: webhook policy changed", "webhooks", policy)
	}
}

// waitWebhookPolicy polls the API server of rc until it reports policy.
func waitWebhookPolicy(ctx context.Context, rc *rest.Config, policy string, timeout time.Duration) error {
	cfg := withNegotiatedSerializer(rest.CopyConfig(rc))
	cfg.QPS = -1 // a few polls; no client-side limit to wait on
	client, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "nothing"
	for {
		got, ok, err := webhooks.Policy(ctx, client)
		switch {
		case err == nil && ok && got == policy:
			return nil
		case err != nil && ctx.Err() == nil:
			last = err.Error()
		case ok:
			last = "webhooks: " + got
		}
		select {
		case <-ctx.Done():
			return errs.Timeout(fmt.Errorf("the serve process did not take up webhooks: %s within %s (it reports %s); restart the cluster with envctl cluster delete and envctl up", policy, timeout, last))
		case <-tick.C:
		}
	}
}
