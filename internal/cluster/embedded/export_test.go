package embedded

import (
	"context"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/envctl/envctl/internal/config"
)

// Unexported functions the external tests of this package call.
var (
	FollowWebhookPolicy = followWebhookPolicy
	WaitWebhookPolicy   = waitWebhookPolicy
)

// WriteTestState writes a state file for cluster name in dir that records
// webhook policy webhooks.
func WriteTestState(dir, name, webhooks string) error {
	return writeState(dir, &clusterState{
		Name: name, Created: time.Now().UTC(),
		Nodes: []config.NodePool{{Name: "node", Count: 1}}, Webhooks: webhooks,
	})
}

// WaitComponentsAuthorized waits as Start does for the controller manager
// and the scheduler to be authorized, and, when user is set, for user to
// be allowed attrs as well.
func (cp *ControlPlane) WaitComponentsAuthorized(ctx context.Context, user string, attrs authorizationv1.ResourceAttributes) error {
	checks := componentAccess
	if user != "" {
		checks = append(checks[:len(checks):len(checks)], accessCheck{user, attrs})
	}
	return cp.waitAuthorized(ctx, nil, checks)
}
