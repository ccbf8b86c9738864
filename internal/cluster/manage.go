package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/cluster/kubeconfig"
	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
)

// FindProvider returns the provider that has cluster name: whichever has
// it, or the one provider names, which then answers for the cluster itself
// (its errors say more than "not found", for instance that a kind cluster
// exists but was made with the kind CLI).
func FindProvider(ctx context.Context, provider, name string, opts Options) (Provider, error) {
	if provider == "" || provider == config.ProviderAuto {
		return Find(ctx, name, opts)
	}
	return New(provider, opts)
}

// ListAll lists the clusters of every registered provider, sorted by name.
// One provider failing does not hide the others' clusters: they are
// returned with a cluster error naming each provider that failed.
func ListAll(ctx context.Context, opts Options) ([]Info, error) {
	all := []Info{}
	var failures []error
	for _, name := range Registered() {
		p, err := New(name, opts)
		if err == nil {
			var infos []Info
			infos, err = p.List(ctx)
			all = append(all, infos...)
		}
		if err != nil {
			failures = append(failures, fmt.Errorf("provider %s: %w", name, err))
		}
	}
	slices.SortFunc(all, func(a, b Info) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Provider, b.Provider))
	})
	if len(failures) > 0 {
		return all, errs.Cluster(fmt.Errorf("could not list every cluster: %w", errors.Join(failures...)))
	}
	return all, nil
}

// CreateOptions are the inputs of Create.
type CreateOptions struct {
	// Declared is the cluster to create: its name ("" for DefaultName),
	// spec and environment. Its Spec.Provider picks the provider.
	Declared Declared
	// Options configure the providers.
	Options Options
	// Timeout bounds the whole creation; 0 waits as long as it takes.
	Timeout time.Duration
	// TimeoutFlag names the flag that set Timeout, for its message.
	TimeoutFlag string
	// Adopt takes back a cluster envctl created whose record is gone.
	Adopt bool
	// Kubeconfig is the file the context is written to; "" means
	// kubectl's ($KUBECONFIG or ~/.kube/config).
	Kubeconfig string
	// Current says when the new context becomes current; CurrentIfUnset
	// (the zero value) makes a cluster it creates current, as kind does.
	Current kubeconfig.Current
	// Progress hears each step; one that is also a Noter hears which
	// environment declares the cluster and why auto chose its provider.
	Progress Progress
}

// Created is a cluster Create made ready.
type Created struct {
	Info
	// Reason says why auto chose the provider.
	Reason string
	// Written is what the kubeconfig write did; zero for an existing
	// cluster, whose context is the user's own.
	Written kubeconfig.Written
}

// Create creates a cluster unless it exists, waits until it is usable,
// and writes its context into the kubeconfig. With provider existing
// nothing is created or written: the cluster is checked and described.
func Create(ctx context.Context, o CreateOptions) (*Created, error) {
	d := o.Declared
	if d.Name == "" {
		d.Name = DefaultName
	}
	if err := ValidateName(d.Name); err != nil {
		return nil, err
	}
	ctx, cancel := EnsureOptions{Timeout: o.Timeout, TimeoutFlag: o.TimeoutFlag}.deadline(ctx)
	defer cancel()
	opts := d.Options(o.Options)
	if n, ok := o.Progress.(Noter); ok && opts.Notes == nil {
		opts.Notes = n
	}
	if d.Env != "" {
		opts.Note("Cluster %s of environment %s", d.Name, d.Env)
	}
	sel, err := Select(ctx, d.Spec.Provider, d.Name, opts)
	if err != nil {
		return nil, err
	}
	if sel.Reason != "" {
		opts.Note("Provider auto: %s", sel.Reason)
	}
	p := sel.Provider
	existed, err := p.Exists(ctx, d.Name)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("cluster %s: %w", d.Name, err))
	}
	info, err := p.Ensure(ctx, Spec{Name: d.Name, Cluster: d.Spec, Progress: o.Progress, Env: d.Env, Adopt: o.Adopt})
	if err != nil {
		return nil, err // providers name the cluster in their errors
	}
	c := &Created{Info: *info, Reason: sel.Reason}
	if p.Name() == config.ProviderExisting {
		return c, nil
	}
	current := o.Current
	if current == kubeconfig.CurrentIfUnset && !existed && !info.Adopted {
		current = kubeconfig.CurrentAlways // as kind create does
	}
	done := o.Progress.Step(fmt.Sprintf("Writing context %s to %s", kubeconfig.ContextFor(p.Name(), d.Name), kubeconfigWhere(o.Kubeconfig)))
	c.Written, err = WriteKubeconfig(ctx, p, d.Name, kubeconfig.WriteOptions{Path: o.Kubeconfig, Current: current})
	done(err)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: write kubeconfig: %w", d.Name, err)
	}
	noteWritten(opts, c.Written)
	return c, nil
}

