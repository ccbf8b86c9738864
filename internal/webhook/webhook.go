// Package webhook receives a Git host's push notifications (POST
// /hooks/git) for the continuous reconcile loop. A notification only makes
// the loop list the remote's refs at once instead of at its next poll: the
// payload is never read for a revision, so a forged or replayed request can
// at worst cause one extra ref listing, and only a signed one gets that far.
//
// A replay is told by the payload, which the signature covers, never by a
// header it does not: a delivery whose body was received before is
// ignored, whatever its X-GitHub-Delivery or other unsigned headers now
// say. Two pushes never share a body (it names the commits). GitLab's token
// signs nothing: it is the secret itself, so its deliveries are only as
// safe as the channel, which is why the webhook can serve TLS.
//
// Three ways to sign, all with the secret from ENVCTL_WEBHOOK_SECRET:
//
//   - GitHub: X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body) in hex;
//   - GitLab: X-Gitlab-Token: the secret itself;
//   - anything else: X-Envctl-Signature: sha256=HMAC-SHA256(secret, body).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// SecretEnv names the environment variable holding the webhook secret.
const SecretEnv = "ENVCTL_WEBHOOK_SECRET"

// MaxBody is the largest request body read; a push payload of a large
// commit fits well within it.
const MaxBody = 1 << 20

// Signature headers.
const (
	HeaderGitHub  = "X-Hub-Signature-256"
	HeaderGitLab  = "X-Gitlab-Token"
	HeaderGeneric = "X-Envctl-Signature"
)

// deliveryHeaders carry the sender's id of one delivery, for the log: the
// id is not signed, so it does not decide a replay.
var deliveryHeaders = []string{"X-GitHub-Delivery", "X-Gitlab-Event-UUID", "X-Envctl-Delivery"}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no signature header (" + HeaderGitHub + ", " + HeaderGitLab + " or " + HeaderGeneric + ")")
	ErrBadSignature = errors.New("signature does not match")
)

// Verify checks the request's signature over body with secret and returns
// the provider that signed it: github, gitlab or generic.
func Verify(h http.Header, body, secret []byte) (string, error) {
	if sig := h.Get(HeaderGitHub); sig != "" {
		return "github", checkHMAC(sig, body, secret)
	}
	if tok := h.Get(HeaderGitLab); tok != "" {
		if subtle.ConstantTimeCompare([]byte(tok), secret) != 1 {
			return "gitlab", ErrBadSignature
		}
		return "gitlab", nil
	}
	if sig := h.Get(HeaderGeneric); sig != "" {
		return "generic", checkHMAC(sig, body, secret)
	}
	return "", ErrNoSignature
}

// checkHMAC compares "sha256=<hex>" with the HMAC-SHA256 of body.
func checkHMAC(sig string, body, secret []byte) error {
	hexSum, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 (and X-Envctl-Signature) value of
// body: what a sender computes.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Handler serves POST /hooks/git.
type Handler struct {
	// Secret signs the requests; with none, every request is refused.
	Secret []byte
	// Trigger asks the loop to list the remote's refs. It must not block;
	// the loop coalesces a burst into one listing.
	Trigger func()
	// Count receives each request's result (metrics.Webhook*).
	Count  func(result string)
	Logger *slog.Logger

	mu   sync.Mutex
	seen []string // digests of recent payloads, oldest first
}

// seenMax bounds the remembered payloads.
const seenMax = 256

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	count := func(result string) {
		if h.Count != nil {
			h.Count(result)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		count(badRequest)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if len(h.Secret) == 0 {
		count(disabled)
		http.Error(w, "webhook disabled: no secret configured ("+SecretEnv+")", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			count(tooLargeResult)
			http.Error(w, "body larger than 1 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		count(badRequest)
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	provider, err := Verify(r.Header, body, h.Secret)
	if err != nil {
		count(badSignature)
		log.Warn("webhook refused", "remote", r.RemoteAddr, "provider", provider, "err", err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if h.replayed(payloadKey(body)) {
		count(replayed)
		log.Warn("webhook payload received before; ignored", "provider", provider, "delivery", deliveryID(r.Header))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "delivery already received\n")
		return
	}
	count(accepted)
	log.Info("webhook accepted; listing the remote's refs", "provider", provider, "event", eventOf(r.Header))
	if h.Trigger != nil {
		h.Trigger()
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "accepted\n")
}

// Result names, as metrics.Webhook* spells them (kept here so that this
// package does not import metrics).
const (
	accepted       = "accepted"
	badSignature   = "bad_signature"
	replayed       = "replayed"
	tooLargeResult = "too_large"
	badRequest     = "bad_request"
	disabled       = "disabled"
)

// payloadKey identifies a delivery by what its signature covers: the
// SHA-256 of its body.
func payloadKey(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// replayed records id and says whether it was seen already.
func (h *Handler) replayed(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s == id {
			return true
		}
	}
	h.seen = append(h.seen, id)
	if len(h.seen) > seenMax {
		h.seen = h.seen[len(h.seen)-seenMax:]
	}
	return false
}

func deliveryID(h http.Header) string {
	for _, name := range deliveryHeaders {
		if v := h.Get(name); v != "" {
			return name + ":" + v
		}
	}
	return ""
}

func eventOf(h http.Header) string {
	for _, name := range []string{"X-GitHub-Event", "X-Gitlab-Event"} {
		if v := h.Get(name); v != "" {
			return v
		}
	}
	return ""
}
