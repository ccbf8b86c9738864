package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Headers of the generic webhook.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the body
	// under the shared secret, as envctl's own webhook receiver checks it.
	HeaderSignature = "X-Envctl-Signature"
	// HeaderDelivery is a random id per notification, the same on
	// retries, for the receiver to drop duplicates.
	HeaderDelivery = "X-Envctl-Delivery"
	// HeaderTimestamp repeats the body's timestamp (Unix seconds), which
	// the signature covers.
	HeaderTimestamp = "X-Envctl-Timestamp"
)

// WebhookPayload is the body of a generic webhook notification. Timestamp
// is inside the signed body, so a receiver can refuse an old delivery
// replayed.
type WebhookPayload struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Event     Event  `json:"event"`
}

// Webhook posts each event as signed JSON to a URL.
type Webhook struct {
	u      *url.URL
	secret []byte
	// ids keeps a delivery id per event, so retries carry the same.
	ids map[string]string
}

// NewWebhook is the generic webhook notifier of u, signing with secret.
func NewWebhook(u string, secret []byte) (*Webhook, error) {
	t, err := parseTarget("--notify-webhook", u, true)
	if err != nil {
		return nil, err
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("--notify-webhook: no signing secret (set %s or --notify-webhook-secret-file)", EnvWebhookSecret)
	}
	return &Webhook{u: t, secret: secret, ids: map[string]string{}}, nil
}

func (w *Webhook) Name() string     { return "webhook" }
func (w *Webhook) Target() string   { return w.u.Host }
func (w *Webhook) Wants(Event) bool { return true }

// Sign is the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Send posts e, signed.
func (w *Webhook) Send(ctx context.Context, e Event) error {
	id := w.ids[e.key()+e.Time.String()]
	if id == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
		if len(w.ids) > 256 {
			clear(w.ids)
		}
		w.ids[e.key()+e.Time.String()] = id
	}
	ts := time.Now().Unix()
	body, err := json.Marshal(WebhookPayload{ID: id, Timestamp: ts, Event: e})
	if err != nil {
		return &SendError{Notifier: w.Name(), Target: w.Target(), msg: err.Error()}
	}
	_, _, err = post(ctx, w.Name(), w.Target(), w.u, body, map[string]string{
		HeaderSignature: Sign(w.secret, body),
		HeaderDelivery:  id,
		HeaderTimestamp: strconv.FormatInt(ts, 10),
	})
	return err
}

// Slack posts a line of text per event to a Slack-compatible incoming
// webhook (Slack, Mattermost, Rocket.Chat, Discord's /slack endpoint).
// Its URL is a secret: logs name only its host.
type Slack struct {
	u *url.URL
}

// NewSlack is the Slack notifier of the incoming webhook URL u.
func NewSlack(u string) (*Slack, error) {
	t, err := parseTarget("the Slack webhook URL", u, true)
	if err != nil {
		return nil, err
	}
	return &Slack{u: t}, nil
}

func (s *Slack) Name() string   { return "slack" }
func (s *Slack) Target() string { return s.u.Host }

// Wants all but the start of a reconcile, which would double the
// messages.
func (s *Slack) Wants(e Event) bool { return e.Kind != Progressing }

// Send posts {"text": ...}.
func (s *Slack) Send(ctx context.Context, e Event) error {
	body, _ := json.Marshal(map[string]string{"text": SlackText(e)})
	_, _, err := post(ctx, s.Name(), s.Target(), s.u, body, nil)
	return err
}

// SlackText is the message of e: an emoji for its severity and the
// summary, with Slack's control characters escaped.
func SlackText(e Event) string {
	icon := ":white_check_mark:"
	switch {
	case e.Kind == Failed:
		icon = ":x:"
	case e.Warning():
		icon = ":warning:"
	case e.Kind == DriftCorrected:
		icon = ":wrench:"
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return icon + " " + r.Replace(e.Summary())
}
