package webhooks

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

func TestFind(t *testing.T) {
	objs := objects(t,
		`{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingWebhookConfiguration, metadata: {name: v},
		  webhooks: [
		    {name: svc.example.com, clientConfig: {service: {namespace: ns, name: hook}}},
		    {name: port.example.com, clientConfig: {service: {namespace: ns, name: hook, port: 8443}}},
		    {name: local.example.com, clientConfig: {url: "https://127.0.0.1:9443/v"}},
		    {name: localhost.example.com, clientConfig: {url: "https://localhost:9443/v"}},
		    {name: v6.example.com, clientConfig: {url: "https://[::1]:9443/v"}},
		    {name: remote.example.com, clientConfig: {url: "https://hooks.example.com/v"}},
		    {name: apiserver.example.com, clientConfig: {service: {namespace: default, name: kubernetes}}}]}`,
		`{apiVersion: admissionregistration.k8s.io/v1, kind: MutatingWebhookConfiguration, metadata: {name: m},
		  webhooks: [{name: m.example.com, clientConfig: {service: {namespace: ns, name: mut}}}]}`,
		`{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: ws.example.com},
		  spec: {conversion: {strategy: Webhook, webhook: {clientConfig: {service: {namespace: ns, name: conv, port: 443}}}}}}`,
		`{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: none.example.com},
		  spec: {conversion: {strategy: None}}}`,
		`{apiVersion: v1, kind: Service, metadata: {name: hook, namespace: ns}}`,
	)
	want := []Webhook{
		{Kind: "ValidatingWebhookConfiguration", Config: "v", Name: "svc.example.com", Service: "ns/hook:443"},
		{Kind: "ValidatingWebhookConfiguration", Config: "v", Name: "port.example.com", Service: "ns/hook:8443"},
		{Kind: "ValidatingWebhookConfiguration", Config: "v", Name: "remote.example.com", URL: "https://hooks.example.com/v"},
		{Kind: "MutatingWebhookConfiguration", Config: "m", Name: "m.example.com", Service: "ns/mut:443"},
		{Kind: "CustomResourceDefinition", Config: "ws.example.com", Service: "ns/conv:443"},
	}
	if d := cmp.Diff(want, Find(objs)); d != "" {
		t.Errorf("Find (-want +got):\n%s", d)
	}
}

func TestMessages(t *testing.T) {
	w := Webhook{Kind: "ValidatingWebhookConfiguration", Config: "policy", Name: "check.example.com", Service: "ns/hook:443"}
	for _, msg := range []string{w.Skipped(), w.Failed()} {
		for _, want := range []string{"ValidatingWebhookConfiguration policy", `webhook "check.example.com"`, "Service ns/hook:443", "pods do not run on the embedded cluster"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q does not say %q", msg, want)
			}
		}
	}
	crd := Webhook{Kind: "CustomResourceDefinition", Name: "Widget.example.com", URL: "https://conv.example.com"}
	if got := crd.Failed(); !strings.Contains(got, "conversion webhook of custom resource kind Widget.example.com calls URL https://conv.example.com, off this machine") {
		t.Errorf("conversion message: %q", got)
	}
}

func newTestGuard(t *testing.T, policy string) *Guard {
	t.Helper()
	g, err := NewGuard(policy, "https://127.0.0.1:6443", []byte("CA"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTransform(t *testing.T) {
	g := newTestGuard(t, Skip)
	port := int32(8443)
	local := "https://127.0.0.1:9443/v"
	some := admissionregistrationv1.SideEffectClassSome
	in := &admissionregistrationv1.ValidatingWebhookConfiguration{
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "svc", SideEffects: &some, ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "hook", Port: &port}, CABundle: []byte("theirs")}},
			{Name: "local", SideEffects: &some, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &local}},
		},
	}
	in.Name = "v"
	out, err := g.Transform(in)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*admissionregistrationv1.ValidatingWebhookConfiguration)
	svc := got.Webhooks[0]
	if svc.ClientConfig.Service != nil || svc.ClientConfig.URL == nil || !strings.HasPrefix(*svc.ClientConfig.URL, "https://127.0.0.1:6443"+answerPath) {
		t.Errorf("service webhook not pointed at the guard: %+v", svc.ClientConfig)
	}
	if string(svc.ClientConfig.CABundle) != "CA" || *svc.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("service webhook: caBundle %q sideEffects %v, want the cluster CA and None", svc.ClientConfig.CABundle, *svc.SideEffects)
	}
	if lw := got.Webhooks[1]; *lw.ClientConfig.URL != local || *lw.SideEffects != some {
		t.Errorf("a webhook on this machine was changed: %+v", lw)
	}
	if in.Webhooks[0].ClientConfig.Service == nil {
		t.Error("Transform changed the object it was given")
	}
}

