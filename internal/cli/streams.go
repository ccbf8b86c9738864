package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams. Data goes to Out, progress
// and errors to ErrOut, so that `envctl render > all.yaml` stays clean.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY and ErrTTY say whether Out and ErrOut are terminals, for colour
	// and live progress.
	OutTTY bool
	ErrTTY bool
	// InTTY says whether In is a terminal a person can answer a question
	// on (envctl down asks before it deletes).
	InTTY bool
}

// StdStreams returns the process's standard streams.
func StdStreams() IOStreams {
	return IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		OutTTY: isTerminal(os.Stdout),
		ErrTTY: isTerminal(os.Stderr),
		InTTY:  isTerminal(os.Stdin),
	}
}

func isTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}
