// Package webhooks keeps the embedded cluster's API server from calling
// admission and conversion webhooks that only a pod could serve. Pods do
// not run on the embedded cluster, so a webhook behind an in-cluster
// Service has nothing behind it, and its ClusterIP (or a URL off this
// machine) is an address the API server must never dial.
//
// A Guard answers such calls in-process, by a policy that can change while
// the cluster runs: WebhookSkip treats the webhooks as absent (the request
// passes; a CRD converts as with strategy None), WebhookFail fails each call
// at once with an error naming the webhook and its Service, and the
// webhook's failurePolicy decides what follows, as for any webhook that
// cannot be reached. Webhooks whose URL points at this machine are called
// as usual.
//
// Find lists the webhooks of rendered objects that the guard would answer,
// so that `envctl up` can say which it skips; Policy asks a cluster for its
// policy, and reports when it is not an embedded cluster.
package webhooks

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/config"
)

// Policies, as config.EmbeddedSpec.Webhooks spells them.
const (
	Skip = config.WebhooksSkip
	Fail = config.WebhooksFail
)

// Webhook is a webhook that only a pod could serve.
type Webhook struct {
	// Kind and Config name the object that declares the webhook:
	// ValidatingWebhookConfiguration, MutatingWebhookConfiguration or
	// CustomResourceDefinition, and its name.
	Kind   string `json:"kind"`
	Config string `json:"config"`
	// Name is the webhook's name within its configuration. A conversion
	// webhook has none; when its CRD's name is not known (the API server's
	// conversion request does not carry it), Name is the kind converted.
	Name string `json:"name,omitempty"`
	// Service is "NAMESPACE/NAME:PORT" of an in-cluster Service; URL is
	// set instead for a URL off this machine.
	Service string `json:"service,omitempty"`
	URL     string `json:"url,omitempty"`
}

// what names the webhook: `ValidatingWebhookConfiguration x, webhook "y"`.
func (w Webhook) what() string {
	switch {
	case w.Kind == "CustomResourceDefinition" && w.Config != "":
		return fmt.Sprintf("the conversion webhook of CustomResourceDefinition %s", w.Config)
	case w.Kind == "CustomResourceDefinition":
		return fmt.Sprintf("the conversion webhook of custom resource kind %s", w.Name)
	}
	return fmt.Sprintf("%s %s, webhook %q,", w.Kind, w.Config, w.Name)
}

// target names where its calls would go.
func (w Webhook) target() string {
	if w.Service != "" {
		return "Service " + w.Service
	}
	return "URL " + w.URL + ", off this machine"
}

// Skipped is the warning that says w is skipped.
func (w Webhook) Skipped() string {
	return fmt.Sprintf("%s calls %s; pods do not run on the embedded cluster, so the API server skips it (embedded.webhooks: skip)",
		strings.TrimSuffix(w.what(), ","), w.target())
}

// Failed is the error of a call to w under WebhookFail.
func (w Webhook) Failed() string {
	return fmt.Sprintf("%s calls %s, but pods do not run on the embedded cluster, so nothing serves it (embedded.webhooks: fail; with skip the API server leaves such webhooks out)",
		w.what(), w.target())
}

// service formats a Service reference; port 0 is the API's default, 443.
func service(namespace, name string, port int32) string {
	if port == 0 {
		port = 443
	}
	return fmt.Sprintf("%s/%s:%d", namespace, name, port)
}

// isAPIServer reports whether a Service reference is the API server's own
// "kubernetes" Service, which the API server resolves to itself.
func isAPIServer(namespace, name string, port int32) bool {
	return namespace == "default" && name == "kubernetes" && (port == 0 || port == 443)
}

// offMachine reports whether a webhook URL leads off this machine: its host
// is neither localhost nor a loopback address. Names are not resolved.
func offMachine(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return true
	}
	return !isLocalHost(u.Hostname())
}

func isLocalHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Find lists the webhooks among objs that only a pod could serve, in
// order: those of validating and mutating webhook configurations and the
// conversion webhooks of CRDs.
func Find(objs []*unstructured.Unstructured) []Webhook {
	var out []Webhook
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		switch {
		case gvk.Group == "admissionregistration.k8s.io" && (gvk.Kind == "ValidatingWebhookConfiguration" || gvk.Kind == "MutatingWebhookConfiguration"):
			hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
			for _, h := range hooks {
				hm, ok := h.(map[string]any)
				if !ok {
					continue
				}
				name, _ := hm["name"].(string)
				if w, ok := fromClientConfig(hm["clientConfig"]); ok {
					w.Kind, w.Config, w.Name = gvk.Kind, o.GetName(), name
					out = append(out, w)
				}
			}
		case gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition":
			if s, _, _ := unstructured.NestedString(o.Object, "spec", "conversion", "strategy"); s != "Webhook" {
				continue
			}
			cc, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "conversion", "webhook", "clientConfig")
			if w, ok := fromClientConfig(cc); ok {
				w.Kind, w.Config = gvk.Kind, o.GetName()
				out = append(out, w)
			}
		}
	}
	return out
}

// fromClientConfig reads a webhook clientConfig as decoded from YAML or
// JSON and reports whether it leads to a pod.
func fromClientConfig(v any) (Webhook, bool) {
	cc, ok := v.(map[string]any)
	if !ok {
		return Webhook{}, false
	}
	if svc, ok := cc["service"].(map[string]any); ok {
		ns, _ := svc["namespace"].(string)
		name, _ := svc["name"].(string)
		var port int32
		switch p := svc["port"].(type) {
		case int64:
			port = int32(p)
		case float64:
			port = int32(p)
		}
		if isAPIServer(ns, name, port) {
			return Webhook{}, false
		}
		return Webhook{Service: service(ns, name, port)}, true
	}
	if u, ok := cc["url"].(string); ok && offMachine(u) {
		return Webhook{URL: u}, true
	}
	return Webhook{}, false
}
