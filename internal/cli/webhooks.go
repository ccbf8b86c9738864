package cli

import (
	"context"
	"log/slog"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/cluster/embedded/webhooks"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// skippedWebhooks returns one warning for each webhook of rendered that the
// cluster's API server skips: the webhooks only a pod could serve, on an
// embedded cluster with webhooks: skip. The cluster is asked only when the
// render has such webhooks, so other runs make no extra request.
func skippedWebhooks(ctx context.Context, client *kube.Client, rendered *render.Result, log *slog.Logger) []string {
	var objs []*unstructured.Unstructured
	for _, c := range rendered.Components {
		objs = append(objs, c.Objects...)
		for _, h := range c.Hooks {
			objs = append(objs, h.Object)
		}
	}
	found := webhooks.Find(objs)
	if len(found) == 0 {
		return nil
	}
	policy, embedded, err := webhooks.Policy(ctx, client.Clientset.Discovery().RESTClient())
	if err != nil {
		log.Debug("webhook policy not known", "err", err)
		return nil
	}
	if !embedded || policy != webhooks.Skip {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, w := range found {
		if msg := w.Skipped(); !seen[msg] {
			seen[msg] = true
			out = append(out, msg)
		}
	}
	return out
}
