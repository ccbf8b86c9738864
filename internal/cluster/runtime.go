package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Container runtimes kind can run nodes on, in the order kind prefers them.
const (
	RuntimeDocker  = "docker"
	RuntimePodman  = "podman"
	RuntimeNerdctl = "nerdctl"
)

// Runtime is a container runtime whose daemon answered.
type Runtime struct {
	// Name is docker, podman or nerdctl.
	Name string `json:"name"`
	// Path is the client binary.
	Path string `json:"path"`
	// Version is the server's version as the daemon reported it.
	Version string `json:"version"`
}

// RuntimeAttempt records why one runtime could not be used.
type RuntimeAttempt struct {
	Name string
	Err  error
}

// NoRuntimeError says that no container runtime answered, and why each
// one tried did not.
type NoRuntimeError struct {
	Tried []RuntimeAttempt
}

func (e *NoRuntimeError) Error() string {
	parts := make([]string, len(e.Tried))
	for i, a := range e.Tried {
		parts[i] = a.Name + ": " + a.Err.Error()
	}
	return "no container runtime answered: " + strings.Join(parts, "; ")
}

// DetectOptions tune DetectRuntime.
type DetectOptions struct {
	// Runtimes to try, in order of preference. Empty means docker, podman,
	// nerdctl, or only the one named by $KIND_EXPERIMENTAL_PROVIDER, the
	// variable the kind CLI honours, when it is set.
	Runtimes []string
	// Path is the PATH searched for the runtime's client; empty means $PATH.
	Path string
	// Timeout bounds each runtime's answer; zero means 5s. A daemon that
	// hangs (a stopped Docker Desktop VM) must not hang envctl.
	Timeout time.Duration
}

// DetectRuntime returns the most preferred container runtime whose client
// is installed and whose daemon answers. Finding the binary is not enough:
// a docker client without a running daemon is the common case on laptops
// and CI runners, and kind would only fail later, slowly. Runtimes are
// asked concurrently so that detection costs one timeout at most.
func DetectRuntime(ctx context.Context, opts DetectOptions) (*Runtime, error) {
	names := opts.Runtimes
	if len(names) == 0 {
		names = []string{RuntimeDocker, RuntimePodman, RuntimeNerdctl}
		if v := os.Getenv("KIND_EXPERIMENTAL_PROVIDER"); v != "" {
			names = []string{v}
		}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	path := opts.Path
	if path == "" {
		path = os.Getenv("PATH")
	}

	results := make([]*Runtime, len(names))
	failures := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			results[i], failures[i] = probeRuntime(ctx, name, path, timeout)
		})
	}
	wg.Wait()

	var tried []RuntimeAttempt
	for i, name := range names {
		if results[i] != nil {
			return results[i], nil
		}
		tried = append(tried, RuntimeAttempt{Name: name, Err: failures[i]})
	}
	return nil, &NoRuntimeError{Tried: tried}
}

// versionQuery is, per runtime, the arguments that print the daemon's
// version and fail when the daemon does not answer.
var versionQuery = map[string][]string{
	RuntimeDocker:  {"info", "--format", "{{.ServerVersion}}"},
	RuntimePodman:  {"info", "--format", "{{.Version.Version}}"},
	RuntimeNerdctl: {"info", "--format", "{{.ServerVersion}}"},
}

func probeRuntime(ctx context.Context, name, path string, timeout time.Duration) (*Runtime, error) {
	args, ok := versionQuery[name]
	if !ok {
		return nil, fmt.Errorf("not a supported runtime (want %s, %s or %s)", RuntimeDocker, RuntimePodman, RuntimeNerdctl)
	}
	bin, err := lookPath(name, path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// A client killed on timeout may leave children holding its pipes;
	// do not wait for them.
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	version := strings.TrimSpace(stdout.String())
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s info did not answer within %v", name, timeout)
	case err != nil:
		return nil, fmt.Errorf("%s", firstLine(stderr.String(), err.Error()))
	case version == "" || strings.Contains(version, "<no value>"):
		return nil, fmt.Errorf("%s info reported no server version: %s", name, firstLine(stderr.String(), "daemon not running?"))
	}
	return &Runtime{Name: name, Path: bin, Version: version}, nil
}

// lookPath finds an executable name in the directories of path, which
// need not be this process's PATH.
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("not installed (not found in PATH)")
}

// firstLine returns the first non-empty line of s, without the "ERROR:"
// style prefixes clients add, or fallback when s is empty.
func firstLine(s, fallback string) string {
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		for _, p := range []string{"ERROR:", "Error:", "error:"} {
			line = strings.TrimSpace(strings.TrimPrefix(line, p))
		}
		if line != "" {
			if len(line) > 240 {
				line = line[:240] + "…"
			}
			return line
		}
	}
	return fallback
}
