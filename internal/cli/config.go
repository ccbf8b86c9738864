package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/envctl/envctl/internal/config"
)

// newConfigCmd groups the commands that inspect envctl's own configuration.
func newConfigCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect envctl's configuration",
		Args:  argsValidator(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConfigViewCmd(f))
	return cmd
}

// configViewOptions are the inputs of `envctl config view`.
type configViewOptions struct {
	// Env is the environment to show as well; "" shows the settings only.
	Env    string
	Output string
	// ShowOrigin annotates each setting with where its value came from.
	ShowOrigin bool
	// Flags holds the setting override flags, passed on to config.Load.
	Flags *pflag.FlagSet
}

// configView is what `config view -o json` prints.
type configView struct {
	Config      *config.Config      `json:"config"`
	Environment *config.Environment `json:"environment,omitempty"`
}

func newConfigViewCmd(f *Factory) *cobra.Command {
	o := &configViewOptions{}
	cmd := &cobra.Command{
		Use:   "view [ENV]",
		Short: "Print the effective configuration",
		Long: `Print the effective configuration: the repo-wide settings from config.yaml
after defaults, ENVCTL_* environment variables and flags, and, given ENV, that
environment with every default filled in.

Each setting is taken from, in increasing precedence: its default, config.yaml,
its environment variable, its flag. The variable is ENVCTL_ followed by the
setting's path upper-cased with "." as "_"; the flag is the path in kebab case
with "." as "-". An empty variable counts as unset.

` + settingsTable() + `
YAML output is the settings document, then (with ENV) a second document with
the environment. JSON output is one object: {"config": ..., "environment": ...}.`,
		Example: `  # The effective settings of the repository in the working directory
  envctl config view

  # The default environment, with defaults filled in, as JSON
  envctl config view local -o json

  # See where each setting comes from, with an override in place
  ENVCTL_APPLY_CONCURRENCY=4 envctl config view --show-origin --prune-max-fraction 0.2`,
		Args: argsValidator(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Env = args[0]
			}
			o.Flags = cmd.Flags()
			return runConfigView(f, o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "output format: yaml or json")
	cmd.Flags().BoolVar(&o.ShowOrigin, "show-origin", false, "annotate each setting with where its value came from (YAML only)")
	config.BindFlags(cmd.Flags())
	return cmd
}

// settingsTable lists the overridable settings for --help.
func settingsTable() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SETTING\tENVIRONMENT VARIABLE\tFLAG\tDEFAULT")
	for _, k := range config.Keys() {
		def := k.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  %s\t%s\t--%s\t%s\n", k.Name, k.Env, k.Flag, def)
	}
	tw.Flush()
	return b.String()
}

func runConfigView(f *Factory, o *configViewOptions) error {
	if err := checkOutput(o.Output, "yaml", "json"); err != nil {
		return err
	}
	if o.ShowOrigin && o.Output == "json" {
		return usageError(fmt.Errorf("--show-origin applies to YAML output only"))
	}
	repo, err := config.Load(config.LoadOptions{Dir: f.Global.Repo, Flags: o.Flags})
	if err != nil {
		return err
	}
	view := configView{Config: repo.Config}
	if o.Env != "" {
		env, err := repo.Environment(o.Env)
		if err != nil {
			return err
		}
		view.Environment = env
	}
	if o.Output == "json" {
		return writeJSON(f.Streams.Out, view)
	}
	cfgNode, err := yamlNode(view.Config)
	if err != nil {
		return err
	}
	if o.ShowOrigin {
		annotateOrigins(cfgNode, repo)
	}
	docs := []*yaml.Node{cfgNode}
	if view.Environment != nil {
		envNode, err := yamlNode(view.Environment)
		if err != nil {
			return err
		}
		docs = append(docs, envNode)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode YAML: %w", err)
	}
	_, err = f.Streams.Out.Write(buf.Bytes())
	return err
}

// yamlNode converts v to a YAML node through its JSON form, so that keys
// follow the json tags and the order of the struct fields, as a user
// writes them, rather than being sorted.
func yamlNode(v any) (*yaml.Node, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	plainStyle(&doc)
	return doc.Content[0], nil
}

// plainStyle drops the flow style and quoting that JSON input carries; the
// encoder quotes only the strings that need it.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// annotateOrigins comments each setting with where its value came from.
func annotateOrigins(cfg *yaml.Node, repo *config.Repo) {
	for _, k := range config.Keys() {
		n := lookupNode(cfg, append([]string{"spec"}, strings.Split(k.Name, ".")...))
		if n == nil {
			continue
		}
		n.LineComment = "# " + repo.Origin(k.Name)
	}
}

func lookupNode(n *yaml.Node, path []string) *yaml.Node {
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
