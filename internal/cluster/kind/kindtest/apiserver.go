package kindtest

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// APIServer is a fake Kubernetes API server on loopback that answers what
// envctl asks a new cluster: its version, its nodes, the default
// ServiceAccount, and ConfigMaps (the ownership marker, the registry's).
type APIServer struct {
	*httptest.Server

	mu         sync.Mutex
	nodes      []corev1.Node
	sa         bool
	configMaps map[string]*corev1.ConfigMap
	// Requests lists "METHOD PATH" of every request.
	requests []string
}

const token = "kindtest-token"

// NewAPIServer starts a fake API server whose cluster has nodes (all Ready
// unless set otherwise) and the default ServiceAccount.
func NewAPIServer(t *testing.T, nodes ...string) *APIServer {
	a := &APIServer{sa: true, configMaps: map[string]*corev1.ConfigMap{}}
	for _, n := range nodes {
		a.nodes = append(a.nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	}
	a.Server = httptest.NewTLSServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

// Addr is HOST:PORT, for State.APIServer.
func (a *APIServer) Addr() string { return strings.TrimPrefix(a.URL, "https://") }

// AdminConf is the kubeconfig kubeadm would write in a control plane of
// cluster name, trusting and reaching this server.
func (a *APIServer) AdminConf(name string) string {
	ca := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Certificate().Raw}))
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: "https://%s-control-plane:6443", certificate-authority-data: %s}
users:
- name: kubernetes-admin
  user: {token: %s}
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: kubernetes-admin@kubernetes
`, name, ca, token)
}

// SetNodeCondition sets the Ready condition of every node.
func (a *APIServer) SetNodeCondition(status corev1.ConditionStatus, reason, message string, pressure ...corev1.NodeConditionType) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.nodes {
		c := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason, Message: message}}
		for _, p := range pressure {
			c = append(c, corev1.NodeCondition{Type: p, Status: corev1.ConditionTrue})
		}
		a.nodes[i].Status.Conditions = c
	}
}

// ConfigMap returns a ConfigMap the server holds; nil when none.
func (a *APIServer) ConfigMap(ns, name string) *corev1.ConfigMap {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.configMaps[ns+"/"+name]
}

// PutConfigMap stores a ConfigMap, as if an earlier envctl had.
func (a *APIServer) PutConfigMap(cm *corev1.ConfigMap) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.configMaps[cm.Namespace+"/"+cm.Name] = cm
}

func (a *APIServer) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer "+token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/version":
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.0"}`)
	case r.URL.Path == "/api/v1/nodes":
		writeJSON(w, corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, Items: a.nodes})
	case r.URL.Path == "/api/v1/namespaces/default/serviceaccounts/default" && a.sa:
		writeJSON(w, corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{Kind: "ServiceAccount", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}})
	case len(parts) >= 5 && parts[4] == "configmaps":
		a.configMap(w, r, parts)
	default:
		notFound(w)
	}
}

func (a *APIServer) configMap(w http.ResponseWriter, r *http.Request, parts []string) {
	ns := parts[3]
	var cm corev1.ConfigMap
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, _ := io.ReadAll(r.Body)
		// client-go sends protobuf or JSON; the scheme's decoder reads both.
		if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, &cm); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Message: err.Error(), Code: http.StatusBadRequest})
			return
		}
		cm.Namespace = ns
		key := ns + "/" + cm.Name
		if _, ok := a.configMaps[key]; ok && r.Method == http.MethodPost {
			w.WriteHeader(http.StatusConflict)
			writeJSON(w, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: metav1.StatusReasonAlreadyExists, Code: http.StatusConflict})
			return
		}
		cm.TypeMeta = metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}
		a.configMaps[key] = &cm
		writeJSON(w, cm)
		return
	}
	if len(parts) == 6 {
		if got, ok := a.configMaps[ns+"/"+parts[5]]; ok {
			got.TypeMeta = metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}
			writeJSON(w, got)
			return
		}
	}
	notFound(w)
}

func notFound(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNotFound)
	writeJSON(w, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound})
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}
