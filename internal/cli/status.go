package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/inventory"
	"github.com/envctl/envctl/internal/kube"
	"github.com/envctl/envctl/internal/render"
)

// statusOptions are the inputs of `envctl status`.
type statusOptions struct {
	Env     string
	Output  string
	Cluster clusterFlags
	// Source says where the declared state comes from.
	Source sourceFlags
}

// statusReport is what `envctl status -o json` prints.
type statusReport struct {
	Environment string `json:"environment"`
	Cluster     string `json:"cluster,omitempty"`
	// Revision is the source revision last applied.
	Revision string `json:"revision"`
	// SourceRevision is the revision the source is at now; when it is not
	// Revision, the environment is behind its source.
	SourceRevision string    `json:"sourceRevision,omitempty"`
	AppliedAt      time.Time `json:"appliedAt"`
	// Healthy is true when every object is Current.
	Healthy    bool              `json:"healthy"`
	Components []componentHealth `json:"components"`
	// Sync is the continuous reconcile of the environment (envctl sync or
	// daemon), when one ever ran.
	Sync *syncReport `json:"sync,omitempty"`
}

// componentHealth is one component's objects and their worst status.
type componentHealth struct {
	Name    string         `json:"name"`
	Status  kstatus.Status `json:"status"`
	Objects []objectHealth `json:"objects"`
}

type objectHealth struct {
	Ref     inventory.Ref  `json:"ref"`
	Status  kstatus.Status `json:"status"`
	Message string         `json:"message,omitempty"`
}

func newStatusCmd(f *Factory) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status [ENV]",
		Short: "Show the components, objects and health of an applied environment",
		Long: `Show what envctl last applied to the environment (from the inventory it keeps
in the cluster): the source revision and when, each component with its
objects, and each object's health as kstatus sees it now.

Exit status: 0 when every object is Current, 3 when some object is not, 2 when
the environment was never applied (no cluster or no inventory).`,
		Example: `  # Health of the default environment
  envctl status

  # In a script: wait for CI's environment to be healthy
  until envctl status ci >/dev/null; do sleep 5; done

  # The objects that are not Current
  envctl status ci -o json | jq '.components[].objects[] | select(.status != "Current")'

  # Is the environment at the head of its branch?
  envctl status staging --git https://github.com/acme/platform.git --branch main -o json | jq '.revision == .sourceRevision'`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			if err := checkOutput(o.Output, "table", "json"); err != nil {
				return err
			}
			return runStatus(cmd.Context(), f, o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	o.Cluster.bind(cmd.Flags())
	o.Source.bind(cmd.Flags())
	return cmd
}

func runStatus(ctx context.Context, f *Factory, o *statusOptions) error {
	d, err := o.Source.load(ctx, f, o.Env, nil, nil)
	if err != nil {
		return err
	}
	repo, env := d.repo, d.env
	target, err := connect(ctx, f, repo, env, o.Cluster)
	var noCluster *errNoCluster
	if errors.As(err, &noCluster) {
		return errs.Inputf("environment %s was never applied: its cluster %s does not exist; bring it up with `envctl up %s`", env.Name(), target.clusterName, env.Name())
	}
	if err != nil {
		return err
	}
	inv, err := inventory.NewStore(target.client.Clientset).Load(ctx, env.Name())
	if errors.Is(err, inventory.ErrNotFound) {
		return errs.Inputf("environment %s was never applied to this cluster (no inventory ConfigMap %s/%s); apply it with `envctl up %s` or `envctl apply %s`",
			env.Name(), inventory.Namespace, inventory.ConfigMapName(env.Name(), 0), env.Name(), env.Name())
	}
	if err != nil {
		return err
	}
	report, err := environmentHealth(ctx, target.client, inv)
	if err != nil {
		return err
	}
	report.Cluster = target.clusterName
	report.SourceRevision = d.snap.Revision
	if o.Cluster.set() {
		report.Cluster = ""
	}
	if report.Sync, err = readSyncReport(ctx, target.client.Clientset, env.Name()); err != nil {
		return err
	}
	if o.Output == "json" {
		if err := writeJSON(f.Streams.Out, report); err != nil {
			return err
		}
	} else {
		printStatus(f, report)
	}
	if report.Healthy {
		return nil
	}
	bad, total := 0, 0
	for _, c := range report.Components {
		for _, ob := range c.Objects {
			total++
			if ob.Status != kstatus.CurrentStatus {
				bad++
			}
		}
	}
	return errs.Unhealthy(fmt.Errorf("environment %s: %d of %d objects are not healthy", env.Name(), bad, total))
}

