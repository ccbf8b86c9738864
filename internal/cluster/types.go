package cluster

import (
	"time"

	"github.com/envctl/envctl/internal/config"
)

// Spec is what a provider needs to create a cluster.
type Spec struct {
	// Name is the cluster name (a DNS label).
	Name string
	// Cluster is the environment's cluster section; providers read their own part.
	Cluster config.ClusterSpec
	// Progress, when set, is told about each step of a long operation.
	Progress func(step string)
}

// Info describes one cluster.
type Info struct {
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Context is the kubeconfig context envctl wrote for the cluster.
	Context string `json:"context,omitempty"`
	// Server is the API server URL.
	Server string `json:"server,omitempty"`
	// Version is the server's Kubernetes version.
	Version string `json:"version,omitempty"`
	// Status is running, stopped or unknown.
	Status  string    `json:"status"`
	Nodes   int       `json:"nodes,omitempty"`
	Created time.Time `json:"created,omitempty"`
}
