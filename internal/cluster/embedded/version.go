package embedded

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/version"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

// kubernetesModule is the module whose release the control plane is built from.
const kubernetesModule = "k8s.io/kubernetes"

// kubernetesRelease is the k8s.io/kubernetes version in go.mod, for binaries
// built without module information (test binaries have none). A test checks
// it against go.mod, so a dependency bump cannot leave it behind.
const kubernetesRelease = "v1.37.2"

// KubernetesVersion is the Kubernetes release the embedded control plane is
// built from and reports on /version, for example "v1.37.2".
func KubernetesVersion() string {
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

// serverVersion is what /version reports. The Kubernetes release process
// stamps the version into k8s.io/component-base/version with -ldflags -X; a
// plain `go build` or `go test` of envctl leaves "v0.0.0-master+$Format:%H$",
// which Helm's kubeVersion checks, kubectl's skew warning and every client
// parsing GitVersion would reject or misjudge. Unless the build did stamp it,
// the release of the compiled-in module is reported instead.
func serverVersion(info *version.Info) version.Info {
	out := *info
	if !strings.HasPrefix(out.GitVersion, "v0.0.0") {
		return out
	}
	out.GitVersion = KubernetesVersion()
	if major, minor, ok := majorMinor(out.GitVersion); ok {
		out.Major, out.Minor = major, minor
	}
	out.GitTreeState = "clean"
	out.GitCommit = ""
	return out
}

// majorMinor splits "v1.37.2" into "1" and "37".
func majorMinor(v string) (major, minor string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// withVersion wraps the API server's handler chain so that GET /version
// answers with info. It wraps the innermost handler, so authentication and
// authorization of /version stay as they are.
func withVersion(build func(http.Handler, *genericapiserver.Config) http.Handler, info version.Info) (func(http.Handler, *genericapiserver.Config) http.Handler, error) {
	body, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode version: %w", err)
	}
	return func(api http.Handler, c *genericapiserver.Config) http.Handler {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.URL.Path == "/version" || r.URL.Path == "/version/") && r.Method == http.MethodGet {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return
			}
			api.ServeHTTP(w, r)
		})
		return build(inner, c)
	}, nil
}
