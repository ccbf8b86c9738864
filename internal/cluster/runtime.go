package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Container runtime families kind can run nodes on.
const (
	RuntimeDocker  = "docker"
	RuntimePodman  = "podman"
	RuntimeNerdctl = "nerdctl"
)

// kindOrder is the order in which kind's own detection
// (cluster.DetectNodeProvider) tries the runtimes.
var kindOrder = []string{RuntimeDocker, RuntimeNerdctl, RuntimePodman}

// clients maps each client binary kind accepts in KIND_EXPERIMENTAL_PROVIDER
// to its runtime family: finch and nerdctl.lima are nerdctl under another name.
var clients = map[string]string{
	RuntimeDocker:  RuntimeDocker,
	RuntimePodman:  RuntimePodman,
	RuntimeNerdctl: RuntimeNerdctl,
	"finch":        RuntimeNerdctl,
	"nerdctl.lima": RuntimeNerdctl,
}

// Runtime is a container runtime whose daemon answered.
type Runtime struct {
	// Name is the runtime family: docker, podman or nerdctl.
	Name string `json:"name"`
	// Binary is the client's name: the family's, or finch or nerdctl.lima.
	Binary string `json:"binary,omitempty"`
	// Path is the client binary.
	Path string `json:"path"`
	// Version is the server's version as the daemon reported it.
	Version string `json:"version"`
}

// Client is the client binary's name, which records keep.
func (r *Runtime) Client() string {
	if r.Binary != "" {
		return r.Binary
	}
	return r.Name
}

// RuntimeAttempt records why one runtime could not be used.
type RuntimeAttempt struct {
	Name string
	Err  error
	// Installed says that the client was found, so that its daemon may
	// only be starting (Docker Desktop, a podman machine).
	Installed bool
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

// Installed lists the runtimes whose client is installed but whose daemon
// did not answer.
func (e *NoRuntimeError) Installed() []RuntimeAttempt {
	var out []RuntimeAttempt
	for _, a := range e.Tried {
		if a.Installed {
			out = append(out, a)
		}
	}
	return out
}

// DetectOptions tune DetectRuntime.
type DetectOptions struct {
	// Runtimes to try (client binaries), in order of preference. Empty
	// means what kind does: the one $KIND_EXPERIMENTAL_PROVIDER names when
	// it names one kind knows, else docker, nerdctl and podman.
	Runtimes []string
	// Path is the PATH searched for the runtime's client; empty means $PATH.
	Path string
	// Timeout bounds each runtime's answer; zero means 5s. A daemon that
	// hangs (a stopped Docker Desktop VM) must not hang envctl.
	Timeout time.Duration
	// Logger hears about a KIND_EXPERIMENTAL_PROVIDER kind would ignore.
	Logger *slog.Logger
}

// RuntimesFromEnv returns the runtimes kind would try, given the value of
// KIND_EXPERIMENTAL_PROVIDER: only the one it names when kind knows it
// (docker, podman, nerdctl, finch, nerdctl.lima), else kind's own order.
// ignored is the value kind would ignore, or "".
func RuntimesFromEnv(value string) (names []string, ignored string) {
	if value == "" {
		return kindOrder, ""
	}
	if _, ok := clients[value]; ok {
		return []string{value}, ""
	}
	return kindOrder, value
}

// DetectRuntime returns the most preferred container runtime whose client
// is installed and whose daemon answers. Finding the binary is not enough:
// a docker client without a running daemon is the common case on laptops
// and CI runners, and kind would only fail later, slowly. Runtimes are
// asked concurrently so that detection costs one timeout at most.
func DetectRuntime(ctx context.Context, opts DetectOptions) (*Runtime, error) {
	names := opts.Runtimes
	if len(names) == 0 {
		var ignored string
		names, ignored = RuntimesFromEnv(os.Getenv("KIND_EXPERIMENTAL_PROVIDER"))
		if ignored != "" && opts.Logger != nil {
			opts.Logger.Warn("ignoring KIND_EXPERIMENTAL_PROVIDER, as kind does: not docker, podman, nerdctl, finch or nerdctl.lima", "value", ignored)
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
	failures := make([]RuntimeAttempt, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			results[i], failures[i] = probeRuntime(ctx, name, path, timeout)
		})
	}
	wg.Wait()

	var tried []RuntimeAttempt
	for i := range names {
		if results[i] != nil {
			return results[i], nil
		}
		tried = append(tried, failures[i])
	}
	return nil, &NoRuntimeError{Tried: tried}
}

// WaitRuntime asks the runtimes named every couple of seconds until one
// answers or wait has passed; it is for a daemon that is starting.
func WaitRuntime(ctx context.Context, names []string, wait time.Duration) (*Runtime, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		rt, err := DetectRuntime(ctx, DetectOptions{Runtimes: names})
		if rt != nil {
			return rt, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(2 * time.Second):
		}
	}
}

// versionQuery is, per runtime family, the arguments that print the
// daemon's version and fail when the daemon does not answer.
var versionQuery = map[string][]string{
	RuntimeDocker:  {"info", "--format", "{{.ServerVersion}}"},
	RuntimePodman:  {"info", "--format", "{{.Version.Version}}"},
	RuntimeNerdctl: {"info", "--format", "{{.ServerVersion}}"},
}

func probeRuntime(ctx context.Context, name, path string, timeout time.Duration) (*Runtime, RuntimeAttempt) {
	fail := RuntimeAttempt{Name: name}
	family, ok := clients[name]
	if !ok {
		fail.Err = fmt.Errorf("not a supported runtime (want %s, %s or %s)", RuntimeDocker, RuntimePodman, RuntimeNerdctl)
		return nil, fail
	}
	bin, err := lookPath(name, path)
	if err != nil {
		fail.Err = err
		return nil, fail
	}
	fail.Installed = true
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, versionQuery[family]...)
	// A client killed on timeout may leave children holding its pipes;
	// do not wait for them.
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	version := strings.TrimSpace(stdout.String())
	switch {
	case ctx.Err() != nil:
		fail.Err = fmt.Errorf("%s info did not answer within %v", name, timeout)
	case err != nil:
		fail.Err = fmt.Errorf("%s", firstLine(stderr.String(), err.Error()))
	case version == "" || strings.Contains(version, "<no value>"):
		fail.Err = fmt.Errorf("%s info reported no server version: %s", name, firstLine(stderr.String(), "daemon not running?"))
	default:
		return &Runtime{Name: family, Binary: name, Path: bin, Version: version}, fail
	}
	return nil, fail
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
