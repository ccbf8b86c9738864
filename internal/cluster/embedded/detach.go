package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/envctl/envctl/internal/errs"
)

// readyFD is the descriptor number the serve process finds the ready pipe
// at: the first of exec.Cmd.ExtraFiles.
const readyFD = 3

// maxLogSize is the size past which serve.log is moved aside to
// serve.log.old when a serve process starts, so that a cluster restarted
// for months does not fill the disk.
const maxLogSize = 10 << 20

// child is a serve process this process started.
type child struct {
	proc    proc
	cmd     *exec.Cmd
	logPath string
	// logStart is where the child's output begins in the log file.
	logStart int64
	// events carries the ready lines; closed when the child closes its
	// end of the pipe (after "usable", or by exiting).
	events chan string
	// exited receives cmd.Wait's result once the child has exited; the
	// wait also reaps it, so that it does not linger as a zombie that
	// Delete would wait on.
	exited chan error
}

// spawn starts the serve process for the cluster in dir, detached: in a
// session of its own (no terminal's hangup or Ctrl-C reaches it), stdin
// from /dev/null, stdout and stderr appended to the log, working directory
// /, so that it outlives the command that started it.
func spawn(exe string, args []string, dir string, env []string) (*child, error) {
	logPath := filepath.Join(dir, logFile)
	rotateLog(logPath)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	var start int64
	if fi, err := logf.Stat(); err == nil {
		start = fi.Size()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ready pipe: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = "/"
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pw.Close() // the child holds the write end now; EOF means it let go
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	c := &child{cmd: cmd, logPath: logPath, logStart: start, events: make(chan string, 4), exited: make(chan error, 1)}
	c.proc.PID = cmd.Process.Pid
	c.proc.Token, _ = startToken(c.proc.PID)
	go func() {
		defer pr.Close()
		defer close(c.events)
		s := bufio.NewScanner(pr)
		for s.Scan() {
			c.events <- s.Text()
		}
	}()
	go func() { c.exited <- cmd.Wait() }()
	return c, nil
}

// rotateLog moves a log past maxLogSize aside; failing that, the log just
// grows.
func rotateLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".old")
	}
}

// await waits for the ready event named want ("api" or "usable") and
// returns what follows it on the line. When the child exits first, the
// error carries its exit status and the end of its log; when ctx ends
// first, a timeout.
func (c *child) await(ctx context.Context, want string) (string, error) {
	for {
		select {
		case line, ok := <-c.events:
			if !ok {
				return "", c.died(ctx, want)
			}
			event, rest, _ := strings.Cut(line, " ")
			if event == want {
				return rest, nil
			}
		case err := <-c.exited:
			c.exited <- err // for died, and for anyone waiting later
			return "", c.died(ctx, want)
		case <-ctx.Done():
			err := fmt.Errorf("serve process %d not %s in time: %w", c.proc.PID, describeEvent(want), context.Cause(ctx))
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", errs.Timeout(err)
			}
			return "", err
		}
	}
}

// died describes a child that went away before reaching want.
func (c *child) died(ctx context.Context, want string) error {
	var status error
	select {
	case status = <-c.exited:
		c.exited <- status
	case <-time.After(5 * time.Second):
		status = errors.New("it closed its ready pipe but is still running")
	case <-ctx.Done():
		status = context.Cause(ctx)
	}
	if status == nil {
		status = errors.New("exit status 0")
	}
	msg := fmt.Sprintf("serve process %d ended before it was %s (%v)", c.proc.PID, describeEvent(want), status)
	if tail := logTail(c.logPath, c.logStart, 15); tail != "" {
		msg += "; the end of its log " + c.logPath + ":\n" + tail
	}
	return errs.Cluster(errors.New(msg))
}

func describeEvent(e string) string {
	if e == readyAPI {
		return "serving the API"
	}
	return "usable"
}

// kill stops the child, gently first, for a create that failed or ran out
// of time, and reaps it.
func (c *child) kill(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := terminate(ctx, c.proc, 5*time.Second); err != nil {
		log.Warn("could not stop the serve process of a failed create", "pid", c.proc.PID, "err", err)
	}
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

// logTail returns at most n of the last lines written to path from
// offset on, each cut to a readable length.
func logTail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > window {
		offset = fi.Size() - window
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(f, window))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = "    " + truncate(l, 400)
	}
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "" {
		return ""
	}
	return strings.Join(lines, "\n")
}
