// Package kubeversion knows which Kubernetes release envctl's embedded
// control plane is built from, without importing the control plane: render
// needs the version to render charts for an embedded cluster offline, and
// must stay light.
package kubeversion

import "runtime/debug"

// kubernetesModule is the module whose release the control plane is built from.
const kubernetesModule = "k8s.io/kubernetes"

// kubernetesRelease is the k8s.io/kubernetes version in go.mod, for binaries
// built without module information (test binaries have none). A test checks
// it against go.mod, so a dependency bump cannot leave it behind.
const kubernetesRelease = "v1.37.2"

// Embedded is the Kubernetes release the embedded control plane is built
// from and reports on /version, for example "v1.37.2".
func Embedded() string {
	if v := moduleVersion(kubernetesModule); v != "" {
		return v
	}
	return kubernetesRelease
}

// moduleVersion returns the version of module in the running binary's build
// information, or "" when the binary has none.
func moduleVersion(module string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range info.Deps {
		if dep.Path != module {
			continue
		}
		if dep.Replace != nil && dep.Replace.Version != "" {
			return dep.Replace.Version
		}
		return dep.Version
	}
	return ""
}
