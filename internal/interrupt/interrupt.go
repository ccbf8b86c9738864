// Package interrupt turns Ctrl-C (SIGINT) and SIGTERM into the
// cancellation of a command's context, with the signal as its cause.
package interrupt

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interruptError is the cause of the context of a command interrupted by
// a signal.
type interruptError struct {
	sig os.Signal
}

func (e *interruptError) Error() string {
	return fmt.Sprintf("interrupted (%s)", SignalName(e.sig))
}

// SignalName names sig as a shell does: SIGINT, SIGTERM.
func SignalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// exitNow ends the process at a second signal.
var exitNow = os.Exit

// Watcher turns Ctrl-C (SIGINT) and SIGTERM into the cancellation of
// the command's context, with the signal as its cause. envctl then starts
// no new write, lets the requests in flight finish, records what was
// applied and prunes nothing. A second signal ends the process at once.
type Watcher struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	sigs   chan os.Signal
	done   chan struct{}

	mu    sync.Mutex
	first os.Signal
}

// Watch watches for the signals until Stop, telling errOut what it does.
func Watch(errOut io.Writer) *Watcher {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := &Watcher{ctx: ctx, cancel: cancel, sigs: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(in.sigs, os.Interrupt, syscall.SIGTERM)
	go in.loop(errOut)
	return in
}

func (in *Watcher) loop(errOut io.Writer) {
	var sig os.Signal
	select {
	case sig = <-in.sigs:
	case <-in.done:
		return
	}
	in.mu.Lock()
	in.first = sig
	in.mu.Unlock()
	fmt.Fprintf(errOut, "\n%s: stopping; requests in flight finish and what was applied is recorded, nothing is pruned (%s again exits at once)\n",
		SignalName(sig), SignalName(sig))
	in.cancel(&interruptError{sig: sig})
	select {
	case <-in.sigs:
		fmt.Fprintf(errOut, "\n%s again: exiting at once\n", SignalName(sig))
		exitNow(ExitCode(sig))
	case <-in.done:
	}
}

// Context is cancelled by the first signal.
func (in *Watcher) Context() context.Context { return in.ctx }

// Signal returns the first signal received, or nil.
func (in *Watcher) Signal() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.first
}

// Stop stops watching.
func (in *Watcher) Stop() {
	signal.Stop(in.sigs)
	close(in.done)
	in.cancel(nil)
}

// ExitCode is the exit code of a command ended by sig: 128 plus the
// signal's number, as shells report it (130 for SIGINT, 143 for SIGTERM).
func ExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
