// Package cluster creates, finds and deletes the clusters envctl applies to.
//
// A Provider is one way of getting a cluster: embedded (a control plane run
// by the envctl binary itself), kind, or an existing cluster reached through
// a kubeconfig. Providers register themselves by name (see Register), so
// that this package does not import them; Select picks one, resolving
// "auto" to kind when a container runtime answers and to embedded when none
// does. Ensure and Connect reach an environment's cluster; Create, Delete
// and ListAll are what the `envctl cluster` commands do.
package cluster

import (
	"context"

	"k8s.io/client-go/rest"
)

// Provider creates and manages clusters of one kind.
//
// Every method that names a cluster takes a name that passed ValidateName.
// Methods on a cluster the provider does not have return an error that
// IsNotFound recognises.
type Provider interface {
	// Name is the provider's name as written in configuration.
	Name() string
	// Ensure creates the cluster unless it exists and returns once it is
	// usable: nodes Ready and the default ServiceAccount present. It honours
	// ctx's deadline and, when it passes, cleans up what it half-created.
	Ensure(ctx context.Context, spec Spec) (*Info, error)
	// Delete removes the cluster and everything envctl kept for it.
	Delete(ctx context.Context, name string) error
	// List returns the clusters this provider knows.
	List(ctx context.Context) ([]Info, error)
	// Exists reports whether the named cluster exists.
	Exists(ctx context.Context, name string) (bool, error)
	// RESTConfig returns a client configuration for the named cluster.
	RESTConfig(ctx context.Context, name string) (*rest.Config, error)
	// Kubeconfig returns a self-contained kubeconfig file for the named
	// cluster whose only context is named kubeconfig.ContextName(name)
	// (for existing clusters, the configured context).
	Kubeconfig(ctx context.Context, name string) ([]byte, error)
}

// InternalKubeconfiger is a provider whose clusters have a second API
// server address, reachable from containers on the cluster's own network
// (a CI job beside kind's nodes) rather than from the host.
type InternalKubeconfiger interface {
	// InternalKubeconfig is Kubeconfig with the internal address.
	InternalKubeconfig(ctx context.Context, name string) ([]byte, error)
}

// ImageLoader is a provider that can copy images from the host's container
// runtime into a cluster's nodes, as `kind load docker-image` does.
type ImageLoader interface {
	// LoadImages copies images into every node that lacks them and returns
	// what it did per image.
	LoadImages(ctx context.Context, name string, images []string, progress Progress) ([]LoadedImage, error)
}

// LoadedImage is what LoadImages did with one image.
type LoadedImage struct {
	Image string `json:"image"`
	// ID is the image's ID in the host's runtime.
	ID string `json:"id"`
	// Loaded are the nodes it was copied into; Present those that had it.
	Loaded  []string `json:"loaded,omitempty"`
	Present []string `json:"present,omitempty"`
}
