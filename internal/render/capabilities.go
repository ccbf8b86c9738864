package render

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	kinddefaults "sigs.k8s.io/kind/pkg/apis/config/defaults"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/kubeversion"
)

// Capabilities is what chart templates see as .Capabilities: the version of
// the cluster the charts go to and the API versions it serves, as `helm
// install` takes them from the cluster.
type Capabilities struct {
	// KubeVersion is the cluster's version, such as v1.37.2.
	KubeVersion string
	// APIVersions are "group/version" and "group/version/Kind" entries, as
	// Helm lists them.
	APIVersions []string
	// Source says where the version comes from, for logs and messages.
	Source string
}

// Discover reads the capabilities of the cluster behind disc: its version
// and every API version and kind it serves. A group that fails discovery
// (an aggregated API that is down) is left out, as Helm does.
func Discover(ctx context.Context, disc discovery.DiscoveryInterface) (*Capabilities, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := disc.ServerVersion()
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read the cluster's version: %w", err))
	}
	set, err := action.GetVersionSet(disc)
	if err != nil {
		return nil, errs.Cluster(fmt.Errorf("read the cluster's API versions: %w", err))
	}
	return &Capabilities{KubeVersion: v.GitVersion, APIVersions: set, Source: "the cluster"}, nil
}

// OfflineCapabilities are the capabilities of an environment's cluster
// without asking it, for `envctl render`: the version of the cluster envctl
// would create (the embedded control plane's own, or the kind node image's)
// and no API versions beyond the built-in ones. For a cluster envctl does
// not create the version is not known: render.kubeVersion says it, else the
// newest Kubernetes this envctl knows is assumed.
func OfflineCapabilities(env *config.Environment) *Capabilities {
	cl := env.Spec.Cluster
	switch {
	case cl.Provider == config.ProviderKind || cl.Provider == config.ProviderAuto && kindImage(cl.Kind) != "":
		img := kindImage(cl.Kind)
		if img == "" {
			img = kinddefaults.Image
		}
		if v := imageVersion(img); v != "" {
			return &Capabilities{KubeVersion: v, Source: "kind node image " + strings.SplitN(img, "@", 2)[0]}
		}
	case cl.Provider == config.ProviderExisting:
		return &Capabilities{KubeVersion: kubeversion.Embedded(),
			Source: "an assumption (the cluster is not envctl's; set render.kubeVersion to say its version)"}
	}
	return &Capabilities{KubeVersion: kubeversion.Embedded(), Source: "the embedded control plane"}
}

// kindImage is the node image a kind spec asks for: nodeImage, or the image
// of its first control-plane node; "" when it asks for none.
func kindImage(k *config.KindSpec) string {
	if k == nil {
		return ""
	}
	for _, n := range k.Nodes {
		if n.Role == "control-plane" && n.Image != "" {
			return n.Image
		}
	}
	return k.NodeImage
}

var imageTagVersionRE = regexp.MustCompile(`:(v\d+\.\d+\.\d+)(?:[-+@][^/]*)?$`)

// imageVersion reads the Kubernetes version from a node image reference
// such as kindest/node:v1.37.0@sha256:..., or returns "".
func imageVersion(img string) string {
	ref, _, _ := strings.Cut(img, "@")
	if m := imageTagVersionRE.FindStringSubmatch(ref); m != nil {
		return m[1]
	}
	return ""
}

// crdVersions lists the "group/version" and "group/version/Kind" entries of
// the served versions of every CustomResourceDefinition among objs.
func crdVersions(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if !isCRD(o) {
			continue
		}
		out = append(out, crdObjectVersions(o.Object)...)
	}
	return out
}

func isCRD(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition"
}

func crdObjectVersions(obj map[string]any) []string {
	group, _, _ := unstructured.NestedString(obj, "spec", "group")
	kind, _, _ := unstructured.NestedString(obj, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(obj, "spec", "versions")
	var out []string
	for _, v := range versions {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if served, ok := m["served"].(bool); name == "" || ok && !served {
			continue
		}
		gv := group + "/" + name
		out = append(out, gv)
		if kind != "" {
			out = append(out, gv+"/"+kind)
		}
	}
	return out
}

// chartCRDVersions lists the API versions of the CRDs in a chart's crds/
// directories, its subcharts' included.
func chartCRDVersions(c *chart.Chart) []string {
	var out []string
	for _, crd := range c.CRDObjects() {
		objs, err := decodeManifests(crd.File.Data, crd.Filename)
		if err != nil {
			continue // reported when the chart renders
		}
		out = append(out, crdVersions(objs)...)
	}
	return out
}

// usesAPIVersions says whether any template of the chart (or its
// subcharts) reads .Capabilities.APIVersions, so that it may render
// differently once more API versions are known.
func usesAPIVersions(c *chart.Chart) bool {
	for _, t := range c.Templates {
		if strings.Contains(string(t.Data), "APIVersions") {
			return true
		}
	}
	return slices.ContainsFunc(c.Dependencies(), usesAPIVersions)
}

// helmCapabilities turns capabilities into what Helm's install takes.
func helmCapabilities(c *Capabilities, extra []string) (*chartutil.KubeVersion, chartutil.VersionSet, error) {
	kv, err := chartutil.ParseKubeVersion(c.KubeVersion)
	if err != nil {
		return nil, nil, errs.Inputf("Kubernetes version %q of %s: %v", c.KubeVersion, c.Source, err)
	}
	set := make(chartutil.VersionSet, 0, len(c.APIVersions)+len(extra))
	set = append(set, c.APIVersions...)
	for _, v := range extra {
		if !slices.Contains(set, v) {
			set = append(set, v)
		}
	}
	return kv, set, nil
}
