package kind

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// kindcfg is kind's cluster configuration type.
type kindcfg = v1alpha4.Cluster

// outputLines bounds how much of a failed command's output an error quotes.
const outputLines = 15

// describe adds to a kind error the end of the output of the command that
// failed: kind keeps it out of the message, and without it "exit status
// 125" says nothing about a port already in use or an image that would not
// pull.
func describe(err error) error {
	re := kindexec.RunErrorForError(err)
	if re == nil || len(re.Output) == 0 {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(re.Output)), "\n")
	if len(lines) > outputLines {
		lines = lines[len(lines)-outputLines:]
	}
	return fmt.Errorf("%w\n  %s", err, strings.Join(lines, "\n  "))
}
