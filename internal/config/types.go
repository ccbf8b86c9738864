// Package config loads and validates envctl's declarative configuration: the
// repo-wide config.yaml and one environments/NAME.yaml per environment.
//
// Both files are versioned (apiVersion envctl.dev/v1alpha1), decoded strictly
// (an unknown key, a wrong type or a second document is an error naming the
// file, line and field) and validated with every problem reported at once.
//
// The repository root is the nearest directory, from the one given upwards,
// holding a config.yaml with an envctl.dev apiVersion, as git finds .git.
//
// Each repo-wide setting (see Keys) is taken from, in increasing precedence:
// its default, config.yaml, an environment variable, a flag. Names derive
// from the setting's path under spec:
//
//	setting             apply.fieldManager
//	flag                --apply-field-manager        (path in kebab case, "." -> "-")
//	environment         ENVCTL_APPLY_FIELD_MANAGER   (ENVCTL_, the flag upper-cased, "-" -> "_")
//
// so defaultEnvironment is --default-environment and ENVCTL_DEFAULT_ENVIRONMENT.
// The squashed names of earlier releases (ENVCTL_APPLY_FIELDMANAGER) are
// still read, with a deprecation warning. An empty variable counts as
// unset. Only this package imports viper.
//
// View shows the effective configuration, defaults filled in, as YAML or
// JSON (`envctl config view`).
package config

import (
	"strings"
	"time"
)

// APIVersion is the only configuration version this release understands.
const APIVersion = "envctl.dev/v1alpha1"

// Kinds of configuration document.
const (
	KindConfig      = "Config"
	KindEnvironment = "Environment"
)

// Cluster provider names.
const (
	ProviderAuto     = "auto"
	ProviderEmbedded = "embedded"
	ProviderKind     = "kind"
	ProviderExisting = "existing"
)

// Config is the repo-wide configuration held in config.yaml.
type Config struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata,omitempty"`
	Spec       Settings `json:"spec"`
}

// Settings are the repo-wide settings. Every field can be overridden by an
// ENVCTL_* environment variable or a flag.
//
// config.yaml may leave any of them out; the effective settings always hold
// every one, so they are written without omitempty and `config view` shows
// them all.
type Settings struct {
	// DefaultEnvironment is used when a command is given no environment.
	DefaultEnvironment string `json:"defaultEnvironment"`
	// EnvironmentsDir is where environment files live, relative to the repo root.
	EnvironmentsDir string          `json:"environmentsDir"`
	Render          RenderSettings  `json:"render"`
	Apply           ApplySettings   `json:"apply"`
	Prune           PruneSettings   `json:"prune"`
	Cluster         ClusterSettings `json:"cluster"`
}

// ClusterSettings bound the work of getting an environment's cluster.
type ClusterSettings struct {
	// Timeout bounds creating the cluster (or starting its stopped nodes)
	// and waiting until it is usable, in every command that does either.
	Timeout Duration `json:"timeout"`
	// RuntimeWait is how long provider auto waits for a container runtime
	// that is installed but does not answer yet (Docker Desktop starting)
	// before it uses the embedded cluster instead, and says so.
	RuntimeWait Duration `json:"runtimeWait"`
}

// RenderSettings control how components are built.
type RenderSettings struct {
	// Concurrency bounds how many components render at once.
	Concurrency int `json:"concurrency"`
	// AllowRemoteBases lets kustomizations load bases over the network.
	AllowRemoteBases bool `json:"allowRemoteBases"`
	// AllowChartLookup lets chart templates call lookup against the cluster.
	AllowChartLookup bool `json:"allowChartLookup"`
	// KubeVersion is the Kubernetes version charts are rendered for.
	KubeVersion string `json:"kubeVersion"`
}

// ApplySettings control server-side apply.
type ApplySettings struct {
	FieldManager string `json:"fieldManager"`
	// Concurrency bounds the requests in flight within one stage.
	Concurrency int `json:"concurrency"`
	// ForceConflicts takes over fields owned by other managers.
	ForceConflicts bool `json:"forceConflicts"`
	// Timeout is the default health timeout of a component.
	Timeout Duration `json:"timeout"`
}

// PruneSettings guard the deletion of objects that are no longer declared.
type PruneSettings struct {
	Enabled *bool `json:"enabled"`
	// MaxFraction refuses a prune that would delete more than this fraction
	// of the previous inventory, unless forced.
	MaxFraction float64 `json:"maxFraction"`
	// AllowNamespaces lets prune delete Namespaces.
	AllowNamespaces bool `json:"allowNamespaces"`
}

// Metadata names a configuration document.
type Metadata struct {
	Name string `json:"name,omitempty"`
}

// Environment is one environment, held in environments/NAME.yaml.
type Environment struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   Metadata        `json:"metadata"`
	Spec       EnvironmentSpec `json:"spec"`

	// File is the path the environment was loaded from, relative to the repo root.
	File string `json:"-"`
	// Instance is the instance ID a command was given (SetInstance); ""
	// for the environment itself.
	Instance string `json:"-"`
}

