package kind

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
)

// ensureRun is one Ensure: the cluster, its runtime and kind's provider.
type ensureRun struct {
	p    *Provider
	spec cluster.Spec
	cfg  *kindcfg
	rt   *cluster.Runtime
	kp   *kindcluster.Provider
	log  *logger
	rec  *record
}

// Ensure creates the kind cluster unless it exists, starts its containers
// when they are stopped, waits until it is usable, and wires in what the
// spec asks for (registry, mirrors, logins). One envctl at a time ensures
// a cluster; another waits for the first and then finds the cluster. See
// the package documentation for what happens on a deadline.
func (p *Provider) Ensure(ctx context.Context, spec cluster.Spec) (*cluster.Info, error) {
	if err := cluster.ValidateName(spec.Name); err != nil {
		return nil, err
	}
	cfg, err := ClusterConfig(spec.Name, spec.Cluster.Kind)
	if err != nil {
		return nil, err
	}
	unlock, err := p.lock(ctx, spec.Name, &spec)
	if err != nil {
		return nil, fmt.Errorf("kind cluster %s: %w", spec.Name, err)
	}
	defer unlock()
	e := &ensureRun{p: p, spec: spec, cfg: cfg}
	if e.rec, err = p.readRecord(spec.Name); err != nil {
		return nil, err
	}
	done := spec.Step("Checking container runtime")
	e.rt, err = p.runtimeFor(ctx, spec.Name, e.rec)
	if err == nil {
		e.kp, e.log, err = p.kind(e.rt, spec.Progress)
	}
	done(err)
	if err != nil {
		return nil, err
	}
	defer e.log.detach()
	return e.run(ctx)
}

func (e *ensureRun) run(ctx context.Context) (*cluster.Info, error) {
	name := e.spec.Name
	cs, err := listContainers(ctx, e.rt, name)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("list the containers of kind cluster %s: %w", name, err))
	}
	created, adopted := false, false
	switch {
	case len(cs) > 0 && e.rec == nil:
		if err := e.adopt(ctx, cs); err != nil {
			return nil, err
		}
		adopted = true
	case len(cs) == 0:
		if e.rec != nil {
			e.spec.Note("kind cluster %s has no containers on %s (deleted outside envctl); creating it again", name, e.rt.Client())
		}
		if warning := preflight(ctx, e.rt, requires(e.spec)); warning != "" {
			e.spec.Note("warning: %s", warning)
		}
		e.rec = &record{Name: name, Runtime: e.rt.Client(), Created: time.Now().UTC().Truncate(time.Second)}
		if err := e.p.create(ctx, e.kp, e.log, *e.rec, e.cfg, e.spec); err != nil {
			return nil, err
		}
		created = true
	default:
		if err := e.start(ctx, cs); err != nil {
			return nil, err
		}
		if d := drift(e.cfg, cs); len(d) > 0 {
			e.spec.Note("warning: kind cluster %s differs from its declaration, and kind cannot change the nodes of a running cluster:\n  - %s\n  recreate it to apply: envctl cluster delete %s && %s",
				name, strings.Join(d, "\n  - "), name, e.spec.UpCommand())
		}
	}
	rc, err := e.waitUsable(ctx, created)
	if err == nil {
		err = e.converge(ctx, rc)
	}
	if err != nil {
		if created {
			e.p.cleanup(e.kp, name)
			return nil, fmt.Errorf("%w; deleted the kind cluster %s envctl had just created", err, name)
		}
		return nil, err
	}
	in := e.p.info(ctx, e.kp, *e.rec)
	in.Adopted = adopted
	return in, nil
}

// requires is what the environment requires of the runtime.
func requires(spec cluster.Spec) map[string]string {
	if spec.Cluster.Kind == nil {
		return nil
	}
	return spec.Cluster.Kind.Requires
}

// start starts the cluster's stopped containers, saying so.
func (e *ensureRun) start(ctx context.Context, cs []container) error {
	down := stopped(cs)
	if len(down) == 0 {
		return nil
	}
	done := e.spec.Step(fmt.Sprintf("Starting stopped containers of kind cluster %s (%s)", e.spec.Name, strings.Join(names(down), ", ")))
	err := startContainers(ctx, e.rt, cs)
	done(err)
	if err != nil {
		return errs.Cluster(fmt.Errorf("start kind cluster %s: %w", e.spec.Name, err))
	}
	return nil
}