// kubeconfigWhere names the kubeconfig file ("" for kubectl's) in
// progress.
func kubeconfigWhere(file string) string {
	if file != "" {
		return file
	}
	if p, err := kubeconfig.DefaultPath(); err == nil {
		return p
	}
	return "the kubeconfig"
}

// noteWritten says what a kubeconfig write did to the user's contexts
// beyond adding one: a rename, a switch of the current context.
func noteWritten(o Options, w kubeconfig.Written) {
	if w.Renamed != "" {
		o.Note("Renamed context %s to %s (kind's name for a kind cluster)", w.Renamed, w.Context)
	}
	if w.Switched {
		if w.Previous != "" {
			o.Note("Switched the current context to %s (it was %s; back with: kubectl config use-context %s)", w.Context, w.Previous, w.Previous)
		} else {
			o.Note("Switched the current context to %s", w.Context)
		}
	}
}

// Delete deletes cluster name of provider p and then its context from the
// kubeconfig files envctl wrote it to and from file, when set (see
// contextFiles), each as a step of progress.
func Delete(ctx context.Context, p Provider, name, file string, progress Progress) error {
	files := contextFiles(p, name, file)
	done := progress.Step(fmt.Sprintf("Deleting %s cluster %s", p.Name(), name))
	err := p.Delete(ctx, name)
	done(err)
	if err != nil {
		return err
	}
	if p.Name() == config.ProviderExisting {
		return nil
	}
	if err := removeContexts(ctx, p.Name(), name, files, progress); err != nil {
		return fmt.Errorf("cluster %s is deleted, but its context is not: %w", name, err)
	}
	return nil
}

// removeContexts removes the context of cluster name of provider from each
// kubeconfig file ("" for kubectl's files) as a step of progress, saying
// when it was the current one. A file that is gone is skipped.
func removeContexts(ctx context.Context, provider, name string, files []string, progress Progress) error {
	ctxName := kubeconfig.ContextFor(provider, name)
	names := []string{ctxName}
	if provider == config.ProviderKind {
		// Earlier releases named a kind cluster's context envctl-NAME.
		names = append(names, kubeconfig.ContextName(name))
	}
	n, _ := progress.(Noter)
	var failed []error
	for _, file := range files {
		if _, err := os.Stat(file); file != "" && errors.Is(err, os.ErrNotExist) {
			if n != nil {
				n.Note("Kubeconfig %s is gone; no context %s to remove from it", file, ctxName)
			}
			continue
		}
		done := progress.Step(fmt.Sprintf("Removing context %s from %s", ctxName, kubeconfigWhere(file)))
		r, err := kubeconfig.Remove(ctx, file, names...)
		done(err)
		if err != nil {
			failed = append(failed, err)
		}
		if n != nil && r.WasCurrent {
			n.Note("Context %s was the current context; none is current now (choose one with: kubectl config use-context NAME)", ctxName)
		}
	}
	return errors.Join(failed...)
}

// Delete deletes the cluster envctl created for an environment (see
// CreatedByEnvctl), and its context from the kubeconfig files envctl wrote
// it to and from t.KubeconfigPath (see contextFiles).
func (t *Target) Delete(ctx context.Context, progress Progress) error {
	files := contextFiles(t.Provider, t.Name, t.KubeconfigPath)
	done := progress.Step(fmt.Sprintf("Deleting %s cluster %s", t.ProviderName(), t.Name))
	err := t.Provider.Delete(ctx, t.Name)
	done(err)
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", t.Name, err)
	}
	if err := removeContexts(ctx, t.ProviderName(), t.Name, files, progress); err != nil {
		return fmt.Errorf("cluster %s is deleted, but its kubeconfig context %s is not: %w", t.Name, kubeconfig.ContextFor(t.ProviderName(), t.Name), err)
	}
	return nil
}

// LoadImages copies images from the host's container runtime into the
// nodes of cluster name of provider p, which must be able to (kind).
func LoadImages(ctx context.Context, p Provider, name string, images []string, progress Progress) ([]LoadedImage, error) {
	l, ok := p.(ImageLoader)
	if !ok {
		return nil, errs.Inputf("cluster %s is a %s cluster: envctl cluster load copies images into the nodes of a kind cluster (the embedded cluster runs no containers; an existing cluster pulls from a registry)", name, p.Name())
	}
	return l.LoadImages(ctx, name, images, progress)
}

// InternalKubeconfig returns the kubeconfig that containers on the
// cluster's own network use, for providers that have one (kind).
func InternalKubeconfig(ctx context.Context, p Provider, name string) ([]byte, error) {
	k, ok := p.(InternalKubeconfiger)
	if !ok {
		return nil, errs.Inputf("cluster %s is a %s cluster, which has no internal address; the kubeconfig without --internal is the one to use", name, p.Name())
	}
	return k.InternalKubeconfig(ctx, name)
}
