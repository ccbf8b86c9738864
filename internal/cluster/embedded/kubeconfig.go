package embedded

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfig renders a kubeconfig for one client identity, with the
// credentials embedded so that the file works wherever it is copied. The
// cluster, the user and the context are all named name, so that merging
// the file into ~/.kube/config replaces nothing of another cluster's (a
// user named kubernetes-admin, as kubeadm names its own, would).
func kubeconfig(server string, ca []byte, client keyPair, name string) ([]byte, error) {
	keyData, err := client.keyPEM()
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: ca,
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: client.certPEM(),
		ClientKeyData:         keyData,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{
		Cluster:  name,
		AuthInfo: name,
	}
	cfg.CurrentContext = name
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return data, nil
}

// restConfig is a client configuration for one identity.
func restConfig(server string, ca []byte, client keyPair) (*rest.Config, error) {
	keyData, err := client.keyPEM()
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca,
			CertData: client.certPEM(),
			KeyData:  keyData,
		},
		// The defaults (5 QPS, burst 10) throttle an apply of a whole
		// platform against a local server that can take far more.
		QPS:   200,
		Burst: 400,
	}, nil
}
