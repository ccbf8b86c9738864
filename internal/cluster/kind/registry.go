package kind

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envctl/envctl/internal/cluster"
	"github.com/envctl/envctl/internal/config"
)

// Defaults of a cluster's local registry, those of kind's own guide.
const (
	DefaultRegistryName  = "envctl-registry"
	DefaultRegistryPort  = 5001
	DefaultRegistryImage = "registry:2"
	// registryLabel marks the registry containers envctl started.
	registryLabel = "dev.envctl.registry"
	// kindNetwork is the network kind puts its nodes on.
	kindNetwork = "kind"
)

// Registry is a local registry as the host and the nodes reach it.
type Registry struct {
	// Name is the registry's container, which the nodes reach by name.
	Name string
	// Port is the port it is published on, on the host's loopback.
	Port  int32
	Image string
}

// RegistryOf returns the registry spec asks for, defaults filled in; nil
// when it asks for none.
func RegistryOf(spec *config.KindSpec) *Registry {
	if spec == nil || spec.Registry == nil || !spec.Registry.Enabled {
		return nil
	}
	r := spec.Registry
	return &Registry{
		Name:  cmp.Or(r.Name, DefaultRegistryName),
		Port:  cmp.Or(r.Port, DefaultRegistryPort),
		Image: cmp.Or(r.Image, DefaultRegistryImage),
	}
}

// Host is where the host pushes to: localhost:PORT.
func (r *Registry) Host() string { return fmt.Sprintf("localhost:%d", r.Port) }

// InCluster is where the nodes and pods reach the registry: NAME:5000 on
// kind's network.
func (r *Registry) InCluster() string { return r.Name + ":5000" }

// HostsTOML is the containerd hosts.toml that sends the nodes' pulls of
// Host() to the registry's container, so that an image pushed as
// localhost:PORT/model:dev runs as that same name in a pod.
func (r *Registry) HostsTOML() string {
	return fmt.Sprintf("[host.%q]\n", "http://"+r.InCluster())
}

// LocalRegistryHosting is the data of the ConfigMap KEP-1755 defines
// (kube-public/local-registry-hosting), which Tilt, Skaffold and other
// tools read to find where to push.
func (r *Registry) LocalRegistryHosting() string {
	return fmt.Sprintf("host: %q\nhostFromContainerRuntime: %q\nhostFromClusterNetwork: %q\nhelp: %q\n",
		r.Host(), r.InCluster(), r.InCluster(), "https://kind.sigs.k8s.io/docs/user/local-registry/")
}

// mirrorHostsTOML is the hosts.toml that sends pulls from registry to the
// endpoints first, falling back to the registry itself.
func mirrorHostsTOML(m config.RegistryMirror) string {
	server := "https://" + m.Registry
	if m.Registry == "docker.io" {
		server = "https://registry-1.docker.io"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server = %q\n", server)
	for _, e := range m.Endpoints {
		fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", strings.TrimSuffix(e, "/"))
	}
	return b.String()
}

// hostsFile is the hosts.toml path of registry host inside a node.
func hostsFile(host string) string {
	return containerdHostsDir + "/" + host + "/hosts.toml"
}

// ensureRegistry starts the registry container unless it runs, publishing
// it on the host's loopback only, connects it to kind's network, and waits
// until it answers. The container outlives the cluster, so that pushed
// images survive a new cluster.
func ensureRegistry(ctx context.Context, rt *cluster.Runtime, r *Registry) error {
	out, err := run(ctx, rt, nil, "ps", "-a", "--filter", "name=^"+r.Name+"$", "--format", "{{.State}}")
	if err != nil {
		return err
	}
	switch state := strings.TrimSpace(string(out)); state {
	case "":
		_, err = run(ctx, rt, nil, "run", "-d", "--restart=always",
			"-p", fmt.Sprintf("127.0.0.1:%d:5000", r.Port),
			"--label", registryLabel+"=true",
			"--name", r.Name, r.Image)
	case "running":
	default:
		_, err = run(ctx, rt, nil, "start", r.Name)
	}
	if err != nil {
		return fmt.Errorf("local registry %s: %w", r.Name, err)
	}
	out, err = run(ctx, rt, nil, "inspect", "--format", "{{json .NetworkSettings.Networks}}", r.Name)
	if err != nil {
		return fmt.Errorf("local registry %s: %w", r.Name, err)
	}
	if !strings.Contains(string(out), `"`+kindNetwork+`"`) {
		if _, err := run(ctx, rt, nil, "network", "connect", kindNetwork, r.Name); err != nil {
			return fmt.Errorf("local registry %s: %w", r.Name, err)
		}
	}
	return WaitRegistry(ctx, "http://"+r.Host(), 30*time.Second)
}

// WaitRegistry waits up to wait for the registry at base (http://HOST) to
// answer the distribution API's version check, GET /v2/.
func WaitRegistry(ctx context.Context, base string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			// 401 is a registry that wants a login: it answers.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("local registry at %s does not answer: %w", base, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// advertiseRegistry writes the KEP-1755 ConfigMap into the cluster.
func advertiseRegistry(ctx context.Context, cs kubernetes.Interface, r *Registry) error {
	const ns, name = metav1.NamespacePublic, "local-registry-hosting"
	want := map[string]string{"localRegistryHosting.v1": r.LocalRegistryHosting()}
	cms := cs.CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: want}, metav1.CreateOptions{FieldManager: "envctl"})
	case err == nil && cm.Data["localRegistryHosting.v1"] != want["localRegistryHosting.v1"]:
		cm.Data = want
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "envctl"})
	}
	if err != nil {
		return fmt.Errorf("advertise the local registry in %s/%s: %w", ns, name, err)
	}
	return nil
}

// nodeFiles are the files envctl keeps in every node: the hosts.toml of
// the registry and of each mirror, and the kubelet's registry logins.
func nodeFiles(spec *config.KindSpec, logins []byte) map[string]string {
	files := map[string]string{}
	if r := RegistryOf(spec); r != nil {
		files[hostsFile(r.Host())] = r.HostsTOML()
	}
	if spec != nil {
		for _, m := range spec.Mirrors {
			files[hostsFile(m.Registry)] = mirrorHostsTOML(m)
		}
	}
	if logins != nil {
		files[kubeletConfigJSON] = string(logins)
	}
	return files
}

// writeNodeFiles writes files into every node container.
func writeNodeFiles(ctx context.Context, rt *cluster.Runtime, nodes []string, files map[string]string) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, node := range nodes {
		for _, p := range paths {
			if err := writeNodeFile(ctx, rt, node, p, files[p]); err != nil {
				return fmt.Errorf("write %s into node %s: %w", p, node, err)
			}
		}
	}
	return nil
}