// EnvironmentSpec declares a cluster and what to put in it.
type EnvironmentSpec struct {
	Cluster    ClusterSpec `json:"cluster"`
	Components []Component `json:"components"`
	// ServiceAccountName, NAMESPACE:NAME as kubectl writes it, is the
	// service account the environment's objects are applied and pruned
	// as (impersonated), as Flux's serviceAccountName: the environment can
	// then write no more than that account's RBAC allows. The file is in
	// the repository, so the daemon does not take it from there: the
	// operator pins it (daemon install --service-account), and a file
	// that names another is refused.
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// ServiceAccount splits a NAMESPACE:NAME service account reference; ok is
// false when it is not one.
func ServiceAccount(ref string) (namespace, name string, ok bool) {
	namespace, name, ok = strings.Cut(ref, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}

// ClusterSpec says which cluster an environment runs on.
type ClusterSpec struct {
	// Provider is auto, embedded, kind or existing.
	Provider string `json:"provider,omitempty"`
	// Name of the cluster; defaults to envctl-ENV.
	Name     string        `json:"name,omitempty"`
	Embedded *EmbeddedSpec `json:"embedded,omitempty"`
	Kind     *KindSpec     `json:"kind,omitempty"`
	Existing *ExistingSpec `json:"existing,omitempty"`
}

// EmbeddedSpec configures envctl's in-process control plane.
type EmbeddedSpec struct {
	// Nodes are groups of simulated nodes.
	Nodes []NodePool `json:"nodes,omitempty"`
	// Webhooks says what the API server does with admission and conversion
	// webhooks that only a pod could serve (an in-cluster Service, or a URL
	// off this machine): WebhooksSkip (the default) or WebhooksFail. Pods do
	// not run on the embedded cluster, and its API server never calls off
	// the machine.
	Webhooks string `json:"webhooks,omitempty"`
}

// Embedded cluster webhook policies (EmbeddedSpec.Webhooks).
const (
	// WebhooksSkip treats such webhooks as absent: requests pass as if the
	// webhook configuration did not list them, and a CRD converts as with
	// strategy None.
	WebhooksSkip = "skip"
	// WebhooksFail makes each call to such a webhook fail at once with an
	// error naming it and its Service; the webhook's failurePolicy then
	// decides, as for any webhook that cannot be reached.
	WebhooksFail = "fail"
)

// WebhookPolicies lists the values of EmbeddedSpec.Webhooks.
var WebhookPolicies = []string{WebhooksSkip, WebhooksFail}

// WebhookPolicy returns the webhook policy, WebhooksSkip when unset (s may
// be nil).
func (s *EmbeddedSpec) WebhookPolicy() string {
	if s == nil || s.Webhooks == "" {
		return WebhooksSkip
	}
	return s.Webhooks
}

// NodePool is a group of identical simulated nodes.
type NodePool struct {
	// Name prefixes the node names; defaults to "node".
	Name  string `json:"name,omitempty"`
	Count int    `json:"count,omitempty"`
	// Capacity and Allocatable are resource quantities, extended resources
	// such as nvidia.com/gpu included. Allocatable defaults to Capacity.
	Capacity    map[string]string `json:"capacity,omitempty"`
	Allocatable map[string]string `json:"allocatable,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Taints      []Taint           `json:"taints,omitempty"`
}

// Taint is a node taint.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// KindSpec configures a kind cluster.
type KindSpec struct {
	NodeImage string     `json:"nodeImage,omitempty"`
	Nodes     []KindNode `json:"nodes,omitempty"`
	// APIServerAddress is the host address the API server is published on
	// (kind's networking.apiServerAddress); kind's default is 127.0.0.1.
	APIServerAddress string `json:"apiServerAddress,omitempty"`
	// Registry gives the cluster a local registry; `registry: true` is
	// short for the defaults.
	Registry *KindRegistry `json:"registry,omitempty"`
	// Mirrors are registry mirrors the nodes' containerd pulls through.
	Mirrors []RegistryMirror `json:"mirrors,omitempty"`
	// HostCredentials copies the host's registry logins (docker login)
	// into every node, for the kubelet's pulls.
	HostCredentials bool `json:"hostCredentials,omitempty"`
	// Requires is what the environment needs from the container runtime
	// (cpu, memory); less is warned about before the cluster is created.
	Requires map[string]string `json:"requires,omitempty"`
	// Config is a raw kind cluster configuration (kind.x-k8s.io/v1alpha4),
	// merged under envctl's own fields.
	Config map[string]any `json:"config,omitempty"`
}

// KindRegistry is a local registry container beside a kind cluster, wired
// into its nodes' containerd and advertised to tools (KEP-1755).
type KindRegistry struct {
	// Enabled is set by `registry: true`, and by a registry mapping.
	Enabled bool `json:"enabled,omitempty"`
	// Name of the registry container; default envctl-registry.
	Name string `json:"name,omitempty"`
	// Port on 127.0.0.1 the registry is published on; default 5001.
	Port int32 `json:"port,omitempty"`
	// Image of the registry; default registry:2.
	Image string `json:"image,omitempty"`
}

// RegistryMirror sends the nodes' pulls from Registry to Endpoints first.
type RegistryMirror struct {
	// Registry is the registry host mirrored, such as docker.io.
	Registry string `json:"registry"`
	// Endpoints are mirror URLs, such as http://host.docker.internal:5002.
	Endpoints []string `json:"endpoints"`
}

// KindNode is one kind node container.
type KindNode struct {
	// Role is control-plane or worker.
	Role              string            `json:"role"`
	Image             string            `json:"image,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	ExtraPortMappings []PortMapping     `json:"extraPortMappings,omitempty"`
}

// PortMapping maps a node container port to the host.
type PortMapping struct {
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort"`
	ListenAddress string `json:"listenAddress,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

// ExistingSpec points at a cluster envctl did not create.
type ExistingSpec struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	// InCluster uses the pod's service account.
	InCluster bool `json:"inCluster,omitempty"`
}

// Component is one unit of declared state: a kustomize overlay, a Helm
// release or a directory of plain manifests.
type Component struct {
	Name string `json:"name"`
	// Kustomize is a directory, relative to the repo root, holding a kustomization.
	Kustomize string       `json:"kustomize,omitempty"`
	Helm      *HelmRelease `json:"helm,omitempty"`
	Manifests *Manifests   `json:"manifests,omitempty"`
	// Decryption says how encrypted files of the component are read.
	Decryption *Decryption `json:"decryption,omitempty"`
	DependsOn  []string    `json:"dependsOn,omitempty"`
	// Timeout bounds the wait for the component to become healthy.
	Timeout Duration `json:"timeout,omitempty"`
	// Wait, when false, skips the health wait for this component.
	Wait *bool `json:"wait,omitempty"`
}

// HelmRelease is a chart rendered client-side, as helm template does.
type HelmRelease struct {
	// Chart is a repo path (bases/monitoring/chart), a chart name in Repo,
	// or an oci:// reference.
	Chart string `json:"chart"`
	// Repo is an HTTP chart repository URL, when Chart is a name in it.
	Repo    string `json:"repo,omitempty"`
	Version string `json:"version,omitempty"`
	// Release defaults to the component name.
	Release   string `json:"release,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Values are inline values, merged over ValuesFiles.
	Values      map[string]any `json:"values,omitempty"`
	ValuesFiles []string       `json:"valuesFiles,omitempty"`
	// IncludeCRDs renders the chart's crds/ directory; defaults to true.
	IncludeCRDs *bool `json:"includeCRDs,omitempty"`
	// CreateNamespace adds the release's Namespace when no component of
	// the environment declares it, as `helm install --create-namespace`;
	// defaults to true.
	CreateNamespace *bool `json:"createNamespace,omitempty"`
	// RepoAuth holds the credentials of the chart repository or OCI
	// registry, and of chart dependencies served from the same host.
	RepoAuth *RepoAuth `json:"repoAuth,omitempty"`
}

// RepoAuth says how envctl authenticates to a chart repository or
// registry. The repository only names a credential; the operator binds the
// name to a user name, a password and the hosts it may be sent to
// (--helm-credential, --helm-credentials-file), so that no commit can
// choose the operator's secrets or where they go.
type RepoAuth struct {
	// Credential names the operator's credential to send, over https,
	// to the chart's host (and to dependencies on a host it is bound to).
	Credential string `json:"credential,omitempty"`
	// CAFile is a PEM bundle in the repository, trusted for a chart
	// repository that takes no credential. The CA of a host that takes
	// one comes with the operator's binding.
	CAFile string `json:"caFile,omitempty"`

	// Username, UsernameEnv, PasswordEnv and PasswordFile are refused with
	// a message saying what to do instead: they let a commit pick the
	// operator's variables and files and send them anywhere.
	Username     string `json:"username,omitempty"`
	UsernameEnv  string `json:"usernameEnv,omitempty"`
	PasswordEnv  string `json:"passwordEnv,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
}

// Manifests is a directory of plain manifests applied as they are, without
// a kustomization. `manifests: DIR` is short for `manifests: {path: DIR}`.
type Manifests struct {
	// Path is the directory, relative to the repo root. Every *.yaml, *.yml
	// and *.json file under it, at any depth, is read.
	Path string `json:"path"`
	// Include, when set, keeps only files whose path relative to Path
	// matches one of these globs ("**" crosses directories).
	Include []string `json:"include,omitempty"`
	// Exclude drops files whose relative path matches one of these globs.
	Exclude []string `json:"exclude,omitempty"`
}

// Decryption providers.
const DecryptionSOPS = "sops"

// Decryption says how a component's encrypted files are decrypted during
// render: SOPS files are decrypted in memory, never written to disk.
type Decryption struct {
	// Provider is sops, the only one.
	Provider string `json:"provider"`
}

// Duration is a time.Duration written as "90s" or "2m".
type Duration struct {
	time.Duration
}
