package kubeconfig

import (
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// FuzzForCluster feeds ForCluster the kubeconfigs providers and users hand
// it. It must never panic, and whatever it accepts must come out as a
// kubeconfig with exactly the cluster's context, current.
func FuzzForCluster(f *testing.F) {
	f.Add([]byte(userFile))
	f.Add(clusterKubeconfig("ml", "https://127.0.0.1:6443"))
	f.Add([]byte("apiVersion: v1\nkind: Config\n"))
	f.Add([]byte("contexts: [{name: a, context: {cluster: b, user: c}}]\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := ForCluster(data, "ml")
		if err != nil {
			return
		}
		cfg, err := clientcmd.Load(out)
		if err != nil {
			t.Fatalf("ForCluster produced a kubeconfig that does not load: %v\n%s", err, out)
		}
		if len(cfg.Contexts) != 1 || cfg.CurrentContext != "envctl-ml" || cfg.Contexts["envctl-ml"] == nil {
			t.Fatalf("ForCluster produced contexts %v, current %q", cfg.Contexts, cfg.CurrentContext)
		}
	})
}
