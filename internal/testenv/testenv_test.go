package testenv_test

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(isolatedProbeEnv) == "1" {
		os.Exit(testenv.RunIsolated(m))
	}
	os.Exit(testenv.Run(m))
}

func TestNamespaceIsReadyForPods(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	if !strings.HasPrefix(ns, "testnamespaceisreadyforpods-") {
		t.Errorf("namespace %q is not named after the test", ns)
	}
	ctx := context.Background()
	if _, err := env.Clientset().CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("default service account: %v", err)
	}
	namespaces := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	if _, err := env.Dynamic().Resource(namespaces).Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("dynamic get namespace: %v", err)
	}
}

func TestKubeconfigWorks(t *testing.T) {
	env := testenv.Get(t)
	path := env.Kubeconfig(t)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600", info.Mode().Perm())
	}
	raw, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != "envctl-test" {
		t.Errorf("current context %q, want envctl-test", raw.CurrentContext)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, nil).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Errorf("client from the kubeconfig: %v", err)
	}
}

func TestRESTConfigIsACopy(t *testing.T) {
	env := testenv.Get(t)
	cfg := env.RESTConfig()
	cfg.Host = "https://changed.invalid"
	if env.RESTConfig().Host == cfg.Host {
		t.Error("changing a returned config changed the environment's")
	}
}
