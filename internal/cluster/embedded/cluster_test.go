package embedded_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/cluster/embedded"
	"github.com/envctl/envctl/internal/cluster/embedded/nodesim"
	"github.com/envctl/envctl/internal/testenv"
)

func TestNodesRegisteredReady(t *testing.T) {
	env := testenv.Get(t)
	c := env.Clientset()
	ctx := context.Background()
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodesim.LabelSimulated + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	want := env.ControlPlane().NodeNames()
	if len(list.Items) != len(want) || len(want) != 2 {
		t.Fatalf("got %d simulated nodes, want the 2 of testenv.DefaultNodes (%v)", len(list.Items), want)
	}
	for _, n := range list.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		if !ready {
			t.Errorf("node %s not Ready: %v", n.Name, n.Status.Conditions)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("node %s: taints %v, want none", n.Name, n.Spec.Taints)
		}
		for res, q := range map[corev1.ResourceName]string{"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "1"} {
			if got := n.Status.Allocatable[res]; got.Cmp(resource.MustParse(q)) != 0 {
				t.Errorf("node %s: allocatable %s = %s, want %s", n.Name, res, got.String(), q)
			}
		}
		if got := n.Status.NodeInfo.KubeletVersion; got != embedded.KubernetesVersion() {
			t.Errorf("node %s: kubelet version %q, want %q", n.Name, got, embedded.KubernetesVersion())
		}
		lease, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("node %s: lease: %v", n.Name, err)
			continue
		}
		if lease.Spec.RenewTime == nil || time.Since(lease.Spec.RenewTime.Time) > time.Minute {
			t.Errorf("node %s: lease renewed at %v, want within the last minute", n.Name, lease.Spec.RenewTime)
		}
	}
}

func TestVersionIsTheKubernetesRelease(t *testing.T) {
	env := testenv.Get(t)
	v, err := env.Clientset().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" || v.Major != "1" || v.Minor != "37" {
		t.Errorf("/version: gitVersion %q major %q minor %q, want v1.37.2, 1, 37", v.GitVersion, v.Major, v.Minor)
	}
}

func TestStateFilesAreOwnerOnly(t *testing.T) {
	env := testenv.Get(t)
	dir := env.ControlPlane().Dir()
	var checked int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group or others", path, perm)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pki/ca.key", "pki/apiserver.key", "pki/sa.key", "admin.kubeconfig", "controller-manager.kubeconfig", "scheduler.kubeconfig"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, info.Mode().Perm())
		}
	}
	if checked < 10 {
		t.Errorf("checked only %d files under %s", checked, dir)
	}
}

// clientWithToken is a client that authenticates with a bearer token only.
func clientWithToken(t *testing.T, admin *rest.Config, token string) kubernetes.Interface {
	t.Helper()
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = token
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRBACIsEnforced(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	admin := env.Clientset()
	ctx := context.Background()

	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reader := clientWithToken(t, env.RESTConfig(), tr.Status.Token)

	if _, err := reader.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("service account without a binding lists secrets: err %v, want Forbidden", err)
	}
	// A Role grants what it says and no more.
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmap-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bound service account lists configmaps", func(ctx context.Context) (bool, string, error) {
		_, err := reader.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
	if _, err := reader.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("read-only service account creates a configmap: err %v, want Forbidden", err)
	}

	// A component's client certificate is authenticated, and authorized
	// only for that component's role.
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(env.ControlPlane().Dir(), "scheduler.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	sched, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sched.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("scheduler certificate lists pods: %v", err)
	}
	if err := sched.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("scheduler certificate deletes a namespace: err %v, want Forbidden", err)
	}

	// Anonymous requests are authenticated as system:anonymous, which may
	// read health and version, and nothing else.
	anon, err := kubernetes.NewForConfig(rest.AnonymousClientConfig(env.RESTConfig()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("anonymous lists namespaces: err %v, want Forbidden", err)
	}
	var code int
	anon.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
	if code != http.StatusOK {
		t.Errorf("anonymous /readyz: status %d, want 200", code)
	}
}

func TestListensOnLoopbackOnly(t *testing.T) {
	env := testenv.Get(t)
	if !strings.HasPrefix(env.ControlPlane().Server(), "https://127.0.0.1:") {
		t.Errorf("server %s, want https://127.0.0.1:PORT", env.ControlPlane().Server())
	}
	listeners, err := listeningSockets()
	if err != nil {
		t.Skipf("cannot read this process's sockets: %v", err)
	}
	if len(listeners) == 0 {
		t.Fatal("found no listening TCP socket, not even the API server's")
	}
	for _, addr := range listeners {
		if !addr.Addr().IsLoopback() {
			t.Errorf("listening on %s, want loopback addresses only", addr)
		}
	}
}

// listeningSockets returns the local addresses of this process's listening
// TCP sockets, from /proc (Linux).
func listeningSockets() ([]netip.AddrPort, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			addr, err := parseProcAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			out = append(out, addr)
		}
	}
	return out, nil
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}
