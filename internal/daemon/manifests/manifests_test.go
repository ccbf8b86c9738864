package manifests

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/render"
)

// Values no object but the Secret may hold.
const (
	password   = "hunter2-token-value"
	passphrase = "correct-horse-battery"
	hookSecret = "webhook-hmac-value"
	sopsKey    = "AGE-SECRET-KEY-1DAEMONTESTKEYVALUE"
	sshKey     = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
	chartsPass = "charts-password-value"
	helmCreds  = "apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n- name: charts\n  hosts: [charts.example.com]\n  username: reader\n  password: " + chartsPass + "\n"
	gitCA      = "-----BEGIN CERTIFICATE-----\nMIIBcorpCA\n-----END CERTIFICATE-----\n"
)

func fullOptions() Options {
	return Options{
		Environment: "staging",
		Version:     "v1.2.3",
		Git:         Git{URL: "https://git.example.com/acme/platform.git", Branch: "main", Path: "deploy", Username: "bot"},
		Credentials: Credentials{
			GitPassword:      []byte(password),
			SSHKey:           []byte(sshKey),
			SSHKeyPassphrase: []byte(passphrase),
			SOPSKeys:         []byte(sopsKey + "\n"),
			KnownHosts:       []byte("git.example.com ssh-ed25519 AAAA\n"),
			WebhookSecret:    []byte(hookSecret),
			HelmCredentials:  []byte(helmCreds),
			GitCA:            []byte(gitCA),
		},
		Resources: []Resource{{Group: "", Resource: "configmaps"}, {Group: "apps", Resource: "deployments"}},
	}
}

// build runs Build and returns its objects by kind.
func build(t *testing.T, o Options) ([]*unstructured.Unstructured, map[string]*unstructured.Unstructured) {
	t.Helper()
	objs, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, obj := range objs {
		if _, dup := byKind[obj.GetKind()]; dup {
			t.Fatalf("two objects of kind %s", obj.GetKind())
		}
		byKind[obj.GetKind()] = obj
	}
	return objs, byKind
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	if u == nil {
		t.Fatalf("no object of type %T", new(T))
	}
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &out, true); err != nil {
		t.Fatalf("%s %s does not convert strictly: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

func TestBuildObjects(t *testing.T) {
	objs, byKind := build(t, fullOptions())
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	want := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "Service", "Deployment", "PodDisruptionBudget"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	for _, o := range objs {
		ns := Namespace
		if o.GetKind() == "Namespace" || strings.HasPrefix(o.GetKind(), "Cluster") {
			ns = ""
		}
		if o.GetNamespace() != ns {
			t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), ns)
		}
		if _, ok := o.Object["status"]; ok {
			t.Errorf("%s carries a status", o.GetKind())
		}
		if _, ok := o.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
			t.Errorf("%s carries a creationTimestamp", o.GetKind())
		}
	}

	d := typed[appsv1.Deployment](t, byKind["Deployment"])
	if d.Name != "envctl-daemon-staging" || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment %s with %d replicas, want envctl-daemon-staging with 2", d.Name, *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != "envctl-daemon-staging" {
		t.Errorf("service account %q", pod.ServiceAccountName)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want a non-root user", sc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/envctl/envctl:v1.2.3" {
		t.Errorf("image %q, want the installing version's", c.Image)
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container security context %+v: want a read-only root, no privilege escalation, no capabilities", sc)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "http" {
			t.Errorf("probe %+v, want GET %s on port http", probe, path)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
		t.Errorf("ports %+v, want http 8080", c.Ports)
	}
	wantArgs := []string{
		"daemon", "staging", "--listen", ":8080", "--log-format", "json", "--cache-dir", "/var/cache/envctl/git",
		"--git", "https://git.example.com/acme/platform.git", "--branch", "main", "--path", "deploy", "--git-username", "bot",
		"--git-password-file", "/etc/envctl/credentials/git-password",
		"--ssh-key", "/etc/envctl/credentials/ssh-key",
		"--known-hosts", "/etc/envctl/credentials/known-hosts",
		"--decryption-key-file", "/etc/envctl/credentials/sops-keys",
		"--ca-file", "/etc/envctl/credentials/git-ca.pem",
		"--helm-credentials-file", "/etc/envctl/credentials/helm-credentials",
	}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if volumes["cache"].EmptyDir == nil || mounts["cache"] != "/var/cache/envctl" {
		t.Errorf("Git cache: volume %+v mounted at %q, want an emptyDir at /var/cache/envctl", volumes["cache"], mounts["cache"])
	}
	if s := volumes["credentials"].Secret; s == nil || s.SecretName != "envctl-daemon-staging-credentials" || mounts["credentials"] != "/etc/envctl/credentials" {
		t.Errorf("credentials: volume %+v mounted at %q", volumes["credentials"], mounts["credentials"])
	}
	envFrom := map[string]string{}
	for _, e := range c.Env {
		if e.Value != "" {
			envFrom[e.Name] = "value"
			continue
		}
		envFrom[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	for name, ref := range map[string]string{
		"ENVCTL_WEBHOOK_SECRET":     "envctl-daemon-staging-credentials/webhook-secret",
		"ENVCTL_SSH_KEY_PASSPHRASE": "envctl-daemon-staging-credentials/ssh-key-passphrase",
	} {
		if envFrom[name] != ref {
			t.Errorf("env %s from %q, want the Secret's %s", name, envFrom[name], ref)
		}
	}

	s := typed[corev1.Secret](t, byKind["Secret"])
	if s.Name != "envctl-daemon-staging-credentials" || string(s.Data["git-password"]) != password || string(s.Data["webhook-secret"]) != hookSecret ||
		string(s.Data["ssh-key"]) != sshKey || string(s.Data["ssh-key-passphrase"]) != passphrase || string(s.Data["sops-keys"]) != sopsKey+"\n" ||
		string(s.Data["helm-credentials"]) != helmCreds || string(s.Data["git-ca.pem"]) != gitCA {
		t.Errorf("Secret %s keys %v: want every credential under its key", s.Name, slices.Sorted(maps.Keys(s.Data)))
	}
	// No object but the Secret carries a secret value.
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			continue
		}
		b, _ := json.Marshal(o.Object)
		for _, v := range []string{password, passphrase, hookSecret, "b3BlbnNzaC1rZXktdjEAAAAA", sopsKey, chartsPass} {
			if strings.Contains(string(b), v) {
				t.Errorf("%s %s holds a secret value", o.GetKind(), o.GetName())
			}
		}
	}

	svc := typed[corev1.Service](t, byKind["Service"])
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || !cmp.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service %+v: want port 8080 selecting the Deployment's pods", svc.Spec)
	}
	pdb := byKind["PodDisruptionBudget"]
	if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); v != int64(1) {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", v)
	}
}

