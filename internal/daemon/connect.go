package daemon

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kube"
)

// Connect reaches the cluster the daemon runs against: the one of the
// kubeconfig file and context when either is given, else the pod's own
// through its service account.
func Connect(file, context string) (*kube.Client, error) {
	var cfg *rest.Config
	var err error
	if file != "" || context != "" {
		cfg, err = kubeconfig.RESTConfig(file, context)
		if err != nil {
			return nil, err
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, errs.Inputf("not running inside a cluster (no service account token); run the daemon in the cluster, or point it at one with --kubeconfig/--context")
		}
		if err != nil {
			return nil, errs.Cluster(fmt.Errorf("in-cluster configuration: %w", err))
		}
	}
	client, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	return client, nil
}
