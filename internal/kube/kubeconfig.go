package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/errs"
)

// LoadKubeconfig returns the client configuration of context in the
// kubeconfig file path. An empty path means the usual rules ($KUBECONFIG,
// then ~/.kube/config); an empty context means the file's current context.
func LoadKubeconfig(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "the default kubeconfig"
		}
		if context != "" {
			return nil, errs.Input(fmt.Errorf("kubeconfig %s, context %q: %w", where, context, err))
		}
		return nil, errs.Input(fmt.Errorf("kubeconfig %s: %w", where, err))
	}
	return cfg, nil
}
