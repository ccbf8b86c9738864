package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/inventory"
)

// The SOPS fixtures: internal/cli's Secret "token", encrypted for the render
// package's test age key (internal/render/sops_fixtures_gen_test.go makes
// both), and the value it holds.
var (
	sopsSecretFile = filepath.Join("..", "..", "cli", "testdata", "sops", "token.sops.yaml")
	sopsKeyFile    = filepath.Join("..", "..", "render", "testdata", "sops", "test.agekey")
)

const sopsToken = "sopscanary5f3a9c2e71d04b86"

// sopsApp makes the environment's app component the encrypted Secret,
// decrypted with SOPS, and returns r whose processes find no age key but
// the ones their flags name.
func (r *repo) sopsApp() *repo {
	r.t.Helper()
	enc, err := os.ReadFile(sopsSecretFile)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write("overlays/app/token.sops.yaml", string(enc))
	r.write("overlays/app/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: "+r.ns+"\nresources:\n  - token.sops.yaml\n")
	r.write("environments/"+r.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: `+r.env+`}
spec:
  cluster:
    provider: existing
    existing: {kubeconfig: `+r.kubeconfig+`}
  components:
    - name: app
      kustomize: overlays/app
      decryption: {provider: sops}
`)
	return r.with("SOPS_AGE_KEY=", "SOPS_AGE_KEY_FILE=")
}

// token reads the decrypted value of the Secret in the cluster.
func (r *repo) token() (string, error) {
	s, err := r.te.Clientset().CoreV1().Secrets(r.ns).Get(context.Background(), "token", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return string(s.Data["token"]), nil
}

// TestSyncDecryptsSOPSWithTheKeyFileFlag: without a key the sync reports
// that it cannot decrypt and applies nothing; with --decryption-key-file
// it decrypts the environment's SOPS file and applies the Secret.
func TestSyncDecryptsSOPSWithTheKeyFileFlag(t *testing.T) {
	r := newRepo(t)
	rs := r.sopsApp()
	key, err := filepath.Abs(sopsKeyFile)
	if err != nil {
		t.Fatal(err)
	}

	p := rs.start("sync", r.env)
	eventually(t, time.Minute, "the sync to report that it cannot decrypt", func() error {
		if p.exited() {
			t.Fatalf("sync exited with %d:\n%s", p.code, p.err)
		}
		if st := r.status(); st == nil || !strings.Contains(st.LastError, "token.sops.yaml") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if _, err := r.token(); !apierrors.IsNotFound(err) {
		t.Errorf("without a key the Secret is there: %v", err)
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}

	since := time.Now()
	p = rs.start("sync", r.env, "--decryption-key-file", key)
	r.reconciled(p, since)
	if v, err := r.token(); err != nil || v != sopsToken {
		t.Errorf("the Secret holds %q (%v), want the decrypted value", v, err)
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}
}

// TestDaemonDecryptsSOPSWithTheKeysDaemonInstallGaveIt installs the daemon
// of an environment with a SOPS file (`daemon install --sops-key-file`),
// then runs, as the pod would, the daemon the installed Deployment
// describes: its arguments, its environment, the credentials Secret laid
// out as its volume mounts it, the Git repository it follows (served on
// loopback) and the daemon's ServiceAccount. It decrypts with the Secret's
// keys and applies the Secret.
func TestDaemonDecryptsSOPSWithTheKeysDaemonInstallGaveIt(t *testing.T) {
	g := newGitRepo(t)
	gs := g.sopsApp()
	revision := "main@sha1:" + g.git.Commit("an encrypted Secret")
	key, err := filepath.Abs(sopsKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs := g.te.Clientset()
	name := manifests.Name(g.env)
	t.Cleanup(func() { removeDaemon(t, g.repo, g.env) })

	code, stdout, stderr := gs.run("daemon", "install", g.env, "--sops-key-file", key, "--git", g.url, "--branch", "main",
		"--kubeconfig", g.kubeconfig, "--image", "registry.example/envctl:e2e", "--no-wait")
	if code != 0 {
		t.Fatalf("daemon install: exit %d\n%s%s", code, stdout, stderr)
	}
	dep, err := cs.AppsV1().Deployments(manifests.Namespace(g.env)).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	i := slices.Index(c.Args, "--decryption-key-file")
	if i < 0 || i+1 == len(c.Args) {
		t.Fatalf("the daemon is not told where its SOPS keys are: %v", c.Args)
	}
	keyPath := c.Args[i+1]

	// The pod's filesystem: each Secret volume's keys as files under its
	// mount, each emptyDir an empty directory.
	root := t.TempDir()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, m.MountPath)
		v := volumes[m.Name]
		if v.Secret == nil {
			continue
		}
		sec, err := cs.CoreV1().Secrets(manifests.Namespace(g.env)).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("volume %s: %v", m.Name, err)
		}
		for k, data := range sec.Data {
			if err := os.WriteFile(filepath.Join(dir, k), data, 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !strings.HasPrefix(keyPath, "/") || !slices.ContainsFunc(mounts, func(m string) bool { return strings.HasPrefix(keyPath, m+"/") }) {
		t.Fatalf("--decryption-key-file %s is on no volume of the pod (mounts %v)", keyPath, mounts)
	}
	if _, err := os.Stat(filepath.Join(root, keyPath)); err != nil {
		t.Fatalf("the credentials Secret holds no %s: %v", filepath.Base(keyPath), err)
	}
	inPod := func(p string) string {
		for _, m := range mounts {
			if p == m || strings.HasPrefix(p, m+"/") {
				return filepath.Join(root, p)
			}
		}
		return p
	}

	// The Deployment's arguments, with paths in the pod's filesystem and
	// the listeners on free loopback ports; the cluster through a
	// kubeconfig that acts as the daemon's ServiceAccount.
	args := slices.Clone(c.Args)
	listeners := map[string]bool{"--metrics-addr": true, "--health-addr": true, "--webhook-addr": true}
	for i, a := range args {
		switch {
		case i > 0 && listeners[args[i-1]]:
			args[i] = freeAddr(t)
		default:
			args[i] = inPod(a)
		}
	}
	args = append(args, "--kubeconfig", impersonating(t, g.kubeconfig, "system:serviceaccount:"+manifests.Namespace(g.env)+":"+name))
	var vars []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars = append(vars, e.Name+"="+inPod(e.Value))
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			sec, err := cs.CoreV1().Secrets(manifests.Namespace(g.env)).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil && sec.Data[ref.Key] != nil {
				vars = append(vars, e.Name+"="+string(sec.Data[ref.Key]))
			}
		}
	}
	d := gs.with(vars...).startRaw(args, c.Args)
	eventually(t, 2*time.Minute, "the daemon to apply the decrypted Secret", func() error {
		if d.exited() {
			t.Fatalf("the daemon exited with %d:\n%s", d.code, d.err)
		}
		if v, err := g.token(); err != nil || v != sopsToken {
			return fmt.Errorf("Secret token holds %q (%v)", v, err)
		}
		if st := g.status(); st == nil || st.LastAppliedRevision != revision || st.LastError != "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if code, _ := d.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM", code)
	}
}

// impersonating writes a copy of kubeconfig whose user acts as user, and
// returns its path.
func impersonating(t testing.TB, kubeconfig, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig-as-"+user[strings.LastIndexByte(user, ':')+1:])
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// removeDaemon deletes what `daemon install` made for the daemon of env,
// which lives outside the test's namespace: its namespace (with the
// daemon, its credentials and the environment's state), its RBAC in
// envctl-system and cluster-wide, and its installation's inventory.
func removeDaemon(t testing.TB, r *repo, env string) {
	ctx := context.Background()
	cs := r.te.Clientset()
	name, sys := manifests.Name(env), inventory.Namespace
	del := metav1.DeleteOptions{}
	for what, err := range map[string]error{
		"namespace":              cs.CoreV1().Namespaces().Delete(ctx, manifests.Namespace(env), del),
		"Role":                   cs.RbacV1().Roles(sys).Delete(ctx, name, del),
		"RoleBinding":            cs.RbacV1().RoleBindings(sys).Delete(ctx, name, del),
		"ClusterRole":            cs.RbacV1().ClusterRoles().Delete(ctx, name, del),
		"namespaced ClusterRole": cs.RbacV1().ClusterRoles().Delete(ctx, manifests.NamespacedRole(env), del),
		"ClusterRoleBinding":     cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, del),
		"inventory":              cs.CoreV1().ConfigMaps(sys).Delete(ctx, inventory.ConfigMapName(name, 0), del),
	} {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("remove the daemon's %s: %v", what, err)
		}
	}
}
