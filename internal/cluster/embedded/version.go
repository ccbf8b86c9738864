package embedded

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/version"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/envctl/envctl/internal/kubeversion"
)

// KubernetesVersion is the Kubernetes release the embedded control plane is
// built from and reports on /version, for example "v1.37.2". It lives in
// kubeversion so that rendering can know it without this package.
func KubernetesVersion() string { return kubeversion.Embedded() }

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
