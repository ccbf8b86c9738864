package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/envctl/envctl/internal/errs"
)

// Exit codes. A CI job can tell bad input from a cluster that would not
// become healthy from a timeout without parsing messages.
const (
	ExitOK = 0
	// ExitFailure is an internal error, or `envctl diff` finding changes.
	ExitFailure = 1
	// ExitInput is bad input: flags, configuration, manifests, paths.
	ExitInput = 2
	// ExitUnhealthy is state that was applied but did not become ready.
	ExitUnhealthy = 3
	// ExitTimeout is a deadline that passed.
	ExitTimeout = 4
	// ExitConflict is a field-ownership or immutable-field conflict.
	ExitConflict = 5
	// ExitCluster is a cluster that could not be reached or refused a request.
	ExitCluster = 6
)

// exitError carries an explicit exit code with no message of its own, for
// commands such as diff whose exit code is their result.
type exitError struct{ code int }

func (e *exitError) Error() string { return "" }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	switch errs.KindOf(err) {
	case errs.KindInput:
		return ExitInput
	case errs.KindUnhealthy:
		return ExitUnhealthy
	case errs.KindTimeout:
		return ExitTimeout
	case errs.KindConflict:
		return ExitConflict
	case errs.KindCluster:
		return ExitCluster
	default:
		return ExitFailure
	}
}

// interruptError is the cause of the context of a command interrupted by
// a signal.
type interruptError struct {
	sig os.Signal
}

func (e *interruptError) Error() string {
	return fmt.Sprintf("interrupted (%s)", signalName(e.sig))
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// exitNow ends the process at a second signal; tests replace it.
var exitNow = os.Exit

// interrupts turns Ctrl-C (SIGINT) and SIGTERM into the cancellation of
// the command's context, with the signal as its cause. envctl then starts
// no new write, lets the requests in flight finish, records what was
// applied and prunes nothing. A second signal ends the process at once.
type interrupts struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	sigs   chan os.Signal
	done   chan struct{}

	mu    sync.Mutex
	first os.Signal
}

func watchInterrupts(errOut io.Writer) *interrupts {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := &interrupts{ctx: ctx, cancel: cancel, sigs: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(in.sigs, os.Interrupt, syscall.SIGTERM)
	go in.loop(errOut)
	return in
}

func (in *interrupts) loop(errOut io.Writer) {
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
		signalName(sig), signalName(sig))
	in.cancel(&interruptError{sig: sig})
	select {
	case <-in.sigs:
		fmt.Fprintf(errOut, "\n%s again: exiting at once\n", signalName(sig))
		exitNow(exitCodeOf(sig))
	case <-in.done:
	}
}

// signal returns the first signal received, or nil.
func (in *interrupts) signal() os.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.first
}

// stop stops watching.
func (in *interrupts) stop() {
	signal.Stop(in.sigs)
	close(in.done)
	in.cancel(nil)
}

// exitCodeOf is the exit code of a command ended by sig: 128 plus the
// signal's number, as shells report it (130 for SIGINT, 143 for SIGTERM).
func exitCodeOf(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return ExitFailure
}
