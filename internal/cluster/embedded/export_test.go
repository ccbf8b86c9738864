package embedded

import (
	"time"

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
