package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Retry policy of envctl's clients. A request the API server did not take
// (it refused the connection, or answered 429 Too Many Requests) is sent
// again whatever its method. A request it may have taken (a 500, 502, 503 or
// 504 answer, a connection cut, no answer in AttemptTimeout) is sent again
// only when sending it twice does what sending it once does: reads, deletes
// and server-side apply patches. A create or an update is then reported,
// not repeated: the first may have succeeded.
//
// Retries back off exponentially from RetryBaseDelay up to RetryMaxDelay
// (or the server's Retry-After, when shorter than RetryMaxDelay) until
// RetryBudget has passed since the first attempt. An API server restarting
// is back within it; one that is gone is reported within it.
var (
	RetryBaseDelay = 100 * time.Millisecond
	RetryMaxDelay  = 3 * time.Second
	RetryBudget    = 30 * time.Second
	// AttemptTimeout bounds one attempt, the response body included.
	AttemptTimeout = 60 * time.Second
)

// retryTransport retries requests as the policy above says.
type retryTransport struct {
	next http.RoundTripper
}

// withRetry wraps rt with envctl's retry policy.
func withRetry(rt http.RoundTripper) http.RoundTripper {
	return &retryTransport{next: rt}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := fenced(req); err != nil {
		return nil, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		resp, err := t.attempt(req) // cannot be replayed
		return final(resp), err
	}
	start := time.Now()
	delay := RetryBaseDelay
	for n := 0; ; n++ {
		r := req
		if n > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.attempt(r)
		wait, again := retryable(req, resp, err)
		if again && resp != nil && resp.StatusCode == http.StatusInternalServerError && n >= 2 {
			again = false
		}
		if !again || req.Context().Err() != nil {
			return final(resp), err
		}
		if wait <= 0 || wait > RetryMaxDelay {
			wait = delay
		}
		if time.Since(start)+wait > RetryBudget {
			return final(resp), err
		}
		if resp != nil {
			// Drained so that the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
		// A retry is a new write: the fence is asked again.
		if err := fenced(req); err != nil {
			return nil, err
		}
		delay = min(2*delay, RetryMaxDelay)
	}
}

// final hands an answer back to client-go with its Retry-After removed:
// client-go sends a request again, whatever its method, up to ten times
// when the answer asks it to, and on top of this policy's own retries that
// would send a create twice and multiply the time before an error is
// reported. This policy is the only one.
func final(resp *http.Response) *http.Response {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		resp.Header.Del("Retry-After")
	}
	return resp
}

// attempt sends r once, bounded by AttemptTimeout (watches aside), the
// body included: the bound ends when the body is closed.
//
// The response to a request that may be sent again is read whole here, so
// that a connection cut while the body arrives (an API server killed after
// it applied a patch) is an error of the attempt, retried, rather than an
// error of the caller's read, which nothing retries: the object would be
// applied without envctl knowing it.
func (t *retryTransport) attempt(r *http.Request) (*http.Response, error) {
	watch := r.URL.Query().Get("watch")
	if watch == "true" || watch == "1" {
		return t.next.RoundTrip(r)
	}
	ctx, cancel := r.Context(), context.CancelFunc(func() {})
	if AttemptTimeout > 0 {
		ctx, cancel = context.WithTimeoutCause(r.Context(), AttemptTimeout, errAttemptTimeout)
	}
	resp, err := t.next.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		if errors.Is(context.Cause(ctx), errAttemptTimeout) && r.Context().Err() == nil {
			return nil, errAttemptTimeout
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	if !idempotent(r) {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) && r.Context().Err() == nil {
			err = errAttemptTimeout
		}
		return nil, fmt.Errorf("read the answer to %s %s: %w", r.Method, r.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

var errAttemptTimeout = errors.New("the API server did not answer in time")

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retryable says whether the outcome of req is worth another attempt, and
// after how long the server asked to wait (0: not said).
func retryable(req *http.Request, resp *http.Response, err error) (time.Duration, bool) {
	if err != nil {
		if req.Context().Err() != nil {
			return 0, false
		}
		if notSent(err) {
			return 0, true
		}
		return 0, idempotent(req)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return retryAfter(resp), true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return retryAfter(resp), idempotent(req)
	}
	return 0, false
}

// notSent reports whether err means the request never reached the server:
// the connection was refused, so nothing was done.
func notSent(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &op) && op.Op == "dial"
}

// idempotent reports whether sending req twice does what sending it once
// does.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return true
	case http.MethodPatch:
		return req.Header.Get("Content-Type") == "application/apply-patch+yaml"
	}
	return false
}

func retryAfter(resp *http.Response) time.Duration {
	s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}
