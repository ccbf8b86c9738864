package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

var secret = []byte("s3cret")

func TestVerify(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main","after":"0123"}`)
	tests := []struct {
		name     string
		headers  map[string]string
		provider string
		ok       bool
	}{
		{"github", map[string]string{HeaderGitHub: Sign(body, secret)}, "github", true},
		{"github wrong secret", map[string]string{HeaderGitHub: Sign(body, []byte("other"))}, "github", false},
		{"github sha1 style", map[string]string{HeaderGitHub: "sha1=abcd"}, "github", false},
		{"github not hex", map[string]string{HeaderGitHub: "sha256=zz"}, "github", false},
		{"gitlab", map[string]string{HeaderGitLab: "s3cret"}, "gitlab", true},
		{"gitlab wrong token", map[string]string{HeaderGitLab: "s3cre"}, "gitlab", false},
		{"generic", map[string]string{HeaderGeneric: Sign(body, secret)}, "generic", true},
		{"generic over another body", map[string]string{HeaderGeneric: Sign([]byte("{}"), secret)}, "generic", false},
		{"unsigned", map[string]string{"X-GitHub-Event": "push"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			provider, err := Verify(h, body, secret)
			if provider != tt.provider || (err == nil) != tt.ok {
				t.Errorf("Verify = %q, %v; want %q, ok=%v", provider, err, tt.provider, tt.ok)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	body := `{"ref":"refs/heads/main"}`
	signed := func(delivery string) map[string]string {
		return map[string]string{HeaderGitHub: Sign([]byte(body), secret), "X-GitHub-Delivery": delivery, "X-GitHub-Event": "push"}
	}
	tests := []struct {
		name      string
		method    string
		body      string
		headers   map[string]string
		noSecret  bool
		want      int
		result    string
		triggered bool
	}{
		{"github push", "POST", body, signed("d1"), false, http.StatusAccepted, accepted, true},
		{"bad signature", "POST", body, map[string]string{HeaderGitHub: Sign([]byte(body), []byte("x"))}, false, http.StatusUnauthorized, badSignature, false},
		{"unsigned", "POST", body, nil, false, http.StatusUnauthorized, badSignature, false},
		{"get", "GET", "", nil, false, http.StatusMethodNotAllowed, badRequest, false},
		{"too large", "POST", strings.Repeat("x", MaxBody+1), signed("d2"), false, http.StatusRequestEntityTooLarge, tooLargeResult, false},
		{"no secret configured", "POST", body, signed("d3"), true, http.StatusForbidden, disabled, false},
		{"gitlab push", "POST", body, map[string]string{HeaderGitLab: string(secret), "X-Gitlab-Event": "Push Hook"}, false, http.StatusAccepted, accepted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var triggers atomic.Int32
			var results []string
			h := &Handler{Secret: secret, Trigger: func() { triggers.Add(1) }, Count: func(r string) { results = append(results, r) }}
			if tt.noSecret {
				h.Secret = nil
			}
			req := httptest.NewRequest(tt.method, "/hooks/git", strings.NewReader(tt.body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.want, rec.Body)
			}
			if len(results) != 1 || results[0] != tt.result {
				t.Errorf("counted %q, want [%s]", results, tt.result)
			}
			if got := triggers.Load() == 1; got != tt.triggered {
				t.Errorf("triggered = %v, want %v", got, tt.triggered)
			}
		})
	}
}

// A replay is told by the signed payload: the same body and signature
// under a new delivery id (an unsigned header an attacker can change) is
// ignored; a new push (a new body) is not, whatever its delivery id.
func TestHandlerReplayKeysOnTheSignedPayload(t *testing.T) {
	var triggers atomic.Int32
	var results []string
	h := &Handler{Secret: secret, Trigger: func() { triggers.Add(1) }, Count: func(r string) { results = append(results, r) }}
	send := func(body, header, delivery string) (int, string) {
		req := httptest.NewRequest("POST", "/hooks/git", strings.NewReader(body))
		req.Header.Set(header, Sign([]byte(body), secret))
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Envctl-Delivery", delivery)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	first := `{"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111"}`
	second := `{"ref":"refs/heads/main","after":"2222222222222222222222222222222222222222"}`
	steps := []struct {
		what, body, header, delivery string
		want                         int
	}{
		{"a push", first, HeaderGitHub, "a", http.StatusAccepted},
		{"the same payload under a new delivery id", first, HeaderGitHub, "changed", http.StatusOK},
		{"the same payload signed the generic way", first, HeaderGeneric, "other", http.StatusOK},
		{"a new push under a seen delivery id", second, HeaderGitHub, "a", http.StatusAccepted},
	}
	for _, s := range steps {
		if code, body := send(s.body, s.header, s.delivery); code != s.want {
			t.Errorf("%s: HTTP %d %q, want %d", s.what, code, body, s.want)
		}
	}
	if triggers.Load() != 2 {
		t.Errorf("triggers = %d, want 2 (a replay triggers nothing)", triggers.Load())
	}
	if strings.Join(results, ",") != "accepted,replayed,replayed,accepted" {
		t.Errorf("results = %v", results)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("sha256=00", "", "", []byte("{}"))
	f.Add("", "tok", "", []byte("x"))
	f.Add("", "", "sha256=zz", []byte(""))
	f.Fuzz(func(t *testing.T, gh, gl, generic string, body []byte) {
		h := http.Header{}
		if gh != "" {
			h.Set(HeaderGitHub, gh)
		}
		if gl != "" {
			h.Set(HeaderGitLab, gl)
		}
		if generic != "" {
			h.Set(HeaderGeneric, generic)
		}
		_, err := Verify(h, body, secret)
		// Only the right signature of this body passes.
		if err == nil {
			ok := strings.EqualFold(gh, Sign(body, secret)) ||
				(gh == "" && gl == string(secret)) ||
				(gh == "" && gl == "" && strings.EqualFold(generic, Sign(body, secret)))
			if !ok {
				t.Fatalf("Verify accepted gh=%q gl=%q generic=%q", gh, gl, generic)
			}
		}
	})
}
