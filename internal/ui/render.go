package ui

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/render"
)

// GraphNode is one component of `envctl render --graph -o json`.
type GraphNode struct {
	Name      string      `json:"name"`
	DependsOn []GraphEdge `json:"dependsOn"`
}

// GraphEdge is what a component waits for, and why.
type GraphEdge struct {
	On       string   `json:"on"`
	Declared bool     `json:"declared"`
	Reasons  []string `json:"reasons,omitempty"`
}

// WriteGraph prints the components of res in apply order with their edges:
// as text, each component and below it what it waits for and why; as JSON,
// a list of nodes.
func WriteGraph(w io.Writer, format string, res *render.Result) error {
	nodes := make([]GraphNode, 0, len(res.Components))
	for _, c := range res.Components {
		n := GraphNode{Name: c.Name, DependsOn: []GraphEdge{}}
		for _, e := range c.Edges {
			n.DependsOn = append(n.DependsOn, GraphEdge{On: e.On, Declared: e.Declared, Reasons: e.Reasons})
		}
		nodes = append(nodes, n)
	}
	if format == "json" {
		return WriteJSON(w, nodes)
	}
	for i, n := range nodes {
		fmt.Fprintf(w, "%d. %s\n", i+1, n.Name)
		for _, e := range n.DependsOn {
			switch {
			case e.Declared && len(e.Reasons) > 0:
				fmt.Fprintf(w, "     after %s: dependsOn, and %s\n", e.On, strings.Join(e.Reasons, "; "))
			case e.Declared:
				fmt.Fprintf(w, "     after %s: dependsOn\n", e.On)
			default:
				fmt.Fprintf(w, "     after %s: %s\n", e.On, strings.Join(e.Reasons, "; "))
			}
		}
	}
	return nil
}

// WriteObjects prints the objects of res as a JSON List or as YAML
// documents, the format `envctl render` writes.
func WriteObjects(w io.Writer, format string, res *render.Result) error {
	if format == "json" {
		return render.WriteJSON(w, res)
	}
	return render.WriteYAML(w, res)
}

// LogRendered logs, at info level (-v), what a render produced and how
// long it took.
func LogRendered(log *slog.Logger, res *render.Result, took time.Duration) {
	objects, hooks := 0, 0
	for _, c := range res.Components {
		objects += len(c.Objects)
		hooks += len(c.Hooks)
	}
	log.Info("rendered environment", "components", len(res.Components), "objects", objects, "hooks", hooks,
		"revision", res.Revision, "duration", took.Round(time.Millisecond))
}
