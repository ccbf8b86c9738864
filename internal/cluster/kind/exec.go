package kind

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/cluster"
)

// run runs the runtime's client with args under ctx, with stdin when not
// nil, and returns its standard output. A failure quotes the end of what
// the client wrote to stderr, which says why ("port is already allocated").
func run(ctx context.Context, rt *cluster.Runtime, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, rt.Path, args...)
	cmd.Stdin = stdin
	// A client killed on a deadline may leave children holding its pipes.
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if lines := strings.Split(msg, "\n"); len(lines) > outputLines {
			msg = strings.Join(lines[len(lines)-outputLines:], "\n")
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", rt.Client(), shortArgs(args), context.Cause(ctx))
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", rt.Client(), shortArgs(args), msg)
	}
	return stdout.Bytes(), nil
}

// lines splits a command's output into its non-empty lines.
func lines(out []byte) []string {
	var l []string
	for s := range strings.Lines(string(out)) {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	return l
}

// shortArgs is the start of a command line, for messages.
func shortArgs(args []string) string {
	if len(args) > 3 {
		args = args[:3]
	}
	return strings.Join(args, " ")
}

// writeNodeFile writes content to path inside node, the way kind writes
// its own files there (mkdir, then cp from stdin).
func writeNodeFile(ctx context.Context, rt *cluster.Runtime, node, path, content string) error {
	dir := path[:strings.LastIndex(path, "/")]
	if _, err := run(ctx, rt, nil, "exec", node, "mkdir", "-p", dir); err != nil {
		return err
	}
	_, err := run(ctx, rt, strings.NewReader(content), "exec", "-i", node, "cp", "/dev/stdin", path)
	return err
}