// environmentHealth reads the live state of every object in inv (one LIST
// per kind, a GET for any object the LIST missed) and judges it with
// kstatus.
func environmentHealth(ctx context.Context, client *kube.Client, inv *inventory.Inventory) (*statusReport, error) {
	refs := make([]inventory.Ref, len(inv.Entries))
	for i, e := range inv.Entries {
		refs[i] = e.Ref
	}
	live, err := client.ListLive(ctx, refs, render.LabelEnvironment+"="+inv.Environment)
	if err != nil {
		return nil, err
	}
	report := &statusReport{Environment: inv.Environment, Revision: inv.Revision, AppliedAt: inv.AppliedAt, Healthy: true}
	byComponent := map[string]*componentHealth{}
	var order []string
	for _, name := range inv.Components {
		byComponent[name] = &componentHealth{Name: name, Status: kstatus.CurrentStatus}
		order = append(order, name)
	}
	for _, e := range inv.Entries {
		obj := live[e.Key()]
		if obj == nil {
			// Not returned by the LIST: gone, or its labels were changed.
			if obj, err = get(ctx, client, e.Ref); err != nil {
				return nil, err
			}
		}
		h := objectHealth{Ref: e.Ref, Status: kstatus.NotFoundStatus, Message: "not found in the cluster"}
		if obj != nil {
			res, err := kstatus.Compute(obj)
			if err != nil {
				h.Status, h.Message = kstatus.UnknownStatus, err.Error()
			} else {
				h.Status, h.Message = res.Status, res.Message
			}
		}
		c := byComponent[e.Component]
		if c == nil {
			c = &componentHealth{Name: e.Component, Status: kstatus.CurrentStatus}
			byComponent[e.Component] = c
			order = append(order, e.Component)
		}
		c.Objects = append(c.Objects, h)
		if severity(h.Status) > severity(c.Status) {
			c.Status = h.Status
		}
		if h.Status != kstatus.CurrentStatus {
			report.Healthy = false
		}
	}
	for _, name := range order {
		c := byComponent[name]
		if len(c.Objects) == 0 {
			continue
		}
		// In the order they were applied, as a reader of the manifests
		// expects: Namespaces and configuration before workloads.
		slices.SortStableFunc(c.Objects, func(a, b objectHealth) int {
			return cmp.Or(
				cmp.Compare(render.KindRank(a.Ref.Kind), render.KindRank(b.Ref.Kind)),
				cmp.Compare(a.Ref.Namespace, b.Ref.Namespace),
				cmp.Compare(a.Ref.Name, b.Ref.Name),
			)
		})
		report.Components = append(report.Components, *c)
	}
	return report, nil
}

// get reads one object; nil when it does not exist or its kind is not served.
func get(ctx context.Context, client *kube.Client, ref inventory.Ref) (*unstructured.Unstructured, error) {
	mapping, err := client.Mapper.Mapping(ctx, ref.GroupVersionKind())
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("discover kind of %s: %w", ref, err))
	}
	res := client.Dynamic.Resource(mapping.Resource)
	var obj *unstructured.Unstructured
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = res.Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		obj, err = res.Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read %s: %w", ref, err))
	}
	return obj, nil
}

// severity orders statuses so that a component shows its worst object's.
func severity(s kstatus.Status) int {
	switch s {
	case kstatus.CurrentStatus:
		return 0
	case kstatus.InProgressStatus:
		return 1
	case kstatus.TerminatingStatus:
		return 2
	case kstatus.UnknownStatus:
		return 3
	case kstatus.NotFoundStatus:
		return 4
	default: // Failed
		return 5
	}
}

func printStatus(f *Factory, r *statusReport) {
	w := f.Streams.Out
	where := ""
	if r.Cluster != "" {
		where = " on cluster " + r.Cluster
	}
	rev := r.Revision
	if rev == "" {
		rev = "(unknown)"
	}
	fmt.Fprintf(w, "Environment %s%s: revision %s, applied %s (%s ago)\n",
		r.Environment, where, rev, r.AppliedAt.UTC().Format(time.RFC3339), time.Since(r.AppliedAt).Round(time.Second))
	if r.SourceRevision != "" && r.SourceRevision != r.Revision {
		fmt.Fprintf(w, "The source is now at %s, which is not applied yet.\n", r.SourceRevision)
	}
	fmt.Fprintln(w)
	if r.Sync != nil {
		printSync(w, r.Sync)
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tOBJECT\tSTATUS\tMESSAGE")
	for _, c := range r.Components {
		for i, ob := range c.Objects {
			name := c.Name
			if i > 0 {
				name = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, ob.Ref, ob.Status, ob.Message)
		}
	}
	tw.Flush()
}
