package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Ownership labels added to every rendered object. Prune only ever touches
// objects that carry all three with this environment's values.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelEnvironment = "envctl.dev/environment"
	LabelComponent   = "envctl.dev/component"
	ManagedByValue   = "envctl"
)

// Result is the rendered state of one environment.
type Result struct {
	Environment string
	// Revision is the source revision the render was taken from.
	Revision string
	// Components are in a deterministic (topological, then name) order.
	Components []*Component
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
