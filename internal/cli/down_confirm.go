package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/ui"
)

// confirmDown shows the plan and asks on a terminal; without one, it
// requires --yes. Nothing to delete needs no answer.
func confirmDown(f *Factory, o *downOptions, p *ui.DownPlan) error {
	if p.Empty() || o.Yes {
		return nil
	}
	out := f.Streams.ErrOut
	p.Write(out)
	if !f.Streams.InTTY || !f.Streams.ErrTTY {
		return errs.Inputf("envctl down deletes %s and asks first; with no terminal to ask on, pass --yes (or --dry-run to see the list only)", p.What())
	}
	fmt.Fprint(out, "Delete them? [y/N] ")
	answer, _ := bufio.NewReader(f.Streams.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errs.Inputf("envctl down %s: not confirmed; nothing was deleted", p.Environment)
}
