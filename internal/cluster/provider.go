// Package cluster creates, finds and deletes the clusters envctl applies to.
//
// A Provider is one way of getting a cluster: embedded (a control plane run
// by the envctl binary itself), kind, or an existing cluster reached through
// a kubeconfig.
package cluster

import (
	"context"

	"k8s.io/client-go/rest"
)

// Provider creates and manages clusters of one kind.
type Provider interface {
	// Name is the provider's name as written in configuration.
	Name() string
	// Ensure creates the cluster unless it exists and returns once it is usable.
	Ensure(ctx context.Context, spec Spec) (*Info, error)
	// Delete removes the cluster and everything envctl kept for it.
	Delete(ctx context.Context, name string) error
	// List returns the clusters this provider knows.
	List(ctx context.Context) ([]Info, error)
	// Exists reports whether the named cluster exists.
	Exists(ctx context.Context, name string) (bool, error)
	// RESTConfig returns a client configuration for the named cluster.
	RESTConfig(ctx context.Context, name string) (*rest.Config, error)
	// Kubeconfig returns a kubeconfig file for the named cluster.
	Kubeconfig(ctx context.Context, name string) ([]byte, error)
}
