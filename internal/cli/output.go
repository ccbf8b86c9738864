package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/envctl/envctl/internal/ui"
)

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
