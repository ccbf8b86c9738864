package kube

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// SecretValues collects the values of the Secrets read through a client,
// so that output about other objects can mask them: a chart template that
// looks a Secret up and copies a value into a ConfigMap must not put that
// value in envctl diff's output.
type SecretValues struct {
	mu     sync.Mutex
	values map[string]bool
}

// RecordSecrets returns a copy of cfg whose clients record, in the
// returned SecretValues, every value of every Secret they read.
func RecordSecrets(cfg *rest.Config) (*rest.Config, *SecretValues) {
	sv := &SecretValues{values: map[string]bool{}}
	c := rest.CopyConfig(cfg)
	wrap := c.WrapTransport
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			rt = wrap(rt)
		}
		return &recordingTransport{next: rt, into: sv}
	}
	return c, sv
}

// Values returns the recorded values, each as read (base64) and decoded.
func (s *SecretValues) Values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.values))
	for v := range s.values {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func (s *SecretValues) add(data map[string]string, encoded bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range data {
		if v == "" {
			continue
		}
		s.values[v] = true
		if encoded {
			if d, err := base64.StdEncoding.DecodeString(v); err == nil && len(d) > 0 {
				s.values[string(d)] = true
			}
		} else {
			s.values[base64.StdEncoding.EncodeToString([]byte(v))] = true
		}
	}
}

type recordingTransport struct {
	next http.RoundTripper
	into *SecretValues
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/secrets") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// Read whole, however large: the caller gets every byte the server
	// sent (a list of Secrets cut short would decode as an error, or as
	// fewer Secrets), and every value is recorded for masking. The client
	// reads the whole answer anyway.
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return nil, fmt.Errorf("read the answer to GET %s: %w", req.URL.Path, rerr)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var doc struct {
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
		Items      []struct {
			Data map[string]string `json:"data"`
		} `json:"items"`
	}
	if json.Unmarshal(body, &doc) == nil {
		t.into.add(doc.Data, true)
		t.into.add(doc.StringData, false)
		for _, it := range doc.Items {
			t.into.add(it.Data, true)
		}
	}
	return resp, nil
}
