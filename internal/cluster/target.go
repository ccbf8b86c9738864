package cluster

import (
	"cmp"
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// Target is an environment's cluster as a command reaches it.
type Target struct {
	// Name is the environment's cluster name.
	Name string
	// Provider has the cluster; nil when a kubeconfig the user named
	// reaches a cluster other than the environment's own (see claim), and
	// envctl must then never delete it.
	Provider Provider
	// Config reaches the cluster's API server.
	Config *rest.Config
	// Created says that Ensure created the cluster.
	Created bool
	// Kubeconfig is what Ensure wrote into the user's kubeconfig.
	Kubeconfig kubeconfig.Written
	// KubeconfigPath is a kubeconfig file the user named as holding the
	// cluster's context; "" when none was named (Delete then finds the
	// files envctl wrote it to).
	KubeconfigPath string
}

// ProviderName is the name of the target's provider; "" when a kubeconfig
// the user named reaches it.
func (t *Target) ProviderName() string {
	if t.Provider == nil {
		return ""
	}
	return t.Provider.Name()
}

// CreatedByEnvctl says whether envctl made the cluster and so may delete
// it: an embedded or kind cluster, never an existing one or one reached
// through a kubeconfig the user named.
func (t *Target) CreatedByEnvctl() bool {
	switch t.ProviderName() {
	case config.ProviderEmbedded, config.ProviderKind:
		return true
	}
	return false
}

// Simulated says whether the target is envctl's embedded cluster, whose
// nodes are simulated and run no container: its nodes carry the
// envctl.dev/simulated label, however the cluster was reached (client).
func (t *Target) Simulated(ctx context.Context, client kubernetes.Interface) bool {
	if t.ProviderName() == config.ProviderEmbedded {
		return true
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "envctl.dev/simulated", Limit: 1})
	return err == nil && len(nodes.Items) > 0
}

// Noter hears a sentence worth showing beside a step's progress, such as
// which provider was chosen and why.
type Noter interface {
	Note(format string, args ...any)
}

// EnsureOptions are the inputs of Ensure beside the cluster's name and spec.
type EnsureOptions struct {
	// Options configure the providers.
	Options Options
	// Progress hears each step; one that is also a Noter hears which
	// provider was chosen and why, and what a long wait still misses.
	Progress Progress
	// Timeout bounds getting the cluster usable, from choosing its provider
	// to its readiness; 0 waits as long as it takes.
	Timeout time.Duration
	// TimeoutFlag names the flag that set Timeout, for the timeout's message.
	TimeoutFlag string
	// Env is the environment that declares the cluster.
	Env string
	// Adopt takes back a cluster envctl created whose record is gone.
	Adopt bool
	// Kubeconfig is the file the cluster's context is written to; ""
	// means kubectl's ($KUBECONFIG or ~/.kube/config).
	Kubeconfig string
}

// deadline bounds ctx by o.Timeout, with a cause that names the flag and
// setting that set it.
func (o EnsureOptions) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.Timeout <= 0 {
		return ctx, func() {}
	}
	flag := cmp.Or(o.TimeoutFlag, "--cluster-timeout")
	return context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("%s %v passed (setting cluster.timeout)", flag, o.Timeout))
}

// Ensure makes sure the cluster spec describes, called name, exists,
// creating it when it does not (or starting it when its nodes are
// stopped), within o.Timeout, and writes its context into the user's
// kubeconfig: made current when Ensure created the cluster, as kind does,
// or when the kubeconfig has no current context.
func Ensure(ctx context.Context, name string, spec config.ClusterSpec, o EnsureOptions) (*Target, error) {
	ctx, cancel := o.deadline(ctx)
	defer cancel()
	opts := o.Options
	if spec.Existing != nil {
		opts.Existing = &ExistingTarget{Name: name, ExistingSpec: *spec.Existing}
	}
	n, _ := o.Progress.(Noter)
	if opts.Notes == nil {
		opts.Notes = n
	}
	sel, err := Select(ctx, spec.Provider, name, opts)
	if err != nil {
		return nil, err
	}
	p := sel.Provider
	if sel.Reason != "" {
		opts.Note("cluster %s: provider %s (%s)", name, p.Name(), sel.Reason)
	} else {
		opts.Note("cluster %s: provider %s", name, p.Name())
	}
	t := &Target{Name: name, Provider: p, KubeconfigPath: o.Kubeconfig}
	existed, err := p.Exists(ctx, name)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("cluster %s: %w", name, err))
	}
	t.Created = !existed
	info, err := p.Ensure(ctx, Spec{Name: name, Cluster: spec, Progress: o.Progress, Env: o.Env, Adopt: o.Adopt})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	t.Created = t.Created && !info.Adopted
	current := kubeconfig.CurrentIfUnset
	if t.Created {
		current = kubeconfig.CurrentAlways
	}
	if t.Kubeconfig, err = WriteKubeconfig(ctx, p, name, kubeconfig.WriteOptions{Path: o.Kubeconfig, Current: current}); err != nil {
		return nil, fmt.Errorf("cluster %s: write kubeconfig: %w", name, err)
	}
	noteWritten(opts, t.Kubeconfig)
	if t.Config, err = p.RESTConfig(ctx, name); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	return t, nil
}

