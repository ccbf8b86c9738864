package kube

import (
	"context"
	"fmt"
	"net/http"
)

// Fence says whether a writer may still write: nil while it holds what
// entitles it to (an environment's lock), otherwise why not.
type Fence func() error

type fenceKey struct{}

// WithFence returns ctx carrying f. Every write request made with ctx, or
// with a context derived from it (context.WithoutCancel included), is
// checked against f just before each attempt is sent, and refused unsent
// once f says no: a holder that lost its lock starts no write, whatever
// deadline its caller gave the write.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceErr is the answer of ctx's fence: nil when ctx carries none or the
// fence lets writes through.
func FenceErr(ctx context.Context) error {
	f, _ := ctx.Value(fenceKey{}).(Fence)
	if f == nil {
		return nil
	}
	return f()
}

// FencedError is a write refused before it was sent, because its fence
// said no. It unwraps to the fence's reason.
type FencedError struct {
	Method, Path string
	Err          error
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("%s %s not sent: %v", e.Method, e.Path, e.Err)
}

func (e *FencedError) Unwrap() error { return e.Err }

// fenced refuses req when it writes and its context's fence says no.
func fenced(req *http.Request) error {
	if !isWrite(req.Method) {
		return nil
	}
	if err := FenceErr(req.Context()); err != nil {
		return &FencedError{Method: req.Method, Path: req.URL.Path, Err: err}
	}
	return nil
}
