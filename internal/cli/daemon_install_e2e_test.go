package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/daemon"
	"github.com/envctl/envctl/internal/daemon/manifests"
	"github.com/envctl/envctl/internal/sopskeys/sopskeystest"
	"github.com/envctl/envctl/internal/testenv"
	"github.com/envctl/envctl/internal/ui"
)

// Secret values the test hands to daemon install; no output may show them.
const (
	installPassword = "ghp-install-e2e-token-3141"
	installHook     = "hook-install-e2e-secret-2718"
	installCharts   = "charts-install-e2e-pass-1618"
)

// daemonEnvResources is an environment that declares a bit of everything
// the daemon's RBAC must cover: a Namespace, a ConfigMap, a Deployment, a
// CRD and one of its objects, and a Role with its RoleBinding.
func daemonEnvResources() map[string]string {
	return map[string]string{
		"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NS\n",
		"configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: NS\ndata:\n  mode: test\n",
		"extra.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: NS\ndata:\n  mode: test\n",
		"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0
          resources:
            requests: {cpu: 10m, memory: 16Mi}
`,
		"crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.install.e2e.envctl.dev
spec:
  group: install.e2e.envctl.dev
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`,
		"gadget.yaml": "apiVersion: install.e2e.envctl.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: NS\nspec:\n  size: 3\n",
		"rbac.yaml": `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: NS
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: NS
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
  - {kind: ServiceAccount, name: default, namespace: NS}
`,
	}
}