func TestBuildWithoutCredentials(t *testing.T) {
	o := fullOptions()
	o.Credentials = Credentials{}
	o.Git.Username = ""
	_, byKind := build(t, o)
	if byKind["Secret"] != nil {
		t.Error("a Secret without credentials")
	}
	d := typed[appsv1.Deployment](t, byKind["Deployment"])
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	for _, flag := range []string{"--git-password-file", "--ssh-key", "--known-hosts", "--decryption-key-file", "--ca-file", "--helm-credentials-file"} {
		if strings.Contains(args, flag) {
			t.Errorf("args name %s without credentials: %s", flag, args)
		}
	}
	// The credentials stay an optional reference, so that the Deployment
	// is the same with and without them (and the kustomize base can leave
	// the Secret to its user).
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && (v.Secret.Optional == nil || !*v.Secret.Optional) {
			t.Errorf("volume %s: the Secret is not optional", v.Name)
		}
	}
}

func TestBuildRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   []string
	}{
		{"no URL", func(o *Options) { o.Git.URL = "" }, []string{"--git: the daemon needs the URL"}},
		{"two references", func(o *Options) { o.Git.Tag = "v1" }, []string{"--branch and --tag: give one reference"}},
		{"password in URL", func(o *Options) { o.Git.URL = "https://bot:s3cret@git.example.com/x.git" }, []string{"the URL holds a password"}},
		{"long name", func(o *Options) { o.Environment = strings.Repeat("e", 50) }, []string{"too long for the daemon's object names", "at most 63"}},
		{"bad name", func(o *Options) { o.Environment = "Staging" }, []string{`environment "Staging" is not a valid name`}},
		{"negative replicas", func(o *Options) { o.Replicas = -1 }, []string{"--replicas -1"}},
		{"passphrase without key", func(o *Options) { o.Credentials.SSHKey = nil }, []string{"ENVCTL_SSH_KEY_PASSPHRASE is set but no --ssh-key"}},
		{"every problem at once", func(o *Options) { o.Git.URL = ""; o.Replicas = -2 }, []string{"--git:", "--replicas -2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fullOptions()
			tc.change(&o)
			_, err := Build(o)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind %v, want bad input", errs.KindOf(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// fakeMapper knows one kind by a plural convention would not guess.
type fakeMapper struct{}

func (fakeMapper) Mapping(_ context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if gvk.Group == "example.com" && gvk.Kind == "Octopus" {
		return &meta.RESTMapping{Resource: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "octopodes"}}, nil
	}
	return nil, &meta.NoKindMatchError{GroupKind: gvk.GroupKind()}
}

func obj(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestResourcesOf(t *testing.T) {
	res := &render.Result{Components: []*render.Component{
		{Name: "a", Objects: []*unstructured.Unstructured{
			obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: x}}"),
			obj(t, "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: v1, kind: Endpoints, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: a}}"),
			obj(t, "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: mice.example.com}, spec: {group: example.com, names: {kind: Mouse, plural: mice}}}"),
			obj(t, "{apiVersion: example.com/v1, kind: Mouse, metadata: {name: m, namespace: x}}"),
			obj(t, "{apiVersion: example.com/v1, kind: Octopus, metadata: {name: o, namespace: x}}"),
		}},
		{Name: "b", Hooks: []*render.Hook{{Object: obj(t, "{apiVersion: batch/v1, kind: Job, metadata: {name: migrate, namespace: x}}")}}},
	}}
	got, err := ResourcesOf(context.Background(), res, fakeMapper{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Resource{
		{"", "configmaps"}, {"", "endpoints"},
		{"apiextensions.k8s.io", "customresourcedefinitions"},
		{"batch", "jobs"},
		{"example.com", "mice"}, {"example.com", "octopodes"},
		{"networking.k8s.io", "networkpolicies"},
		{"scheduling.k8s.io", "priorityclasses"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}

func TestClusterRoleRules(t *testing.T) {
	o := Options{Environment: "e", Resources: []Resource{{"", "configmaps"}, {"apps", "deployments"}, {"apps", "statefulsets"}}}
	rules := clusterRoleRules(o)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: manageVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: manageVerbs},
		{APIGroups: []string{""}, Resources: []string{"events", "namespaces", "pods"}, Verbs: readVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: readVerbs},
		{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: readVerbs},
		{APIGroups: []string{"apiregistration.k8s.io"}, Resources: []string{"apiservices"}, Verbs: readVerbs},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	// An environment that declares RBAC needs a daemon that may grant
	// and bind what it declares.
	o.Resources = append(o.Resources, Resource{rbacGroup, "rolebindings"}, Resource{rbacGroup, "roles"})
	rules = clusterRoleRules(o)
	if !slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return slices.Equal(r.Verbs, []string{"bind", "escalate"}) && slices.Equal(r.APIGroups, []string{rbacGroup})
	}) {
		t.Errorf("no bind and escalate with roles declared: %+v", rules)
	}
}

// TestSOPSKeyServiceArgs: the operator's key services become the daemon's
// --sops-keyservice arguments, in order, and go nowhere else.
func TestSOPSKeyServiceArgs(t *testing.T) {
	o := Options{Environment: "e", Git: Git{URL: "https://git.example.com/acme/platform.git"}, Resources: []Resource{{"", "configmaps"}},
		SOPSKeyServices: []string{"tcp://sops-keyservice.sops.svc:5000", "unix:///run/sops/keyservice.sock"}}
	_, byKind := build(t, o)
	d := typed[appsv1.Deployment](t, byKind["Deployment"])
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--sops-keyservice tcp://sops-keyservice.sops.svc:5000 --sops-keyservice unix:///run/sops/keyservice.sock") {
		t.Errorf("args %s: want both key services in order", args)
	}
	if _, secret := byKind["Secret"]; secret {
		t.Error("a key service address alone made a credentials Secret")
	}
	o.SOPSKeyServices = nil
	_, byKind = build(t, o)
	if args := strings.Join(typed[appsv1.Deployment](t, byKind["Deployment"]).Spec.Template.Spec.Containers[0].Args, " "); strings.Contains(args, "sops-keyservice") {
		t.Errorf("args %s name a key service none was given", args)
	}
}
