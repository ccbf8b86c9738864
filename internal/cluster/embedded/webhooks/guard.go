package webhooks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// Paths the guard serves on the API server's own port, ahead of
// authentication: the API server calls its webhook answers without
// credentials, and the policy is no secret.
const (
	// PolicyPath answers GET with {"policy": "skip"|"fail"}.
	PolicyPath = "/.well-known/envctl-embedded/webhooks"
	// answerPath + an encoded Webhook answers one webhook's admission
	// reviews.
	answerPath = PolicyPath + "/answer/"
)

// maxReviewBytes bounds an admission review the guard reads; the API
// server's own limit for a request body is 3 MiB, and a review holds the
// object twice.
const maxReviewBytes = 8 << 20

// Guard answers, in-process, the webhook calls that only a pod could
// serve. The API server's webhook configurations are rewritten as they
// enter its informer cache (Transform) so that each such webhook calls the
// guard on the API server's own port (Wrap), with the cluster's CA; CRD
// conversion webhooks are answered without any connection
// (ConversionResolver).
type Guard struct {
	policy atomic.Value // string
	// server is the API server's URL, https://127.0.0.1:PORT, and caPEM
	// the CA its serving certificate chains to.
	server string
	caPEM  []byte
	log    *slog.Logger
	// seen holds the webhooks already logged, so that each is logged once.
	seen sync.Map
}

// NewGuard returns a guard with policy (Skip when empty) for the API
// server at server, whose serving certificate caPEM verifies.
func NewGuard(policy, server string, caPEM []byte, log *slog.Logger) (*Guard, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{server: strings.TrimSuffix(server, "/"), caPEM: caPEM, log: log}
	if err := g.SetPolicy(policy); err != nil {
		return nil, err
	}
	return g, nil
}

// SetPolicy changes the policy; calls answered from now on follow it.
func (g *Guard) SetPolicy(policy string) error {
	switch policy {
	case "":
		policy = Skip
	case Skip, Fail:
	default:
		return fmt.Errorf("unknown webhook policy %q; want %s or %s", policy, Skip, Fail)
	}
	g.policy.Store(policy)
	return nil
}

// Policy returns the current policy.
func (g *Guard) Policy() string { return g.policy.Load().(string) }

// Transform rewrites the webhooks of a validating or mutating webhook
// configuration that only a pod could serve so that they call the guard;
// it is the transform of the API server's informers of those kinds, so the
// stored objects are untouched. The rewritten webhooks declare no side
// effects, since the guard has none: dry-run requests, such as those of
// `envctl diff`, pass them.
func (g *Guard) Transform(obj any) (any, error) {
	switch c := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		c = c.DeepCopy()
		for i := range c.Webhooks {
			h := &c.Webhooks[i]
			g.rewrite("ValidatingWebhookConfiguration", c.Name, h.Name, &h.ClientConfig, &h.SideEffects)
		}
		return c, nil
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		c = c.DeepCopy()
		for i := range c.Webhooks {
			h := &c.Webhooks[i]
			g.rewrite("MutatingWebhookConfiguration", c.Name, h.Name, &h.ClientConfig, &h.SideEffects)
		}
		return c, nil
	}
	return obj, nil
}

func (g *Guard) rewrite(kind, config, name string, cc *admissionregistrationv1.WebhookClientConfig, sideEffects **admissionregistrationv1.SideEffectClass) {
	w := Webhook{Kind: kind, Config: config, Name: name}
	switch {
	case cc.Service != nil:
		port := int32(0)
		if cc.Service.Port != nil {
			port = *cc.Service.Port
		}
		if isAPIServer(cc.Service.Namespace, cc.Service.Name, port) {
			return
		}
		w.Service = service(cc.Service.Namespace, cc.Service.Name, port)
	case cc.URL != nil && offMachine(*cc.URL):
		w.URL = *cc.URL
	default:
		return
	}
	data, err := json.Marshal(w)
	if err != nil {
		return
	}
	u := g.server + answerPath + base64.RawURLEncoding.EncodeToString(data)
	*cc = admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: g.caPEM}
	none := admissionregistrationv1.SideEffectClassNone
	*sideEffects = &none
}

// Wrap returns h with the guard's paths served in front of it.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == PolicyPath && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]string{"policy": g.Policy()})
		case strings.HasPrefix(r.URL.Path, answerPath) && r.Method == http.MethodPost:
			g.answer(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// review is the part of an AdmissionReview (admission.k8s.io/v1 or
// v1beta1) the guard reads and writes.
type review struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    *reviewRequest  `json:"request,omitempty"`
	Response   *reviewResponse `json:"response,omitempty"`
}

type reviewRequest struct {
	UID string `json:"uid"`
}

type reviewResponse struct {
	UID     string `json:"uid"`
	Allowed bool   `json:"allowed"`
}

// answer answers one admission review of the webhook the path names.
func (g *Guard) answer(w http.ResponseWriter, r *http.Request) {
	var hook Webhook
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(r.URL.Path, answerPath))
	if err == nil {
		err = json.Unmarshal(data, &hook)
	}
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "not a webhook the embedded cluster answers: "+err.Error())
		return
	}
	var in review
	if err := json.NewDecoder(io.LimitReader(r.Body, maxReviewBytes)).Decode(&in); err != nil || in.Request == nil {
		writeStatus(w, http.StatusBadRequest, fmt.Sprintf("%s: not an admission review", hook.what()))
		return
	}
	policy := g.Policy()
	g.logOnce(hook, policy)
	if policy == Fail {
		writeStatus(w, http.StatusInternalServerError, hook.Failed())
		return
	}
	writeJSON(w, http.StatusOK, review{
		APIVersion: in.APIVersion,
		Kind:       "AdmissionReview",
		Response:   &reviewResponse{UID: in.Request.UID, Allowed: true},
	})
}

// logOnce logs the first call to each webhook under each policy.
func (g *Guard) logOnce(hook Webhook, policy string) {
	key := policy + "\x00" + hook.Kind + "\x00" + hook.Config + "\x00" + hook.Name
	if _, dup := g.seen.LoadOrStore(key, true); dup {
		return
	}
	if policy == Fail {
		g.log.Warn("webhook call failed", "reason", hook.Failed())
		return
	}
	g.log.Info("webhook skipped", "reason", hook.Skipped())
}

// writeStatus answers with a metav1.Status, which the API server's webhook
// client decodes into an error carrying message.
func writeStatus(w http.ResponseWriter, code int, message string) {
	reason := "InternalError"
	if code == http.StatusBadRequest {
		reason = "BadRequest"
	}
	writeJSON(w, code, map[string]any{
		"apiVersion": "v1", "kind": "Status", "status": "Failure",
		"message": message, "reason": reason, "code": code,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