// TestDaemonInstall installs the daemon of an environment on the test
// cluster, checks what it made, installs again to see nothing written,
// and then applies and prunes the environment as the daemon's
// ServiceAccount, which its RBAC must allow.
func TestDaemonInstall(t *testing.T) {
	e := newE2E(t, "daemoninst")
	te := testenv.Get(t)
	ctx := t.Context()
	e.overlay(daemonEnvResources(), "")
	name := manifests.Name(e.env)
	t.Cleanup(func() {
		// The objects outside envctl-system would outlive the test.
		ctx := context.Background()
		rbac := te.Clientset().RbacV1()
		_ = te.Clientset().CoreV1().Namespaces().Delete(ctx, manifests.Namespace(e.env), metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, manifests.NamespacedRole(e.env), metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = te.Dynamic().Resource(crds).Delete(ctx, "gadgets.install.e2e.envctl.dev", metav1.DeleteOptions{})
	})

	t.Setenv(envGitPassword, installPassword)
	t.Setenv(daemon.EnvWebhookSecret, installHook)
	t.Setenv("ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME", "reader")
	t.Setenv("ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD", installCharts)
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := filepath.Join(t.TempDir(), "corp-ca.pem")
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	install := []string{"daemon", "install", e.env, "--git", "https://git.example.invalid/platform.git", "--branch", "main",
		"--git-username", "bot", "--image", "registry.example/envctl:test", "--kubeconfig", e.kubeconfig, "--timeout", "90s",
		"--ca-file", caFile, "--helm-credential", "charts=charts.example.invalid"}
	stdout, stderr := e.mustRun(ExitOK, install...)
	for _, w := range []string{"daemon " + manifests.Namespace(e.env) + "/" + name + " follows https://git.example.invalid/platform.git branch main", "kinds of environment " + e.env} {
		if !strings.Contains(stdout, w) {
			t.Errorf("install does not say %q:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "Rendering environment "+e.env+" for the daemon's RBAC") {
		t.Errorf("install progress does not say it renders the environment:\n%s", stderr)
	}

	cs := te.Clientset()
	d, err := cs.AppsV1().Deployments(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "registry.example/envctl:test" {
		t.Errorf("Deployment %s: %d ready, image %s; want 2 ready replicas of registry.example/envctl:test", name, d.Status.ReadyReplicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	sec, err := cs.CoreV1().Secrets(manifests.Namespace(e.env)).Get(ctx, name+"-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["git-password"]) != installPassword || string(sec.Data["webhook-secret"]) != installHook || !bytes.Equal(sec.Data["git-ca.pem"], ca) {
		t.Errorf("Secret %s does not hold the credentials given", sec.Name)
	}
	// The chart credential goes in with the host it is bound to, and the
	// daemon is pointed at both files.
	helm, err := credential.Parse(sec.Data["helm-credentials"], "helm-credentials")
	if err != nil {
		t.Fatalf("Secret %s key helm-credentials: %v", sec.Name, err)
	}
	if c := helm["charts"]; c == nil || c.Username != "reader" || c.Password != installCharts || !slices.Equal(c.Hosts, []string{"charts.example.invalid"}) {
		t.Errorf("helm-credentials holds %+v, want credential charts bound to charts.example.invalid", helm["charts"])
	}
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	mustContain(t, "the daemon's args", args, "--ca-file /etc/envctl/credentials/git-ca.pem", "--helm-credentials-file /etc/envctl/credentials/helm-credentials")
	for what, get := range map[string]func() error{
		"Service": func() error {
			_, err := cs.CoreV1().Services(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
			return err
		},
		"PodDisruptionBudget": func() error {
			_, err := cs.PolicyV1().PodDisruptionBudgets(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
			return err
		},
		"ServiceAccount": func() error {
			_, err := cs.CoreV1().ServiceAccounts(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
			return err
		},
		"Role": func() error {
			_, err := cs.RbacV1().Roles(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
			return err
		},
		"RoleBinding": func() error {
			_, err := cs.RbacV1().RoleBindings(manifests.Namespace(e.env)).Get(ctx, name, metav1.GetOptions{})
			return err
		},
		"ClusterRole": func() error { _, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); return err },
		"ClusterRoleBinding": func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Errorf("%s %s: %v", what, name, err)
		}
	}

	// Installing again writes nothing, and no output shows a secret,
	// not even with debug logs or as JSON.
	stdout2, stderr2 := e.mustRun(ExitOK, install...)
	if !strings.Contains(stdout2, " 0 writes)") {
		t.Errorf("second install wrote:\n%s", stdout2)
	}
	stdout3, stderr3 := e.mustRun(ExitOK, append([]string{"-vv"}, append(install, "-o", "json")...)...)
	var sum ui.Summary
	if err := json.Unmarshal([]byte(stdout3), &sum); err != nil {
		t.Fatalf("install -o json: %v\n%s", err, stdout3)
	}
	if sum.Requests.Writes != 0 || !sum.Succeeded {
		t.Errorf("third install: %d writes, succeeded %v; want 0 and true", sum.Requests.Writes, sum.Succeeded)
	}
	for _, out := range []string{stdout, stderr, stdout2, stderr2, stdout3, stderr3} {
		for _, secret := range []string{installPassword, installHook, installCharts} {
			if strings.Contains(out, secret) {
				t.Fatalf("install output shows a secret value:\n%s", out)
			}
		}
	}

	// As the daemon: apply the environment, then prune what it no longer
	// declares.
	asDaemon := impersonating(t, e.kubeconfig, "system:serviceaccount:"+manifests.Namespace(e.env)+":"+name)
	applyAs := func() (string, string, int) {
		return e.run("apply", "--kubeconfig", asDaemon, "--timeout", "90s")
	}
	if out, errOut, code := applyAs(); code != ExitOK {
		t.Fatalf("apply as the daemon's ServiceAccount: exit %d\n%s%s", code, out, errOut)
	}
	res := daemonEnvResources()
	delete(res, "extra.yaml")
	e.overlay(res, "")
	if out, errOut, code := applyAs(); code != ExitOK {
		t.Fatalf("apply with a pruned object as the daemon's ServiceAccount: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap extra after the daemon's prune: %v, want it gone", err)
	}

	// Nothing beyond: the environment declares no Secrets, so the daemon
	// may not read those of kube-system.
	cfg := te.RESTConfig()
	cfg.Impersonate.UserName = "system:serviceaccount:" + manifests.Namespace(e.env) + ":" + name
	daemon, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the daemon lists Secrets of kube-system: %v; want forbidden", err)
	}
	// Nor its own credentials through the API: they are mounted.
	if _, err := daemon.CoreV1().Secrets(manifests.Namespace(e.env)).Get(ctx, name+"-credentials", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the daemon reads its credentials Secret through the API: %v; want forbidden", err)
	}
}

// impersonating writes a copy of kubeconfig whose user acts as user, and
// returns its path.
func impersonating(t *testing.T, kubeconfig, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "as-daemon")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDaemonInstallRejectsBadInput needs no cluster: every check comes
// before envctl reaches for one.
func TestDaemonInstallRejectsBadInput(t *testing.T) {
	repo := t.TempDir()
	writeClusterFiles(t, repo, map[string]string{
		"config.yaml": "apiVersion: envctl.dev/v1alpha1\nkind: Config\nspec:\n  defaultEnvironment: dev\n",
		"environments/dev.yaml": `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  cluster: {provider: existing, existing: {kubeconfig: /nonexistent/kubeconfig}}
  components:
    - name: app
      kustomize: overlays/app
`,
		"overlays/app/kustomization.yaml": "resources: []\n",
		"password":                        "from-a-file\n",
		"not-a-key":                       "hello\n",
		"empty.agekey":                    "\n",
	})
	git := []string{"--git", "https://git.example.invalid/x.git"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"no environment", []string{"daemon", "install"}, nil, []string{"accepts 1 arg(s), received 0"}},
		{"unknown environment", append([]string{"daemon", "install", "nope"}, git...), nil, []string{`environment "nope"`}},
		{"no git URL", []string{"daemon", "install", "dev"}, nil, []string{"--git: the daemon needs the URL"}},
		{"password in the URL", []string{"daemon", "install", "dev", "--git", "https://bot:pw-in-url@git.example.invalid/x.git"}, nil, []string{"the URL holds a password"}},
		{"two passwords", append([]string{"daemon", "install", "dev", "--git-username", "bot", "--git-password-file", filepath.Join(repo, "password")}, git...),
			map[string]string{envGitPassword: "from-env"}, []string{"ENVCTL_GIT_PASSWORD and --git-password-file both give the Git password"}},
		{"password without user", append([]string{"daemon", "install", "dev"}, git...), map[string]string{envGitPassword: "from-env"}, []string{"no --git-username"}},
		{"missing key file", append([]string{"daemon", "install", "dev", "--ssh-key", filepath.Join(repo, "missing")}, git...), nil, []string{"--ssh-key: open " + filepath.Join(repo, "missing")}},
		{"not a key", append([]string{"daemon", "install", "dev", "--ssh-key", filepath.Join(repo, "not-a-key")}, git...), nil, []string{"--ssh-key " + filepath.Join(repo, "not-a-key") + " is not a PEM or OpenSSH private key"}},
		{"missing SOPS keys", append([]string{"daemon", "install", "dev", "--sops-key-file", filepath.Join(repo, "missing")}, git...), nil, []string{"--sops-key-file: open " + filepath.Join(repo, "missing")}},
		{"empty SOPS keys", append([]string{"daemon", "install", "dev", "--sops-key-file", filepath.Join(repo, "empty.agekey")}, git...), nil, []string{"--sops-key-file " + filepath.Join(repo, "empty.agekey") + " is empty"}},
		{"bad key service", append([]string{"daemon", "install", "dev", "--daemon-sops-keyservice", "keys.example:5000"}, git...), nil, []string{`for "--daemon-sops-keyservice" flag: key service "keys.example:5000": want tcp://host:port or unix:///path`}},
		{"two refs", append([]string{"daemon", "install", "dev", "--branch", "main", "--commit", "abc"}, git...), nil, []string{"--branch and --commit: give one reference"}},
		{"output", append([]string{"daemon", "install", "dev", "-o", "xml"}, git...), nil, []string{`unknown output format "xml"`}},
		{"no replicas", append([]string{"daemon", "install", "dev", "--replicas", "0"}, git...), nil, []string{"--replicas 0: want 1 or more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{envGitPassword, envSSHKeyPassphrase, daemon.EnvWebhookSecret} {
				t.Setenv(k, tc.env[k])
			}
			var out, errOut strings.Builder
			code := Main(append([]string{"-C", repo}, tc.args...), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != ExitInput {
				t.Errorf("exit %d, want %d\n%s", code, ExitInput, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr does not say %q:\n%s", w, errOut.String())
				}
			}
			for _, secret := range []string{"from-env", "from-a-file", "pw-in-url"} {
				if strings.Contains(out.String()+errOut.String(), secret) {
					t.Errorf("output shows secret %q", secret)
				}
			}
		})
	}
}

// daemon install --help has examples, like every command, and the daemon's
// own help lists install among its commands.
func TestDaemonInstallHelp(t *testing.T) {
	var out strings.Builder
	code := Main([]string{"daemon", "install", "--help"}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	if code != 0 || !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "envctl daemon install staging --git") {
		t.Errorf("daemon install --help (exit %d):\n%s", code, out.String())
	}
	out.Reset()
	code = Main([]string{"daemon", "--help"}, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	if code != 0 || !regexp.MustCompile(`(?m)^Available Commands:\n\s+install\s`).MatchString(out.String()) {
		t.Errorf("daemon --help does not list install (exit %d):\n%s", code, out.String())
	}
}

// TestDaemonInstallSOPS: the platform's staging environment takes a Secret
// from a SOPS file, so its daemon needs keys of its own. Without
// --sops-key-file the install stops before writing anything, naming the
// file; with it, the keys go into the daemon's Secret (and nowhere else)
// and the daemon is told to decrypt with them.
func TestDaemonInstallSOPS(t *testing.T) {
	te := testenv.Get(t)
	kubeconfig := te.Kubeconfig(t)
	name := manifests.Name("staging")
	t.Cleanup(func() {
		ctx := context.Background()
		rbac := te.Clientset().RbacV1()
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
	})
	key, err := os.ReadFile(stagingKey)
	if err != nil {
		t.Fatal(err)
	}
	identity := strings.TrimSpace(string(key[bytes.LastIndex(key, []byte("AGE-SECRET-KEY-")):]))
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	install := []string{"-C", platformRepo, "daemon", "install", "staging", "--git", "https://git.example.invalid/platform.git",
		"--branch", "main", "--kubeconfig", kubeconfig, "--no-wait"}
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut strings.Builder
		code := Main(append(slices.Clone(install), args...), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if code != want {
			t.Fatalf("daemon install staging %v: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), identity) {
			t.Fatalf("daemon install %v shows the age key", args)
		}
		return out.String(), errOut.String()
	}

	const sopsFile = "overlays/staging/model-serving/secrets.sops.env"
	if _, errOut := run(ExitInput); !strings.Contains(errOut, sopsFile) {
		t.Errorf("install without any key does not name %s:\n%s", sopsFile, errOut)
	}
	_, errOut := run(ExitInput, "--decryption-key-file", stagingKey)
	if w := "environment staging decrypts SOPS files (" + sopsFile + "): give the daemon the keys that open them with --sops-key-file"; !strings.Contains(errOut, w) {
		t.Errorf("install with only this machine's key does not say %q:\n%s", w, errOut)
	}
	cs := te.Clientset()
	if _, err := cs.AppsV1().Deployments(manifests.Namespace("staging")).Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused install left Deployment %s: %v", name, err)
	}

	run(ExitOK, "--sops-key-file", stagingKey)
	sec, err := cs.CoreV1().Secrets(manifests.Namespace("staging")).Get(t.Context(), name+"-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sec.Data["sops-keys"], key) {
		t.Errorf("Secret %s sops-keys does not hold the key file given", sec.Name)
	}
	d, err := cs.AppsV1().Deployments(manifests.Namespace("staging")).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--decryption-key-file /etc/envctl/credentials/sops-keys") {
		t.Errorf("the daemon is not told to decrypt with the Secret's keys: %s", args)
	}

	// A sops key service instead of keys: the install's render asks the
	// operator's (--sops-keyservice), and the daemon gets its own address.
	srv := &sopskeystest.Server{}
	if err := srv.Identities.Import(identity); err != nil {
		t.Fatal(err)
	}
	addr := sopskeystest.Serve(t, srv, "tcp")
	run(ExitOK, "--sops-keyservice", addr, "--daemon-sops-keyservice", "tcp://sops-keyservice.sops.svc:5000")
	if len(srv.Requests()) == 0 {
		t.Error("the install's render did not ask the key service")
	}
	d, err = cs.AppsV1().Deployments(manifests.Namespace("staging")).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--sops-keyservice tcp://sops-keyservice.sops.svc:5000") || strings.Contains(args, addr) || strings.Contains(args, "--decryption-key-file") {
		t.Errorf("the daemon's args %s: want its own key service, not the installer's, and no key file", args)
	}
}
