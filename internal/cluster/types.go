package cluster

import (
	"time"

	"github.com/envctl/envctl/internal/config"
)

// Spec is what a provider needs to create a cluster.
type Spec struct {
	// Name is the cluster name (see ValidateName).
	Name string
	// Cluster is the environment's cluster section; providers read their own part.
	Cluster config.ClusterSpec
	// Progress, when set, is told about each step of a long operation.
	Progress Progress
	// Env is the environment that declares the cluster, for the commands
	// a message suggests; "" when none does.
	Env string
	// Adopt lets the provider take back a cluster envctl created whose
	// record in the state directory is gone.
	Adopt bool
}

// Note tells s.Progress a sentence, when it is a Noter.
func (s Spec) Note(format string, args ...any) {
	if n, ok := s.Progress.(Noter); ok {
		n.Note(format, args...)
	}
}

// UpCommand is the command that ensures the cluster again: up of its
// environment, or cluster create of the bare cluster.
func (s Spec) UpCommand() string {
	if s.Env != "" {
		return "envctl up " + s.Env
	}
	return "envctl cluster create " + s.Name
}

// Progress hears about the steps of a long operation, so that the CLI can
// print a line per step as it ends (✓ or ✗) while the provider knows
// nothing about terminals.
type Progress interface {
	// Step reports that a step began. The returned function is called once
	// when it ends, with nil on success.
	Step(name string) (done func(err error))
}

// Step begins a step on s.Progress, or does nothing when there is none.
func (s Spec) Step(name string) (done func(err error)) {
	if s.Progress == nil {
		return func(error) {}
	}
	return s.Progress.Step(name)
}

// Cluster states reported in Info.Status.
const (
	// StatusRunning is a cluster whose API server answered.
	StatusRunning = "running"
	// StatusStopped is a cluster whose state exists but whose API server is
	// not running, for instance an embedded cluster whose process ended.
	StatusStopped = "stopped"
	// StatusMissing is a cluster envctl has a record of that is gone, for
	// instance a kind cluster deleted with kind itself.
	StatusMissing = "missing"
	// StatusUnknown is a cluster that could not be asked; Info.Message says why.
	StatusUnknown = "unknown"
)

// Info describes one cluster.
type Info struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Context is the kubeconfig context for the cluster: the one envctl
	// writes (kubeconfig.ContextName), or for an existing cluster the one
	// configured.
	Context string `json:"context,omitempty"`
	// Server is the API server URL.
	Server string `json:"server,omitempty"`
	// Version is the server's Kubernetes version.
	Version string `json:"version,omitempty"`
	// Status is one of the Status constants.
	Status string `json:"status"`
	// Message explains a status other than running.
	Message string `json:"message,omitempty"`
	// Nodes is the number of nodes, when the server answered.
	Nodes int `json:"nodes,omitempty"`
	// Created is when envctl created the cluster; zero when unknown.
	Created time.Time `json:"created,omitzero"`
	// Adopted says that Ensure took back a cluster envctl had created
	// whose record was gone (see Spec.Adopt).
	Adopted bool `json:"adopted,omitempty"`
	// Registry is the host address of the cluster's local registry, such
	// as localhost:5001, when it has one.
	Registry string `json:"registry,omitempty"`
}
