package cli

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
