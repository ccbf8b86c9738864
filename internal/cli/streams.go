package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/envctl/envctl/internal/ui"
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

// outputs are the -o values of a command whose format for people is
// human: it, then json and yaml, the same document for scripts.
func outputs(human string) []string { return []string{human, "json", "yaml"} }

// checkOutput reports an -o value outside formats ("text", "json") as a
// usage error, so that every command words it alike and exits 2.
func checkOutput(output string, formats ...string) error {
	if slices.Contains(formats, output) {
		return nil
	}
	return usageError(fmt.Errorf("unknown output format %q: want %s or %s", output,
		strings.Join(formats[:len(formats)-1], ", "), formats[len(formats)-1]))
}

// newProgress makes the progress view for f's error stream: live when it is
// a terminal and colour is allowed, plain lines otherwise.
func newProgress(f *Factory) *ui.Progress {
	live := f.Streams.ErrTTY && !f.Global.NoColor
	width := 0
	if live {
		if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil {
			width = w
		}
	}
	return ui.NewProgress(f.Streams.ErrOut, live, width)
}