// waitUsable waits for the cluster's readiness, saying every
// cluster.ReportEvery what is still missing.
func (e *ensureRun) waitUsable(ctx context.Context, created bool) (*rest.Config, error) {
	done := e.spec.Step("Waiting for nodes Ready and the default ServiceAccount")
	rc, err := e.p.restConfig(e.kp, e.spec.Name)
	if err != nil && !created {
		err = e.p.whyUnreachable(ctx, e.rt, e.spec.Name, err)
	}
	if err == nil {
		err = cluster.WaitUsableReporting(ctx, rc, func(waited time.Duration, missing string) {
			e.spec.Note("still waiting for kind cluster %s after %v: %s", e.spec.Name, waited, missing)
		})
	}
	done(err)
	return rc, err
}

// adopt takes back a cluster whose record is gone, when it carries
// envctl's ownership marker and the user said --adopt; otherwise it says
// whose cluster it is and what to do.
func (e *ensureRun) adopt(ctx context.Context, cs []container) error {
	name := e.spec.Name
	if !e.spec.Adopt {
		if len(stopped(cs)) == 0 {
			if m := e.marker(ctx); m != nil {
				return errs.Inputf("kind cluster %s was created by envctl (on %s) but its record in %s is gone, as when the state directory is lost; take it back with: %s --adopt",
					name, m.Created.Format(time.DateOnly), e.p.stateDir(name), e.spec.UpCommand())
			}
		}
		return errs.Inputf("a kind cluster named %s exists that envctl did not create (or it is stopped and its ownership cannot be read; --adopt starts and checks it); choose another name, or delete it with: kind delete cluster --name %s", name, name)
	}
	if err := e.start(ctx, cs); err != nil {
		return err
	}
	if _, err := e.waitUsable(ctx, false); err != nil {
		return err
	}
	m := e.marker(ctx)
	if m == nil {
		return errs.Inputf("kind cluster %s has no envctl ownership marker (ConfigMap %s/%s): envctl adopts only clusters it created; delete it with: kind delete cluster --name %s", name, markerNamespace, markerName, name)
	}
	e.rec = &record{Name: name, Runtime: e.rt.Client(), Created: m.Created, Adopted: time.Now().UTC().Truncate(time.Second)}
	if err := e.p.writeRecord(*e.rec); err != nil {
		return err
	}
	e.spec.Note("adopted kind cluster %s on %s: created by envctl on %s, its record restored", name, e.rt.Client(), m.Created.Format(time.DateOnly))
	return nil
}

// marker reads the cluster's ownership marker; nil when it has none or
// cannot be asked.
func (e *ensureRun) marker(ctx context.Context) *marker {
	rc, err := e.p.restConfig(e.kp, e.spec.Name)
	if err != nil {
		return nil
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, _ := readMarker(ctx, cs)
	return m
}

// converge puts what envctl keeps in a usable cluster: the ownership
// marker, the local registry and its ConfigMap, the mirrors' and the
// registry's hosts.toml and the host's registry logins in every node.
func (e *ensureRun) converge(ctx context.Context, rc *rest.Config) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := writeMarker(ctx, cs, *e.rec); err != nil {
		return errs.Cluster(err)
	}
	spec := e.spec.Cluster.Kind
	var logins []byte
	if spec != nil && spec.HostCredentials {
		var registries []string
		if logins, registries, err = hostLogins(ctx); err != nil {
			return errs.Input(fmt.Errorf("hostCredentials: %w", err))
		}
		if len(registries) == 0 {
			e.spec.Note("hostCredentials: the host has no registry logins (docker login) to copy into the nodes")
		} else {
			e.spec.Note("copying the host's registry logins for %s into the nodes", strings.Join(registries, ", "))
		}
	}
	files := nodeFiles(spec, logins)
	reg := RegistryOf(spec)
	if reg != nil {
		done := e.spec.Step(fmt.Sprintf("Local registry %s at %s", reg.Name, reg.Host()))
		err := ensureRegistry(ctx, e.rt, reg)
		if err == nil {
			err = advertiseRegistry(ctx, cs, reg)
		}
		done(err)
		if err != nil {
			return errs.Cluster(err)
		}
	}
	if len(files) > 0 {
		nodes, err := e.nodes(ctx)
		if err == nil {
			err = writeNodeFiles(ctx, e.rt, nodes, files)
		}
		if err != nil {
			return errs.Cluster(err)
		}
	}
	if want := registryHost(reg); want != e.rec.Registry {
		e.rec.Registry = want
		return e.p.writeRecord(*e.rec)
	}
	return nil
}

// nodes lists the cluster's node containers, the load balancer left out.
func (e *ensureRun) nodes(ctx context.Context) ([]string, error) {
	cs, err := listContainers(ctx, e.rt, e.spec.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range cs {
		if c.Role != lbRole {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

func registryHost(r *Registry) string {
	if r == nil {
		return ""
	}
	return r.Host()
}
