// Package kindtest is a fake container runtime for the tests of envctl's
// kind provider: a client (docker, podman, ...) that the test binary itself
// plays, with its daemon's state (containers, images, networks, the files
// in each node) in a JSON file, and every call logged. It answers the
// commands kind v0.33 and envctl issue, enough for a cluster to exist,
// stop, start, be listed, inspected, loaded into and read a kubeconfig
// from. It does not run Kubernetes: APIServer stands in for that.
package kindtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Variables through which the wrapper script tells the test binary to be
// the fake client.
const (
	envClient = "ENVCTL_FAKE_RUNTIME"
	envState  = "ENVCTL_FAKE_RUNTIME_STATE"
	envLog    = "ENVCTL_FAKE_RUNTIME_LOG"
)

// State is the fake daemon's state.
type State struct {
	// Version is the server version; "" is a daemon that does not answer.
	Version string
	// Down is what the client says when the daemon does not answer.
	Down string
	// Starting is how many more `info` calls fail before the daemon answers.
	Starting int
	// NCPU and MemTotal are what info reports for containers.
	NCPU     int
	MemTotal int64
	// Images are the host's images, reference to ID.
	Images map[string]string
	// Containers by name.
	Containers map[string]*Container
	Networks   []string
	// APIServer, as HOST:PORT, is where the published port 6443 of every
	// control plane leads: the fake API server of the test.
	APIServer string
	// AdminConf is /etc/kubernetes/admin.conf of every control plane.
	AdminConf string
	// PullHangs makes `pull` take 5 seconds, as a slow network would.
	PullHangs bool
	// RunFails is the error `run` prints, when set.
	RunFails string
}

// Container is one container of the fake daemon.
type Container struct {
	Name     string
	Image    string
	Status   string // running or exited
	Labels   map[string]string
	Ports    map[string][]Binding
	Binds    []string
	Networks []string
	// Files written into the container, path to content.
	Files map[string]string
	// Images in the node's containerd, reference to ID.
	Images map[string]string
}

// Binding is a published port.
type Binding struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// Runtime is an installed fake client.
type Runtime struct {
	t      *testing.T
	Client string
	state  string
	log    string
	mu     sync.Mutex
}

// Install writes a fake client called client into dir, whose daemon
// starts with state, and returns it. dir must be on PATH; the test
// binary's TestMain must call MaybeRun.
func Install(t *testing.T, dir, client string, state State) *Runtime {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &Runtime{t: t, Client: client, state: filepath.Join(t.TempDir(), client+"-state.json"), log: filepath.Join(dir, "calls.log")}
	r.Set(func(s *State) { *s = state })
	script := fmt.Sprintf("#!/bin/sh\n%s=%s %s=%s %s=%s exec %s \"$@\"\n", envClient, client, envState, r.state, envLog, r.log, self)
	if err := os.WriteFile(filepath.Join(dir, client), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// Set changes the daemon's state.
func (r *Runtime) Set(change func(*State)) {
	r.t.Helper()
	unlock := lockState(r.state)
	defer unlock()
	s := readState(r.state)
	change(s)
	writeState(r.state, s)
}

// State returns the daemon's state.
func (r *Runtime) State() *State {
	unlock := lockState(r.state)
	defer unlock()
	return readState(r.state)
}

// Calls returns the calls made to every fake client installed in the
// same directory, one line each: the client's name and its arguments.
func (r *Runtime) Calls() []string {
	b, _ := os.ReadFile(r.log)
	var out []string
	for l := range strings.Lines(string(b)) {
		out = append(out, strings.TrimRight(l, "\n"))
	}
	return out
}

// Called returns the calls that start with prefix (such as "docker start").
func (r *Runtime) Called(prefix string) []string {
	var out []string
	for _, c := range r.Calls() {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Node returns a running node container of a kind cluster, as kind
// creates it; extra ports and binds may be added to it.
func Node(cluster, role, suffix, image string) *Container {
	name := cluster + "-" + role + suffix
	return &Container{
		Name: name, Image: image, Status: "running",
		Labels:   map[string]string{"io.x-k8s.kind.cluster": cluster, "io.x-k8s.kind.role": role},
		Ports:    map[string][]Binding{},
		Networks: []string{"kind"}, Files: map[string]string{}, Images: map[string]string{},
	}
}

// Add adds containers to the state; a control plane's API server port
// leads to APIServer, which must be set first.
func (s *State) Add(cs ...*Container) {
	if s.Containers == nil {
		s.Containers = map[string]*Container{}
	}
	for _, c := range cs {
		if (c.Role() == "control-plane" || c.Role() == "external-load-balancer") && c.Ports["6443/tcp"] == nil {
			b := Binding{HostIP: "127.0.0.1", HostPort: "6443"}
			if host, port, ok := strings.Cut(s.APIServer, ":"); ok {
				b = Binding{HostIP: host, HostPort: port}
			}
			c.Ports["6443/tcp"] = []Binding{b}
		}
		s.Containers[c.Name] = c
	}
}

// Role is the container's kind role.
func (c *Container) Role() string { return c.Labels["io.x-k8s.kind.role"] }

// sorted returns the containers by name.
func (s *State) sorted() []*Container {
	names := make([]string, 0, len(s.Containers))
	for n := range s.Containers {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*Container, len(names))
	for i, n := range names {
		out[i] = s.Containers[n]
	}
	return out
}

func lockState(path string) func() {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		panic(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		panic(err)
	}
	return func() { f.Close() }
}

func readState(path string) *State {
	s := &State{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, s); err != nil {
			panic(err)
		}
	}
	if s.Images == nil {
		s.Images = map[string]string{}
	}
	if s.Containers == nil {
		s.Containers = map[string]*Container{}
	}
	return s
}

func writeState(path string, s *State) {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		panic(err)
	}
}
