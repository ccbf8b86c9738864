package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Result is the rendered state of one environment.
type Result struct {
	Environment string
	// Revision is the source revision the render was taken from.
	Revision string
	// Components are in a deterministic (topological, then name) order.
	Components []*Component
	// Capabilities are what the charts were rendered for.
	Capabilities *Capabilities
	// sensitive are the values Redact takes out.
	sensitive []string
}

// SOPSFiles are the SOPS-encrypted files the render decrypted, in
// component order: what anything that renders the environment later (a
// daemon) needs keys for.
func (r *Result) SOPSFiles() []string {
	var files []string
	for _, c := range r.Components {
		files = append(files, c.SOPSFiles...)
	}
	return files
}

// Component is the rendered state of one component.
type Component struct {
	Name      string
	DependsOn []string
	// Namespace is where namespaced objects without a namespace belong: a
	// Helm release's namespace, empty for kustomize output. Render fills it
	// in where it knows the kind is namespaced; the apply engine, which can
	// ask the cluster, does the same for kinds render cannot know.
	Namespace string
	// Objects are the component's objects in a deterministic order, with
	// ownership labels added. Helm hooks are not among them.
	Objects []*unstructured.Unstructured
	// Hooks are Helm chart hooks, run as ordered phases around Objects.
	Hooks []*Hook
	// Tests are the chart's test hooks, which only `envctl test` runs.
	Tests []*Hook
	// Decrypted lists the Secrets holding values decrypted from the
	// component's SOPS files, which output for reading masks (Masked).
	Decrypted []ObjectID
	// SOPSFiles are the repository paths of the SOPS-encrypted files the
	// component decrypted.
	SOPSFiles []string
	// Edges say why the component comes after each component in
	// DependsOn: declared in the environment, or inferred from what its
	// objects need.
	Edges []Edge
}

// Edge is one dependency of a component.
type Edge struct {
	// On is the component depended on.
	On string
	// Declared is set when the environment's dependsOn lists it.
	Declared bool
	// Reasons name the objects that make the dependency, when inferred:
	// "Widget demo/w1 is a kind (demo.example.com/Widget) whose CRD
	// widgets.demo.example.com is in crds".
	Reasons []string
}

// HookPhase is when a Helm hook runs.
type HookPhase string

// Helm hook phases envctl runs.
const (
	PreInstall  HookPhase = "pre-install"
	PostInstall HookPhase = "post-install"
	PreUpgrade  HookPhase = "pre-upgrade"
	PostUpgrade HookPhase = "post-upgrade"
	PreDelete   HookPhase = "pre-delete"
	PostDelete  HookPhase = "post-delete"
	// Test is a chart test, run by `envctl test`, never by up.
	Test HookPhase = "test"
)

// Hook delete policies, as Helm defines them.
const (
	HookBeforeCreation = "before-hook-creation"
	HookSucceeded      = "hook-succeeded"
	HookFailed         = "hook-failed"
)

// Hook is one Helm hook object.
type Hook struct {
	Object         *unstructured.Unstructured
	Phases         []HookPhase
	Weight         int
	DeletePolicies []string
}