// call posts an admission review to the webhook the guard put in place of
// the first webhook of a configuration.
func call(t *testing.T, g *Guard, apiVersion string) *httptest.ResponseRecorder {
	t.Helper()
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name:         "m.example.com",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "hook"}},
	}}}
	cfg.Name = "mut"
	out, _ := g.Transform(cfg)
	u := *out.(*admissionregistrationv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.URL
	body := `{"apiVersion":"` + apiVersion + `","kind":"AdmissionReview","request":{"uid":"u-1","operation":"CREATE"}}`
	req := httptest.NewRequest(http.MethodPost, strings.TrimPrefix(u, "https://127.0.0.1:6443"), strings.NewReader(body))
	rec := httptest.NewRecorder()
	g.Wrap(http.NotFoundHandler()).ServeHTTP(rec, req)
	return rec
}

func TestAnswer(t *testing.T) {
	g := newTestGuard(t, Skip)
	for _, v := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		rec := call(t, g, v)
		want := `{"apiVersion":"` + v + `","kind":"AdmissionReview","response":{"uid":"u-1","allowed":true}}`
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("skip, %s: %d %s, want 200 %s", v, rec.Code, rec.Body, want)
		}
	}
	if err := g.SetPolicy(Fail); err != nil {
		t.Fatal(err)
	}
	rec := call(t, g, "admission.k8s.io/v1")
	var st struct{ Kind, Message string }
	_ = json.Unmarshal(rec.Body.Bytes(), &st)
	if rec.Code != http.StatusInternalServerError || st.Kind != "Status" ||
		!strings.Contains(st.Message, `MutatingWebhookConfiguration mut, webhook "m.example.com", calls Service ns/hook:443`) {
		t.Errorf("fail: %d %s", rec.Code, rec.Body)
	}
	if err := g.SetPolicy("maybe"); err == nil {
		t.Error("SetPolicy accepted an unknown policy")
	}

	// The policy path, and everything else passes through.
	rec = httptest.NewRecorder()
	g.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PolicyPath, nil))
	if strings.TrimSpace(rec.Body.String()) != `{"policy":"fail"}` {
		t.Errorf("policy: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	g.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/api was not passed on: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	g.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, answerPath+"!!", strings.NewReader("{}")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("a bad answer path: %d, want 400", rec.Code)
	}
}

func TestConversionAnswer(t *testing.T) {
	g := newTestGuard(t, Skip)
	resolver := g.ConversionResolver(nil)(nil)
	cfg, err := resolver.ClientConfigForService("conv", "ns", 443)
	if err != nil {
		t.Fatal(err)
	}
	rt := cfg.WrapTransport(http.DefaultTransport)
	review := `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u-2","desiredAPIVersion":"example.com/v2",
	  "objects":[{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"a"},"spec":{"size":1}}]}}`
	post := func() (*http.Response, error) {
		req := httptest.NewRequest(http.MethodPost, "https://conv.ns.svc:443/convert", strings.NewReader(review))
		return rt.RoundTrip(req)
	}
	res, err := post()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	want := `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","response":{"uid":"u-2","convertedObjects":[{"apiVersion":"example.com/v2","kind":"Widget","metadata":{"name":"a"},"spec":{"size":1}}],"result":{"status":"Success"}}}`
	if string(body) != want {
		t.Errorf("skip:\n got %s\nwant %s", body, want)
	}
	_ = g.SetPolicy(Fail)
	if _, err := post(); err == nil || !strings.Contains(err.Error(), "conversion webhook of custom resource kind Widget.example.com calls Service ns/conv:443, but pods do not run on the embedded cluster") {
		t.Errorf("fail: %v", err)
	}
	// The API server's own Service, and URLs on this machine, are left to
	// the resolver it had.
	delegate := &webhook.AuthenticationInfoResolverDelegator{
		ClientConfigForFunc:        func(string) (*rest.Config, error) { return nil, errors.New("delegate") },
		ClientConfigForServiceFunc: func(string, string, int) (*rest.Config, error) { return nil, errors.New("delegate") },
	}
	r := g.ConversionResolver(nil)(delegate)
	if _, err := r.ClientConfigForService("kubernetes", "default", 443); err == nil {
		t.Error("the kubernetes Service did not go to the wrapped resolver")
	}
	if _, err := r.ClientConfigFor("localhost:9443"); err == nil {
		t.Error("a URL on this machine did not go to the wrapped resolver")
	}
	if _, err := r.ClientConfigFor("conv.example.com:443"); err != nil {
		t.Errorf("a URL off this machine: %v", err)
	}
}
