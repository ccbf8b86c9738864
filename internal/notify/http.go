package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// SendError is a failed delivery; Retry says whether trying again may help
// (the network, a 5xx or 429), as a refusal (401, 404, 422) will not.
type SendError struct {
	Notifier string
	Target   string
	Status   int
	Retry    bool
	msg      string
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s notification to %s: HTTP %d: %s", e.Notifier, e.Target, e.Status, e.msg)
	}
	return fmt.Sprintf("%s notification to %s: %s", e.Notifier, e.Target, e.msg)
}

// client sends notifications. It follows no redirect: a token or a signed
// body goes to the URL the operator gave and nowhere else.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// post sends body to u with headers. Errors name the notifier and the
// target (a host) and never the URL, whose path may be a secret (Slack's),
// nor any header.
func post(ctx context.Context, name, target string, u *url.URL, body []byte, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, &SendError{Notifier: name, Target: target, msg: "bad request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "envctl")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return 0, nil, &SendError{Notifier: name, Target: target, Retry: true, msg: err.Error()}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, answer, nil
	}
	retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	msg := strings.TrimSpace(string(answer))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg = "redirected; not followed"
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return resp.StatusCode, answer, &SendError{Notifier: name, Target: target, Status: resp.StatusCode, Retry: retry, msg: msg}
}

// parseTarget checks the URL a notifier sends to: http or https with a
// host, and https when a secret goes along unless the host is this
// machine's loopback.
func parseTarget(what, raw string, secret bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s: want an http(s) URL with a host", what)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: the URL must not hold credentials", what)
	}
	if secret && u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: a token or secret is only sent over https (http only to localhost)", what)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
