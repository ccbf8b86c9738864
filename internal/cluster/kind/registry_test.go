package kind

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pelletier/go-toml/v2"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/cluster/kind/kindtest"
	"github.com/envctl/envctl/internal/config"
)

// loopbackRegistry serves an OCI distribution registry on 127.0.0.1 and
// returns the Registry envctl would publish on its port.
func loopbackRegistry(t *testing.T) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return &Registry{Name: DefaultRegistryName, Port: int32(port), Image: DefaultRegistryImage}
}

// The registry's own behaviour, against a registry on loopback: it answers
// the readiness check, an image pushed to the host the ConfigMap
// advertises is pulled back by the name containerd's hosts.toml resolves
// it to, with the same digest.
func TestLocalRegistryPushPullAndConfigMap(t *testing.T) {
	r := loopbackRegistry(t)
	ctx := context.Background()
	if err := WaitRegistry(ctx, "http://"+r.Host(), 5*time.Second); err != nil {
		t.Fatalf("WaitRegistry: %v", err)
	}

	// What Tilt and Skaffold read: the ConfigMap's host.
	var hosting struct {
		Host                     string `json:"host"`
		HostFromContainerRuntime string `json:"hostFromContainerRuntime"`
		HostFromClusterNetwork   string `json:"hostFromClusterNetwork"`
		Help                     string `json:"help"`
	}
	if err := yaml.UnmarshalStrict([]byte(r.LocalRegistryHosting()), &hosting); err != nil {
		t.Fatalf("localRegistryHosting.v1 is not the KEP-1755 document: %v\n%s", err, r.LocalRegistryHosting())
	}
	if hosting.Host != r.Host() || hosting.HostFromContainerRuntime != "envctl-registry:5000" || hosting.HostFromClusterNetwork != "envctl-registry:5000" || hosting.Help == "" {
		t.Errorf("hosting = %+v", hosting)
	}

	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := name.ParseReference(hosting.Host+"/model:dev", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(pushed, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push to %s: %v", pushed, err)
	}

	// containerd reads hosts.toml for the registry host of the image a pod
	// names, and pulls from the host it lists instead.
	var hosts struct {
		Host map[string]map[string]any `toml:"host"`
	}
	if err := toml.Unmarshal([]byte(r.HostsTOML()), &hosts); err != nil {
		t.Fatalf("hosts.toml does not parse: %v\n%s", err, r.HostsTOML())
	}
	if _, ok := hosts.Host["http://envctl-registry:5000"]; len(hosts.Host) != 1 || !ok {
		t.Fatalf("hosts.toml sends pulls to %v, want only http://envctl-registry:5000", hosts.Host)
	}
	// The registry's container is reached by name on kind's network; here
	// the loopback server stands for it.
	pulled, err := name.ParseReference(strings.Replace(pushed.String(), r.Host(), "127.0.0.1:"+strconv.Itoa(int(r.Port)), 1), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(pulled, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("pull %s: %v", pulled, err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled digest %s, pushed %s", d, want)
	}
	if err := WaitRegistry(ctx, "http://127.0.0.1:1", 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("WaitRegistry of nothing = %v", err)
	}
}

// Ensure wires the registry, a mirror and the host's logins into a
// running cluster, and a second Ensure starts no second registry.
func TestEnsureWiresRegistryMirrorsAndLogins(t *testing.T) {
	w := newWorld(t, mlNodes("running"))
	w.record("docker")
	reg := loopbackRegistry(t)
	dockerConfig := os.Getenv("DOCKER_CONFIG")
	auth := base64.StdEncoding.EncodeToString([]byte("me:s3cret"))
	if err := os.MkdirAll(dockerConfig, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), []byte(`{"auths": {"ghcr.io": {"auth": "`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	progress := &notes{}
	spec := twoNodeSpec(progress)
	spec.Cluster.Kind.Registry = &config.KindRegistry{Enabled: true, Port: reg.Port}
	spec.Cluster.Kind.Mirrors = []config.RegistryMirror{{Registry: "docker.io", Endpoints: []string{"http://host.docker.internal:5002"}}}
	spec.Cluster.Kind.HostCredentials = true
	info, err := w.provider().Ensure(context.Background(), spec)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	host := reg.Host()
	if info.Registry != host {
		t.Errorf("info.Registry = %q, want %s", info.Registry, host)
	}
	wantRun := "docker run -d --restart=always -p 127.0.0.1:" + strconv.Itoa(int(reg.Port)) + ":5000 --label dev.envctl.registry=true --name envctl-registry registry:2"
	if runs := w.rt.Called("docker run"); len(runs) != 1 || runs[0] != wantRun {
		t.Errorf("run calls = %q, want %q", runs, wantRun)
	}
	if c := w.rt.Called("docker network connect"); len(c) != 1 || c[0] != "docker network connect kind envctl-registry" {
		t.Errorf("network connect calls = %v", c)
	}
	st := w.rt.State()
	for _, n := range []string{"ml-control-plane", "ml-worker"} {
		files := st.Containers[n].Files
		if got := files["/etc/containerd/certs.d/"+host+"/hosts.toml"]; got != "[host.\"http://envctl-registry:5000\"]\n" {
			t.Errorf("%s: registry hosts.toml = %q", n, got)
		}
		if got := files["/etc/containerd/certs.d/docker.io/hosts.toml"]; !strings.Contains(got, `server = "https://registry-1.docker.io"`) || !strings.Contains(got, `[host."http://host.docker.internal:5002"]`) {
			t.Errorf("%s: mirror hosts.toml = %q", n, got)
		}
		if got := files["/var/lib/kubelet/config.json"]; !strings.Contains(got, `"ghcr.io"`) || !strings.Contains(got, auth) {
			t.Errorf("%s: kubelet config.json = %q", n, got)
		}
	}
	cm := w.api.ConfigMap("kube-public", "local-registry-hosting")
	if cm == nil || cm.Data["localRegistryHosting.v1"] != reg.LocalRegistryHosting() {
		t.Errorf("local-registry-hosting = %+v", cm)
	}
	if !strings.Contains(progress.Notes(), "copying the host's registry logins for ghcr.io into the nodes") || !strings.Contains(progress.String(), "✓ Local registry envctl-registry at "+host) {
		t.Errorf("progress:\n%s\nnotes:\n%s", progress, progress.Notes())
	}
	// The registry container now runs; a second Ensure starts none.
	w.rt.Set(func(s *kindtest.State) { s.Containers["envctl-registry"].Status = "running" })
	if _, err := w.provider().Ensure(context.Background(), spec); err != nil {
		t.Fatalf("second Ensure: %v\ncalls:\n%s", err, strings.Join(w.rt.Calls(), "\n"))
	}
	if runs := w.rt.Called("docker run"); len(runs) != 1 {
		t.Errorf("second Ensure ran another container: %v", runs)
	}
}