// Kubeconfig names a cluster through a kubeconfig file and context instead
// of an environment's own cluster; both empty name none.
type Kubeconfig struct {
	Path, Context string
}

// Set says whether a kubeconfig is named.
func (k Kubeconfig) Set() bool { return k.Path != "" || k.Context != "" }

// MissingError says that an environment's cluster does not exist; commands
// decide whether that is an error.
type MissingError struct {
	Environment, Cluster string
	// Up is the command that brings the environment up.
	Up  string
	Err error
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("environment %s: its cluster %s does not exist (bring it up with `%s`): %v", e.Environment, e.Cluster, e.Up, e.Err)
}

func (e *MissingError) Unwrap() error { return e.Err }

// Connect reaches the cluster of env, or the one kc names (env's own when
// kc names the context envctl wrote for it). It never creates a cluster:
// one that does not exist is a *MissingError, returned with the target
// (which names the cluster and its provider).
func Connect(ctx context.Context, env *config.Environment, kc Kubeconfig, opts Options) (*Target, error) {
	t := &Target{Name: env.ClusterName()}
	if kc.Set() {
		sel, err := kubeconfig.Load(kc.Path, kc.Context)
		if err != nil {
			return nil, err
		}
		if t.Config, err = sel.RESTConfig(); err != nil {
			return nil, err
		}
		t.claim(ctx, env.Spec.Cluster, sel, opts)
		return t, nil
	}
	spec := env.Spec.Cluster
	if spec.Existing != nil {
		opts.Existing = &ExistingTarget{Name: t.Name, ExistingSpec: *spec.Existing}
	}
	sel, err := Select(ctx, spec.Provider, t.Name, opts)
	if err != nil {
		return nil, err
	}
	t.Provider = sel.Provider
	cfg, err := sel.Provider.RESTConfig(ctx, t.Name)
	if IsNotFound(err) {
		return t, &MissingError{Environment: env.Name(), Cluster: t.Name, Up: env.UpCommand(), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("environment %s: cluster %s: %w", env.Name(), t.Name, err)
	}
	t.Config = cfg
	return t, nil
}

// claim makes t, reached through the kubeconfig context sel, the
// environment's own cluster when sel is the context envctl wrote for that
// cluster (as up --kubeconfig FILE writes it) and still reaches it: envctl
// created the cluster, so down may delete it, and its context is in sel's
// file. Any other context reaches a cluster envctl leaves alone.
func (t *Target) claim(ctx context.Context, spec config.ClusterSpec, sel *kubeconfig.Selected, opts Options) {
	if spec.Existing != nil || spec.Provider == config.ProviderExisting {
		return
	}
	if sel.Context != kubeconfig.ContextName(t.Name) && sel.Context != kubeconfig.KindContextName(t.Name) {
		return // not envctl's name for it: no need to ask the providers
	}
	s, err := Select(ctx, spec.Provider, t.Name, opts)
	if err != nil || sel.Context != kubeconfig.ContextFor(s.Provider.Name(), t.Name) {
		return
	}
	if cfg, err := s.Provider.RESTConfig(ctx, t.Name); err != nil || cfg.Host != t.Config.Host {
		return
	}
	t.Provider, t.KubeconfigPath = s.Provider, sel.File()
}
