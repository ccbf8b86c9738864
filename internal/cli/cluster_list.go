package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/errs"
)

// clusterListOptions are the inputs of `envctl cluster list`.
type clusterListOptions struct {
	Env    string
	Output string
	// now is the clock ages are computed against; tests fix it.
	now func() time.Time
}

func newClusterListCmd(f *Factory) *cobra.Command {
	o := &clusterListOptions{now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List clusters of every provider",
		Long: `List the clusters of every provider: the embedded and kind clusters envctl
created, and the existing cluster the environment (--env, or the default
environment) points at. Each is asked for its version and nodes.

STATUS is running, stopped (its state is there, its API server is not),
missing (envctl's record remains but the cluster is gone) or unknown (it
could not be asked, for instance because the container runtime is down);
-o json says why in "message".`,
		Example: `  envctl cluster list

  # For scripts: one JSON array, [] when there are none
  envctl cluster list -o json | jq -r '.[] | select(.status == "running") | .name'`,
		Args: argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterList(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Env, "env", "e", "", "environment whose existing cluster to include (default: the repository's default environment, if any)")
	fl.StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	return cmd
}

func runClusterList(ctx context.Context, f *Factory, o *clusterListOptions) error {
	if err := checkOutput(o.Output, "table", "json"); err != nil {
		return err
	}
	t, err := loadClusterTarget(f, o.Env, nil)
	if err != nil {
		return err
	}
	opts := providerOptions(f, t)
	all := []cluster.Info{}
	var failures []error
	for _, name := range cluster.Registered() {
		p, err := cluster.New(name, opts)
		if err == nil {
			var infos []cluster.Info
			infos, err = p.List(ctx)
			all = append(all, infos...)
		}
		if err != nil {
			// One provider failing should not hide the others' clusters.
			failures = append(failures, fmt.Errorf("provider %s: %w", name, err))
		}
	}
	slices.SortFunc(all, func(a, b cluster.Info) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Provider, b.Provider))
	})

	if o.Output == "json" {
		if err := writeJSON(f.Streams.Out, all); err != nil {
			return err
		}
	} else {
		printClusterTable(f, all, o.now())
	}
	if len(failures) > 0 {
		return errs.Cluster(fmt.Errorf("could not list every cluster: %w", errors.Join(failures...)))
	}
	return nil
}

func printClusterTable(f *Factory, all []cluster.Info, now time.Time) {
	if len(all) == 0 {
		fmt.Fprintln(f.Streams.ErrOut, "No clusters.")
		return
	}
	tw := tabwriter.NewWriter(f.Streams.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tSTATUS\tSERVER\tVERSION\tNODES\tAGE")
	for _, c := range all {
		nodes := "-"
		if c.Nodes > 0 {
			nodes = strconv.Itoa(c.Nodes)
		}
		age := "-"
		if !c.Created.IsZero() {
			age = humanAge(now.Sub(c.Created))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Provider, c.Status, dash(c.Server), dash(c.Version), nodes, age)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanAge prints an age the way kubectl does: 45s, 12m, 5h, 3d.
func humanAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
