// Package ownership names what marks an object as envctl's: the labels
// every applied object carries, and the selectors that find an
// environment's objects by them. It is a leaf, so that holding a lock or
// reading an inventory does not link the renderer.
package ownership

import "k8s.io/apimachinery/pkg/labels"

// Ownership labels added to every rendered object. Prune only ever touches
// objects that carry all three with this environment's values. They all
// live under envctl.dev/, so that every label and annotation a manifest or
// chart sets (app.kubernetes.io/managed-by: Helm included) reaches the
// cluster as written.
const (
	LabelManagedBy   = "envctl.dev/managed-by"
	LabelEnvironment = "envctl.dev/environment"
	LabelComponent   = "envctl.dev/component"
	ManagedByValue   = "envctl"
)

// LegacyLabelManagedBy is where envctl releases before envctl.dev/managed-by
// marked their objects. Objects applied by such a release and never applied
// since still carry only it; ManagedByEnvctl accepts it so that prune and
// down still recognise them.
const LegacyLabelManagedBy = "app.kubernetes.io/managed-by"

// ManagedByEnvctl reports whether labels mark an object as envctl's.
func ManagedByEnvctl(labels map[string]string) bool {
	if v, ok := labels[LabelManagedBy]; ok {
		return v == ManagedByValue
	}
	return labels[LegacyLabelManagedBy] == ManagedByValue
}

// AnyEnvironment selects the objects of every environment: an apply reads
// them all, so that it sees an object another environment owns.
const AnyEnvironment = LabelEnvironment

// Environment selects the objects labelled for env.
func Environment(env string) string {
	return labels.SelectorFromSet(labels.Set{LabelEnvironment: env}).String()
}

// Component selects the objects of one component of env.
func Component(env, component string) string {
	return labels.SelectorFromSet(labels.Set{LabelEnvironment: env, LabelComponent: component}).String()
}

// Managed selects the objects envctl manages for env.
func Managed(env string) string {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue, LabelEnvironment: env}).String()
}
