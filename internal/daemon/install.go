// Package daemon installs envctl's daemon in an environment's cluster and
// connects the daemon to the cluster it runs in. An install reads the
// credentials the daemon is given, renders the environment so that the
// daemon's RBAC covers exactly the kinds it declares, and applies the
// objects of package manifests through the engine, with an inventory of
// their own. The daemon's loop itself is package loop, run by `envctl
// daemon`.
package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// Install is one install of the daemon of an environment.
type Install struct {
	Declared *engine.Declared
	// Target is the cluster installed to, and Client a client of it.
	Target *cluster.Target
	Client *kube.Client
	// Engine configures the engines the install renders and applies with;
	// its Client is set here. Its DecryptionKeyFile opens the environment's
	// SOPS files for the render.
	Engine engine.Config
	// Manifests are the daemon's options; the environment and the RBAC's
	// resources are filled in.
	Manifests manifests.Options
	// Policy bounds the health wait (NoWait, Timeout).
	Policy engine.Policy
	// Progress shows the render as a step, and OnEvent hears the apply.
	Progress cluster.Progress
	OnEvent  func(engine.Event)
}

// Installed is what an install did.
type Installed struct {
	// Result is the apply's; nil when it did not start.
	Result *engine.Result
	// Requests are the API requests the apply made (the render's and the
	// namespace's aside).
	Requests kube.Snapshot
	// Kinds is how many kinds of the environment the daemon may apply and
	// prune.
	Kinds int
}

// Run renders the environment for the daemon's RBAC, builds the daemon's
// objects and applies them. The result comes back with an error when the
// apply ran but failed.
func (in *Install) Run(ctx context.Context) (*Installed, error) {
	env := in.Declared.Env.Name()
	resources, err := in.resources(ctx)
	if err != nil {
		return nil, fmt.Errorf("daemon install %s: %w", env, err)
	}
	opts := in.Manifests
	opts.Environment, opts.Resources = env, resources
	objs, err := manifests.Build(opts)
	if err != nil {
		return nil, err
	}
	// Namespace envctl-system is every environment's: it holds their
	// inventories, locks and daemons. It is made if missing, never owned
	// by one daemon's install (which would keep a second environment's
	// daemon out of it, and take it along on a prune).
	objs = slices.DeleteFunc(objs, func(obj *unstructured.Unstructured) bool {
		return obj.GetKind() == "Namespace" && obj.GetName() == inventory.Namespace
	})
	if err := inventory.EnsureNamespace(ctx, in.Client.Clientset, inventory.Namespace); err != nil {
		return nil, err
	}
	// Counted, so that the summary shows that a second install writes nothing.
	cfg, counter := kube.CountingConfig(in.Target.Config)
	counted, err := kube.New(cfg)
	if err != nil {
		return nil, errs.Cluster(err)
	}
	ec := in.Engine
	ec.Client = counted
	res, err := engine.New(ec).Install(ctx,
		engine.Request{Declared: in.Declared, Policy: in.Policy, OnEvent: in.OnEvent},
		engine.Installation{Environment: manifests.Name(env), Component: "daemon", Revision: "envctl " + opts.Version, Objects: objs})
	if res == nil {
		return nil, err
	}
	return &Installed{Result: res, Requests: counter.Snapshot(), Kinds: len(resources)}, err
}

// resources are the kinds the environment renders here and now, with the
// keys the daemon gets: what its RBAC lets it apply and prune.
func (in *Install) resources(ctx context.Context) ([]manifests.Resource, error) {
	done := in.Progress.Step(fmt.Sprintf("Rendering environment %s for the daemon's RBAC", in.Declared.Env.Name()))
	ec := in.Engine
	ec.Client = in.Client
	rendered, err := engine.New(ec).Render(ctx, engine.Request{Declared: in.Declared})
	if err == nil && len(in.Manifests.Credentials.SOPSKeys) == 0 && len(in.Manifests.SOPSKeyServices) == 0 {
		err = needsSOPSKeys(rendered.Result)
	}
	var resources []manifests.Resource
	if err == nil {
		resources, err = manifests.ResourcesOf(ctx, rendered.Result, in.Client.Mapper)
	}
	done(err)
	return resources, err
}

// needsSOPSKeys is an error when the environment decrypts SOPS files,
// which the daemon could not do without keys of its own: the render here
// had this machine's keys.
func needsSOPSKeys(rendered *render.Result) error {
	files := rendered.SOPSFiles()
	if len(files) == 0 {
		return nil
	}
	return errs.Inputf("environment %s decrypts SOPS files (%s): give the daemon the keys that open them with --sops-key-file, or a sops key service with --daemon-sops-keyservice",
		rendered.Environment, strings.Join(files, ", "))
}

// Following says what a daemon of g follows, for a closing line:
// "https://… branch main (path platform)".
func Following(g manifests.Git) string {
	ref := "the default branch"
	switch {
	case g.Branch != "":
		ref = "branch " + g.Branch
	case g.Tag != "":
		ref = "tag " + g.Tag
	case g.SemVer != "":
		ref = "semver " + g.SemVer
	case g.Commit != "":
		ref = "commit " + g.Commit
	}
	s := g.URL + " " + ref
	if g.Path != "" {
		s += " (path " + g.Path + ")"
	}
	return s
}
