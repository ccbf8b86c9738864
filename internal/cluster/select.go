package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Selection is the provider chosen for a cluster, and why.
type Selection struct {
	Provider Provider
	// Reason tells the user why this provider was chosen, for example
	// "no container runtime answered: docker: not installed (not found in
	// PATH); ...; using embedded". Empty when the provider was named.
	Reason string
}

// Select returns the provider named by name for the cluster called
// cluster. "auto" (or "") picks, in order: the provider that already has
// that cluster, so that a cluster created while Docker was down is not
// shadowed by a second one once Docker is up; kind when a container runtime
// answers; embedded otherwise.
func Select(ctx context.Context, name, cluster string, opts Options) (*Selection, error) {
	if name != "" && name != config.ProviderAuto {
		p, err := New(name, opts)
		if err != nil {
			return nil, err
		}
		return &Selection{Provider: p}, nil
	}

	if cluster != "" {
		for _, n := range Registered() {
			if n == config.ProviderExisting {
				continue // never the choice of auto: it cannot create
			}
			p, err := New(n, opts)
			if err != nil {
				return nil, err
			}
			ok, err := p.Exists(ctx, cluster)
			if err != nil {
				opts.Log().Debug("auto: could not ask provider for the cluster", "provider", n, "cluster", cluster, "err", err)
				continue
			}
			if ok {
				return &Selection{Provider: p, Reason: fmt.Sprintf("cluster %s exists (%s); using it", cluster, n)}, nil
			}
		}
	}

	rt, why := autoRuntime(ctx, cluster, opts)
	if rt != nil && slices.Contains(Registered(), config.ProviderKind) {
		opts.Runtime = rt
		p, err := New(config.ProviderKind, opts)
		if err != nil {
			return nil, err
		}
		return &Selection{Provider: p, Reason: fmt.Sprintf("%s %s answered; using kind", rt.Client(), rt.Version)}, nil
	}
	if !slices.Contains(Registered(), config.ProviderEmbedded) {
		registry.RLock()
		missing := registry.unavailable[config.ProviderEmbedded]
		registry.RUnlock()
		if missing != "" {
			return nil, errs.Inputf("provider auto: %s, and %s", why, missing)
		}
		return nil, errs.Inputf("provider auto: %s, and the embedded provider is not available in this build of envctl; start a container runtime, or point the environment at a cluster with spec.cluster.provider: existing", why)
	}
	p, err := New(config.ProviderEmbedded, opts)
	if err != nil {
		return nil, err
	}
	return &Selection{Provider: p, Reason: why + "; using embedded"}, nil
}

// autoRuntime finds the container runtime auto would put a new cluster
// on. A runtime that is installed but does not answer is waited for up to
// opts.RuntimeWait, saying so, since Docker Desktop or a podman machine
// may be starting; when it still does not answer, why says so plainly.
func autoRuntime(ctx context.Context, cluster string, opts Options) (*Runtime, string) {
	if opts.Runtime != nil {
		return opts.Runtime, ""
	}
	if !slices.Contains(Registered(), config.ProviderKind) {
		return nil, "kind is not available in this build"
	}
	rt, err := DetectRuntime(ctx, DetectOptions{Logger: opts.Log()})
	if rt != nil {
		return rt, ""
	}
	var nre *NoRuntimeError
	if !errors.As(err, &nre) || len(nre.Installed()) == 0 || opts.RuntimeWait <= 0 {
		return nil, err.Error()
	}
	var names, reasons []string
	for _, a := range nre.Installed() {
		names = append(names, a.Name)
		reasons = append(reasons, a.Name+": "+a.Err.Error())
	}
	list := strings.Join(names, " and ")
	opts.Note("%s installed but not answering (%s); waiting up to %v for it to start (cluster.runtimeWait)", list, strings.Join(reasons, "; "), opts.RuntimeWait)
	if rt, err = WaitRuntime(ctx, names, opts.RuntimeWait); rt != nil {
		return rt, ""
	}
	why := fmt.Sprintf("%s did not answer within %v (%v)", list, opts.RuntimeWait, err)
	if cluster != "" {
		why += fmt.Sprintf("; once it does, `envctl cluster delete %s` lets the next up create the cluster on kind", cluster)
	}
	return nil, why
}

// Find returns the provider that has the named cluster, asking each
// registered provider in turn. A cluster is looked up this way by the
// commands that take only a name (delete, kubeconfig). Two providers having
// a cluster of the same name is bad input: the user must say which.
func Find(ctx context.Context, name string, opts Options) (Provider, error) {
	var found []Provider
	var failures []error
	looked := Registered()
	for _, n := range looked {
		p, err := New(n, opts)
		if err != nil {
			return nil, err
		}
		ok, err := p.Exists(ctx, name)
		if err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", n, err))
			continue
		}
		if ok {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		names := make([]string, len(found))
		for i, p := range found {
			names[i] = p.Name()
		}
		return nil, errs.Inputf("cluster %q exists with several providers (%s); say which with --provider", name, strings.Join(names, ", "))
	case len(failures) > 0:
		return nil, fmt.Errorf("find cluster %q: %w", name, errors.Join(append([]error{&NotFoundError{Name: name, Looked: looked}}, failures...)...))
	}
	return nil, errs.Input(&NotFoundError{Name: name, Looked: looked})
}

// WriteKubeconfig merges the cluster's context into the user's kubeconfig
// (see kubeconfig.Merge for the current-context rules), records in the
// cluster's state which file that was, for Delete, and says what it wrote.
// For an existing cluster it writes nothing: the user's kubeconfig already
// has its context, which is returned with no Path.
func WriteKubeconfig(ctx context.Context, p Provider, name string, opts kubeconfig.WriteOptions) (kubeconfig.Written, error) {
	data, err := p.Kubeconfig(ctx, name)
	if err != nil {
		return kubeconfig.Written{}, err
	}
	if p.Name() == config.ProviderExisting {
		c, err := kubeconfigContext(data)
		return kubeconfig.Written{Context: c}, err
	}
	opts.Context = kubeconfig.ContextFor(p.Name(), name)
	if p.Name() == config.ProviderKind {
		// Earlier releases named a kind cluster's context envctl-NAME.
		opts.Replaces = []string{kubeconfig.ContextName(name)}
	}
	w, err := kubeconfig.Merge(ctx, opts, name, data)
	if err != nil {
		return w, err
	}
	return w, recordContext(p, name, w.Path)
}

// kubeconfigContext is the current context of a kubeconfig.
func kubeconfigContext(data []byte) (string, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return "", fmt.Errorf("parse kubeconfig: %w", err)
	}
	return cfg.CurrentContext, nil
}
