package manifests

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The daemon runs as this unprivileged user and group: the nonroot user of
// distroless-style images, which the image's Dockerfile also uses.
const nonRootID = 65532

// labels are on every object of an installation; selector picks its pods.
func labels(o Options) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "envctl",
		"app.kubernetes.io/component": "daemon",
		"app.kubernetes.io/instance":  Name(o.Environment),
	}
}

func selector(o Options) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "envctl",
		"app.kubernetes.io/instance": Name(o.Environment),
	}
}

func objectMeta(o Options, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels(o)}
}

func secretName(o Options) string { return Name(o.Environment) + "-credentials" }

// namespace enforces the restricted Pod Security Standard, which the
// daemon's pods meet, so nothing less hardened runs next to them.
func namespace() *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name: Namespace,
			Labels: map[string]string{
				"pod-security.kubernetes.io/enforce": "restricted",
				"pod-security.kubernetes.io/warn":    "restricted",
			},
		},
	}
}

func serviceAccount(o Options) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
	}
}

// secret holds the credentials, or is nil when there are none.
func secret(o Options) *corev1.Secret {
	data := o.Credentials.data()
	if len(data) == 0 {
		return nil
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(o, secretName(o)),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// service serves the metrics and the Git webhook on one port.
func service(o Options) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selector(o),
			Ports: []corev1.ServicePort{{
				Name:       "http",
				Port:       Port,
				TargetPort: intstr.FromString("http"),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
}

// podDisruptionBudget keeps one daemon through node drains.
func podDisruptionBudget(o Options) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &one,
			Selector:     &metav1.LabelSelector{MatchLabels: selector(o)},
		},
	}
}

// args are the daemon's command line: the environment, where it listens
// and logs, its Git flags as given, and the credential files the Secret
// provides. No secret value is ever an argument.
func args(o Options) []string {
	a := []string{
		"daemon", o.Environment,
		"--listen", ":" + strconv.Itoa(Port),
		"--log-format", "json",
		"--cache-dir", cacheDir + "/git",
	}
	for _, f := range []struct{ flag, value string }{
		{"--git", o.Git.URL},
		{"--branch", o.Git.Branch},
		{"--tag", o.Git.Tag},
		{"--semver", o.Git.SemVer},
		{"--commit", o.Git.Commit},
		{"--path", o.Git.Path},
		{"--git-username", o.Git.Username},
	} {
		if f.value != "" {
			a = append(a, f.flag, f.value)
		}
	}
	c := o.Credentials
	if c.has(keyGitPassword) {
		a = append(a, "--git-password-file", credentialsDir+"/"+keyGitPassword)
	}
	if c.has(keySSHKey) {
		a = append(a, "--ssh-key", credentialsDir+"/"+keySSHKey)
	}
	if c.has(keyKnownHosts) {
		a = append(a, "--known-hosts", credentialsDir+"/"+keyKnownHosts)
	}
	if c.has(keySOPSKeys) || o.DecryptsSOPS {
		a = append(a, "--decryption-key-file", credentialsDir+"/"+keySOPSKeys)
	}
	for _, ks := range o.SOPSKeyServices {
		a = append(a, "--sops-keyservice", ks)
	}
	if c.has(keyGitCA) {
		a = append(a, "--ca-file", credentialsDir+"/"+keyGitCA)
	}
	if c.has(keyHelmCredentials) {
		a = append(a, "--helm-credentials-file", credentialsDir+"/"+keyHelmCredentials)
	}
	for _, n := range notifyFiles {
		if c.has(n.key) {
			a = append(a, n.flag, credentialsDir+"/"+n.key)
		}
	}
	return append(a, o.NotifyArgs...)
}

// env gives the daemon the secrets it reads from its environment. They
// come from the credentials Secret and are optional, like its volume, so
// that one Deployment serves with or without credentials (and the
// kustomize base can leave the Secret to its user).
func env(o Options) []corev1.EnvVar {
	vars := []corev1.EnvVar{
		// Helm's chart cache and anything else that wants a home or a
		// cache directory writes to the emptyDirs, the root being
		// read-only.
		{Name: "HOME", Value: tmpDir},
		{Name: "XDG_CACHE_HOME", Value: cacheDir},
	}
	for _, s := range []struct{ name, key string }{
		{"ENVCTL_WEBHOOK_SECRET", keyWebhookSecret},
		{"ENVCTL_SSH_KEY_PASSPHRASE", keySSHKeyPassphrase},
	} {
		vars = append(vars, corev1.EnvVar{Name: s.name, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secretName(o)},
				Key:                  s.key,
				Optional:             ptrTo(true),
			},
		}})
	}
	return vars
}

func deployment(o Options) *appsv1.Deployment {
	volumes := []corev1.Volume{
		{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptrTo(resource.MustParse("2Gi"))}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptrTo(resource.MustParse("256Mi"))}}},
		// Optional: a public repository without a webhook needs none.
		{Name: "credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secretName(o), DefaultMode: ptrTo[int32](0o440), Optional: ptrTo(true),
		}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "cache", MountPath: cacheDir},
		{Name: "tmp", MountPath: tmpDir},
		{Name: "credentials", MountPath: credentialsDir, ReadOnly: true},
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			FailureThreshold: 3,
		}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(o, Name(o.Environment)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(o.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector(o)},
			// A rollout starts the new daemon before it stops an old
			// one, so that a standby is there to take the Lease.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       ptrTo(intstr.FromInt32(1)),
					MaxUnavailable: ptrTo(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(o)},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name(o.Environment),
					// SIGTERM: the daemon releases its Lease and exits
					// within 10 s.
					TerminationGracePeriodSeconds: ptrTo[int64](15),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptrTo(true),
						RunAsUser:      ptrTo[int64](nonRootID),
						RunAsGroup:     ptrTo[int64](nonRootID),
						FSGroup:        ptrTo[int64](nonRootID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					// The standby is only a standby on another node.
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100,
							PodAffinityTerm: corev1.PodAffinityTerm{
								LabelSelector: &metav1.LabelSelector{MatchLabels: selector(o)},
								TopologyKey:   "kubernetes.io/hostname",
							},
						}},
					}},
					Containers: []corev1.Container{{
						Name:  "envctl",
						Image: o.Image,
						Args:  args(o),
						Env:   env(o),
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("100m"),
								corev1.ResourceMemory: resource.MustParse("128Mi"),
							},
							Limits: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("1"),
								corev1.ResourceMemory: resource.MustParse("512Mi"),
							},
						},
						LivenessProbe:  probe("/healthz", 10),
						ReadinessProbe: probe("/readyz", 5),
						VolumeMounts:   mounts,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptrTo(false),
							ReadOnlyRootFilesystem:   ptrTo(true),
							RunAsNonRoot:             ptrTo(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// ptrTo returns a pointer to a copy of v, for the optional fields of the
// API types.
func ptrTo[T any](v T) *T { return &v }
