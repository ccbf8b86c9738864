package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// View is the effective configuration as `envctl config view` shows it:
// the settings, and an environment with every default filled in.
type View struct {
	Config      *Config      `json:"config"`
	Environment *Environment `json:"environment,omitempty"`
}

// YAML encodes the view as YAML: the settings document, then (with an
// environment) a second document with the environment. With origins set,
// each setting carries a comment saying where its value came from.
func (v View) YAML(origins *Repo) ([]byte, error) {
	cfgNode, err := yamlNode(v.Config)
	if err != nil {
		return nil, err
	}
	if origins != nil {
		annotateOrigins(cfgNode, origins)
	}
	docs := []*yaml.Node{cfgNode}
	if v.Environment != nil {
		envNode, err := yamlNode(v.Environment)
		if err != nil {
			return nil, err
		}
		docs = append(docs, envNode)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("encode YAML: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// SettingsTable lists the overridable settings with their variables, flags
// and defaults, for help text.
func SettingsTable() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SETTING\tENVIRONMENT VARIABLE\tFLAG\tDEFAULT")
	for _, k := range Keys() {
		def := k.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  %s\t%s\t--%s\t%s\n", k.Name, k.Env, k.Flag, def)
	}
	tw.Flush()
	return b.String()
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
func annotateOrigins(cfg *yaml.Node, repo *Repo) {
	for _, k := range Keys() {
		n := lookupNode(cfg, append([]string{"spec"}, strings.Split(k.Name, ".")...))
		if n == nil {
			continue
		}
		n.LineComment = "# " + repo.Origin(k.Name)
	}
}

// lookupNode finds the node at path in a tree of mappings; nil when there
// is none.
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
