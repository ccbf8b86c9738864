package manifests

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/engine"
	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/loop"
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
		Resources:  []Resource{{Group: "", Resource: "configmaps", Namespaced: true}, {Group: "apps", Resource: "deployments", Namespaced: true}},
		Namespaces: []string{"apps"},
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
		// The daemon's own RBAC objects come first of their kinds.
		if _, dup := byKind[obj.GetKind()]; !dup {
			byKind[obj.GetKind()] = obj
		}
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
	want := []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ClusterRole", "Role", "RoleBinding", "Role", "RoleBinding",
		"RoleBinding", "Secret", "Service", "Deployment", "PodDisruptionBudget"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	for i, o := range objs {
		ns := Namespace("staging")
		switch {
		case o.GetKind() == "Namespace" || strings.HasPrefix(o.GetKind(), "Cluster"):
			ns = ""
		case i == 7 || i == 8:
			ns = "envctl-system" // the fingerprint key's Role and its binding
		case i == 9:
			ns = "apps" // the binding of the namespaced ClusterRole
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
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "healthz" {
			t.Errorf("probe %+v, want GET %s on port healthz", probe, path)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := map[string]int32{"http-prom": 8080, "healthz": 9440, "http-webhook": 9292}; !cmp.Equal(ports, want) {
		t.Errorf("container ports %v, want %v", ports, want)
	}
	wantArgs := []string{
		"daemon", "staging", "--metrics-addr", ":8080", "--health-addr", ":9440", "--webhook-addr", ":9292", "--log-format", "json", "--cache-dir", "/var/cache/envctl/git",
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
	// The Service exposes the webhook alone: not the metrics, not the probes.
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9292 || svc.Spec.Ports[0].TargetPort.String() != "http-webhook" ||
		!cmp.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service %+v: want port 9292 to the pods' http-webhook alone, selecting the Deployment's pods", svc.Spec)
	}
	pdb := byKind["PodDisruptionBudget"]
	if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); v != int64(1) {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", v)
	}
}

// A PodDisruptionBudget of minAvailable 1 over a single replica would
// block every drain of its node: it comes with two replicas or more.
func TestPodDisruptionBudgetOnlyWithTwoReplicasOrMore(t *testing.T) {
	for replicas, want := range map[int32]bool{1: false, 2: true, 3: true} {
		o := fullOptions()
		o.Replicas = replicas
		_, byKind := build(t, o)
		if got := byKind["PodDisruptionBudget"] != nil; got != want {
			t.Errorf("%d replicas: PodDisruptionBudget rendered %v, want %v", replicas, got, want)
		}
	}
}

// The kubelet kills the daemon terminationGracePeriodSeconds after
// SIGTERM: that must be longer than the daemon's shutdown budget, so that
// an inventory save in flight is never cut off.
func TestGracePeriodOutlastsTheShutdown(t *testing.T) {
	_, byKind := build(t, fullOptions())
	d := typed[appsv1.Deployment](t, byKind["Deployment"])
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	if got := time.Duration(*grace) * time.Second; got < loop.ShutdownBudget+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %d: want at least the shutdown budget %s and a margin of 5s", *grace, loop.ShutdownBudget)
	}
	if loop.ShutdownBudget < engine.SaveTimeout+2*loop.ShutdownGrace {
		t.Errorf("shutdown budget %s does not cover the inventory save (%s) and the loop's stop (2 x %s)", loop.ShutdownBudget, engine.SaveTimeout, loop.ShutdownGrace)
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
		return &meta.RESTMapping{Resource: schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "octopodes"}, Scope: meta.RESTScopeNamespace}, nil
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

func TestScopeOf(t *testing.T) {
	res := &render.Result{Components: []*render.Component{
		{Name: "a", Objects: []*unstructured.Unstructured{
			obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: z}}"),
			obj(t, "{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: v1, kind: Endpoints, metadata: {name: a, namespace: x}}"),
			obj(t, "{apiVersion: scheduling.k8s.io/v1, kind: PriorityClass, metadata: {name: a}}"),
			obj(t, "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: mice.example.com}, spec: {group: example.com, scope: Namespaced, names: {kind: Mouse, plural: mice}}}"),
			obj(t, "{apiVersion: example.com/v1, kind: Mouse, metadata: {name: m, namespace: x}}"),
			obj(t, "{apiVersion: example.com/v1, kind: Octopus, metadata: {name: o}}"),
			obj(t, "{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: reader}}"),
			obj(t, "{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: writer, namespace: x}}"),
		}},
		{Name: "b", Hooks: []*render.Hook{{Object: obj(t, "{apiVersion: batch/v1, kind: Job, metadata: {name: migrate, namespace: x}}")}}},
	}}
	got, err := ScopeOf(context.Background(), res, fakeMapper{})
	if err != nil {
		t.Fatal(err)
	}
	want := Scope{
		Resources: []Resource{
			{Resource: "configmaps", Namespaced: true}, {Resource: "endpoints", Namespaced: true},
			{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
			{Group: "batch", Resource: "jobs", Namespaced: true},
			{Group: "example.com", Resource: "mice", Namespaced: true, CustomResource: true},
			{Group: "example.com", Resource: "octopodes", Namespaced: true},
			{Group: "networking.k8s.io", Resource: "networkpolicies", Namespaced: true},
			{Group: rbacGroup, Resource: "clusterroles"},
			{Group: rbacGroup, Resource: "roles", Namespaced: true},
			{Group: "scheduling.k8s.io", Resource: "priorityclasses"},
		},
		// The Octopus, namespaced by the cluster but given none, goes in
		// default, as kubectl puts it.
		Namespaces:   []string{"default", "x", "z"},
		Roles:        []string{"writer"},
		ClusterRoles: []string{"reader"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scope (-want +got):\n%s", diff)
	}
}

func TestClusterRoleRules(t *testing.T) {
	o := Options{Environment: "e", Resources: []Resource{
		{Resource: "configmaps", Namespaced: true}, {Group: "apps", Resource: "deployments", Namespaced: true},
		{Group: "apps", Resource: "statefulsets", Namespaced: true}, {Resource: "namespaces"},
	}}
	rules := clusterRoleRules(o)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: manageVerbs},
		{APIGroups: []string{""}, Resources: []string{"events", "namespaces", "pods"}, Verbs: readVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: readVerbs},
		{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: readVerbs},
		{APIGroups: []string{"apiregistration.k8s.io"}, Resources: []string{"apiservices"}, Verbs: readVerbs},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("cluster-wide rules (-want +got):\n%s", diff)
	}
	wantNS := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: manageVerbs},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: manageVerbs},
	}
	if diff := cmp.Diff(wantNS, namespacedRules(o)); diff != "" {
		t.Errorf("namespaced rules (-want +got):\n%s", diff)
	}
	// An environment that declares RBAC may bind and escalate the roles it
	// declares, by name, and no other.
	o.Resources = append(o.Resources, Resource{Group: rbacGroup, Resource: "rolebindings", Namespaced: true},
		Resource{Group: rbacGroup, Resource: "roles", Namespaced: true}, Resource{Group: rbacGroup, Resource: "clusterroles"})
	o.Roles, o.ClusterRoles = []string{"writer"}, []string{"reader"}
	bindRule := func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
		return slices.DeleteFunc(slices.Clone(rules), func(r rbacv1.PolicyRule) bool { return !slices.Contains(r.Verbs, "bind") })
	}
	if diff := cmp.Diff([]rbacv1.PolicyRule{{APIGroups: []string{rbacGroup}, Resources: []string{"clusterroles"}, Verbs: []string{"bind", "escalate"}, ResourceNames: []string{"reader"}}},
		bindRule(clusterRoleRules(o))); diff != "" {
		t.Errorf("cluster-wide bind and escalate (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]rbacv1.PolicyRule{{APIGroups: []string{rbacGroup}, Resources: []string{"roles"}, Verbs: []string{"bind", "escalate"}, ResourceNames: []string{"writer"}}},
		bindRule(namespacedRules(o))); diff != "" {
		t.Errorf("namespaced bind and escalate (-want +got):\n%s", diff)
	}
}

// TestSOPSKeyServiceArgs: the operator's key services become the daemon's
// --sops-keyservice arguments, in order, and go nowhere else.
func TestSOPSKeyServiceArgs(t *testing.T) {
	o := Options{Environment: "e", Git: Git{URL: "https://git.example.com/acme/platform.git"}, Resources: []Resource{{Group: "", Resource: "configmaps", Namespaced: true}},
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
