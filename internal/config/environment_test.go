package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/envctl/envctl/internal/errs"
)

func loadTestdata(t *testing.T) *Repo {
	t.Helper()
	r, err := Load(LoadOptions{Dir: "testdata/repo/overlays", LookupEnv: envMap(nil)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

func TestEnvironmentDefaults(t *testing.T) {
	r := loadTestdata(t)
	names, err := r.EnvironmentNames()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ci", "local"}, names); diff != "" {
		t.Errorf("EnvironmentNames (-want +got):\n%s", diff)
	}
	// "" is the default environment, local.
	env, err := r.Environment("")
	if err != nil {
		t.Fatalf("Environment: %v", err)
	}
	threeMin := Duration{3 * time.Minute}
	want := &Environment{
		APIVersion: APIVersion,
		Kind:       KindEnvironment,
		Metadata:   Metadata{Name: "local"},
		File:       "environments/local.yaml",
		Spec: EnvironmentSpec{
			Cluster: ClusterSpec{
				Provider: ProviderAuto,
				Name:     "envctl-local",
				Kind: &KindSpec{Nodes: []KindNode{
					{Role: RoleControlPlane},
					{Role: RoleWorker, ExtraPortMappings: []PortMapping{{ContainerPort: 80, HostPort: 8080}}},
				}},
				Embedded: &EmbeddedSpec{Nodes: []NodePool{
					{
						Name: "cpu", Count: 2,
						Capacity:    map[string]string{"cpu": "8", "memory": "32Gi"},
						Allocatable: map[string]string{"cpu": "8", "memory": "32Gi"},
					},
					{
						Name: "gpu", Count: 1,
						Capacity:    map[string]string{"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "1"},
						Allocatable: map[string]string{"cpu": "15500m", "memory": "60Gi", "nvidia.com/gpu": "1"},
						Labels:      map[string]string{"envctl.dev/pool": "gpu"},
						Taints:      []Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}},
					},
				}},
			},
			Components: []Component{
				{Name: "platform", Kustomize: "overlays/local/platform", Timeout: threeMin, Wait: ptr(true)},
				{
					Name: "monitoring",
					Helm: &HelmRelease{
						Chart: "bases/monitoring/chart", Release: "monitoring", Namespace: "monitoring",
						ValuesFiles: []string{"overlays/local/monitoring-values.yaml"},
						Values: map[string]any{
							"retention": "2d", "replicas": int64(1), "ratio": 0.5,
							"extra": map[string]any{"enabled": true, "list": []any{"a", int64(1), nil}},
						},
						IncludeCRDs: ptr(true), CreateNamespace: ptr(true),
					},
					DependsOn: []string{"platform"}, Timeout: threeMin, Wait: ptr(true),
				},
				{
					Name: "model-serving", Kustomize: "overlays/local/model-serving",
					DependsOn: []string{"platform", "monitoring"}, Timeout: Duration{2 * time.Minute}, Wait: ptr(false),
				},
				{
					Name: "cert-manager",
					Helm: &HelmRelease{Chart: "cert-manager", Repo: "https://charts.jetstack.io", Version: "v1.15.0",
						Release: "certs", IncludeCRDs: ptr(false), CreateNamespace: ptr(true)},
					Timeout: threeMin, Wait: ptr(true),
				},
			},
		},
	}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if got := env.Component("monitoring").Helm.ChartKind(); got != ChartLocal {
		t.Errorf("monitoring chart kind %s, want local", got)
	}
	if got := env.Component("cert-manager").Helm.ChartKind(); got != ChartRepo {
		t.Errorf("cert-manager chart kind %s, want repo", got)
	}
	if env.Component("nope") != nil {
		t.Error("Component(nope) is not nil")
	}
}

func TestUnknownEnvironment(t *testing.T) {
	r := loadTestdata(t)
	_, err := r.Environment("lcoal")
	if errs.KindOf(err) != errs.KindInput {
		t.Fatalf("kind %v: %v", errs.KindOf(err), err)
	}
	const want = `unknown environment "lcoal" (did you mean "local"?); known environments: ci, local`
	if err.Error() != want {
		t.Errorf("error\n  %s\nwant\n  %s", err, want)
	}
	yml := writeRepo(t, map[string]string{"config.yaml": configHeader, "environments/dev.yml": "", "environments/README.yaml": ""})
	ry, err := Load(LoadOptions{Dir: yml, LookupEnv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ry.Environment("dev")
	if err == nil || err.Error() != `environment "dev": found environments/dev.yml; environment files end in .yaml, rename it` {
		t.Errorf("Environment(dev) with dev.yml: %v", err)
	}
	if names, err := ry.EnvironmentNames(); err != nil || len(names) != 0 {
		t.Errorf("EnvironmentNames lists files that are not environments: %q, %v", names, err)
	}
	for _, name := range []string{"../config", "Local", "a/b"} {
		_, err := r.Environment(name)
		if errs.KindOf(err) != errs.KindInput || !strings.Contains(err.Error(), "invalid environment name") {
			t.Errorf("Environment(%q): %v", name, err)
		}
	}
}

// header is the first five lines of every environment in the error table,
// so that the content under spec starts on line 6.
const header = `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: local
spec:
`

func TestEnvironmentErrors(t *testing.T) {
	const f = "environments/local.yaml:"
	tests := []struct {
		name string
		env  string
		want []string
	}{
		{
			name: "malformed YAML",
			env:  header + "  components:\n    - name: a\n   kustomize: overlays/app\n",
			want: []string{f + "8:4: invalid YAML: did not find expected key"},
		},
		{
			name: "tab indentation",
			env:  header + "\tcomponents: []\n",
			want: []string{f + "6:1: invalid YAML: found character that cannot start any token"},
		},
		{
			name: "empty file",
			env:  "",
			want: []string{"environments/local.yaml: file is empty"},
		},
		{
			name: "comments only",
			env:  "# nothing yet\n---\n",
			want: []string{"environments/local.yaml: file is empty"},
		},
		{
			name: "two documents",
			env:  header + "  components: []\n---\n" + header,
			want: []string{f + "8:1: a second YAML document starts here"},
		},
		{
			name: "not a mapping",
			env:  "- apiVersion: envctl.dev/v1alpha1\n",
			want: []string{f + "1:1: want a mapping of fields, got a list"},
		},
		{
			name: "unknown field with a suggestion",
			env: header + `  components:
    - name: platform
      kustomize: overlays/app
    - name: web
      kustomize: overlays/app
      dependson: [platform]
`,
			want: []string{f + `11:7: spec.components[1]: unknown field "dependson" (did you mean "dependsOn"?)`},
		},
		{
			name: "unknown fields everywhere are all reported",
			env: `apiVersion: envctl.dev/v1alpha1
kind: Environment
metdata: {name: local}
spec:
  clusters: {}
  components:
    - name: a
      kustomise: overlays/app
`,
			want: []string{
				f + `3:1: unknown field "metdata" (did you mean "metadata"?)`,
				f + `5:3: spec: unknown field "clusters" (did you mean "cluster"?)`,
				f + `8:7: spec.components[0]: unknown field "kustomise" (did you mean "kustomize"?)`,
			},
		},
		{
			name: "wrong types",
			env: header + `  cluster:
    embedded:
      nodes:
        - count: two
          capacity: [cpu]
  components:
    - name: a
      kustomize: {path: overlays/app}
      dependsOn: platform
      timeout: 30
      wait: "no"
`,
			want: []string{
				f + `9:18: spec.cluster.embedded.nodes[0].count: want an integer, got the string "two"`,
				f + `10:21: spec.cluster.embedded.nodes[0].capacity: want a mapping, got a list`,
				f + `13:18: spec.components[0].kustomize: want a string, got a mapping`,
				f + `14:18: spec.components[0].dependsOn: want a list, got the string "platform"; write [platform]`,
				f + `15:16: spec.components[0].timeout: want a duration such as 90s or 2m, got the number 30; write it with a unit, such as 30s`,
				f + `16:13: spec.components[0].wait: want true or false, got the string "no"`,
			},
		},
		{
			name: "repeated key",
			env:  header + "  components: []\n  components: []\n",
			want: []string{f + `7:3: spec: key "components" is repeated (first at line 6)`},
		},
		{
			name: "wrong apiVersion and kind",
			env:  "apiVersion: envctl.dev/v2\nkind: Config\nmetadata: {name: local}\n",
			want: []string{
				f + `1:13: apiVersion: unsupported apiVersion "envctl.dev/v2"`,
				f + `2:7: kind: kind is "Config"; a environments/local.yaml file holds kind Environment`,
			},
		},
		{
			name: "missing apiVersion",
			env:  "kind: Environment\nmetadata: {name: local}\n",
			want: []string{f + "1:1: apiVersion: apiVersion is missing; want envctl.dev/v1alpha1"},
		},
		{
			name: "name does not match the file",
			env:  "apiVersion: envctl.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n",
			want: []string{f + `4:9: metadata.name: metadata.name is "staging" but the file is local.yaml; they must match`},
		},
		{
			name: "components: names, duplicates, kind of component",
			env: header + `  components:
    - name: Platform
      kustomize: overlays/app
    - name: web
      kustomize: overlays/app
    - name: web
      kustomize: overlays/app
    - name: both
      kustomize: overlays/app
      helm: {chart: charts/mon}
    - name: neither
    - kustomize: overlays/app
`,
			want: []string{
				f + `7:13: spec.components[0].name: component name "Platform" is not valid`,
				f + `11:13: spec.components[2].name: component name "web" is already used by spec.components[1]`,
				f + `13:7: spec.components[3]: component "both" sets kustomize and helm; a component is exactly one of kustomize, helm or manifests`,
				f + `16:7: spec.components[4]: component "neither" sets none of kustomize, helm or manifests`,
				f + `17:7: spec.components[5].name: component name is missing`,
			},
		},
		{
			name: "dependsOn: unknown, self, repeated, negative timeout",
			env: header + `  components:
    - name: platform
      kustomize: overlays/app
    - name: web
      kustomize: overlays/app
      dependsOn: [platfrom, web, platform, platform]
      timeout: -1m
`,
			want: []string{
				f + `11:19: spec.components[1].dependsOn[0]: component "web" depends on unknown component "platfrom" (did you mean "platform"?)`,
				f + `11:29: spec.components[1].dependsOn[1]: component "web" depends on itself`,
				f + `11:44: spec.components[1].dependsOn[3]: component "web" lists "platform" twice`,
				f + `12:16: spec.components[1].timeout: component "web": timeout must not be negative, got -1m`,
			},
		},
		{
			name: "dependsOn cycle",
			env: header + `  components:
    - name: a
      kustomize: overlays/app
      dependsOn: [b]
    - name: b
      kustomize: overlays/app
      dependsOn: [c]
    - name: c
      kustomize: overlays/app
      dependsOn: [a]
    - name: d
      kustomize: overlays/app
      dependsOn: [a]
`,
			want: []string{f + `9:18: spec.components[0].dependsOn: dependsOn cycle: a -> b -> c -> a`},
		},
		{
			name: "cluster: provider and sections",
			env: header + `  cluster:
    provider: kinds
    name: My_Cluster
`,
			want: []string{
				f + `7:15: spec.cluster.provider: unknown provider "kinds" (did you mean "kind"?); want one of auto, embedded, kind, existing`,
				f + `8:11: spec.cluster.name: cluster name "My_Cluster" is not valid`,
			},
		},
		{
			name: "cluster: section contradicts the provider",
			env: header + `  cluster:
    provider: kind
    embedded: {nodes: [{count: 1}]}
    existing: {inCluster: true, context: prod}
`,
			want: []string{
				f + `8:15: spec.cluster.embedded: spec.cluster.embedded is set but provider is kind`,
				f + `9:15: spec.cluster.existing: spec.cluster.existing is set but provider is kind`,
				f + `9:27: spec.cluster.existing.inCluster: inCluster uses the pod's service account`,
			},
		},
		{
			name: "cluster: node pools",
			env: header + `  cluster:
    provider: embedded
    embedded:
      nodes:
        - count: 0
          capacity: {cpu: eight, memory: -1Gi, "bad key!": "1"}
        - count: 2000
          capacity: {cpu: "4"}
          allocatable: {cpu: "5", memory: 1Gi}
          labels: {pool: "not valid!"}
          taints:
            - {key: gpu, effect: NoScheduled}
            - {key: gpu, effect: NoScheduled}
`,
			want: []string{
				f + `10:18: spec.cluster.embedded.nodes[0].count: node count must be at least 1, got 0`,
				f + `11:60: spec.cluster.embedded.nodes[0].capacity["bad key!"]: resource name "bad key!" is not valid`,
				f + `11:27: spec.cluster.embedded.nodes[0].capacity["cpu"]: cpu: "eight" is not a quantity such as 8, 500m or 32Gi`,
				f + `11:42: spec.cluster.embedded.nodes[0].capacity["memory"]: memory must not be negative, got -1Gi`,
				f + `12:11: spec.cluster.embedded.nodes[1].name: node pool name "node" is already used by spec.cluster.embedded.nodes[0]`,
				f + `12:18: spec.cluster.embedded.nodes[1].count: node count 2000 is more than the 1000 a pool may have`,
				f + `14:30: spec.cluster.embedded.nodes[1].allocatable["cpu"]: allocatable cpu 5 is more than its capacity 4`,
				f + `14:43: spec.cluster.embedded.nodes[1].allocatable["memory"]: allocatable memory has no capacity`,
				f + `15:26: spec.cluster.embedded.nodes[1].labels["pool"]: label value "not valid!" is not valid`,
				f + `17:34: spec.cluster.embedded.nodes[1].taints[0].effect: taint effect "NoScheduled" is not one of NoSchedule, PreferNoSchedule, NoExecute (did you mean "NoSchedule"?)`,
				f + `18:15: spec.cluster.embedded.nodes[1].taints[1]: taint gpu:NoScheduled repeats taints[0]`,
				f + `18:34: spec.cluster.embedded.nodes[1].taints[1].effect: taint effect "NoScheduled" is not one of`,
			},
		},
		{
			name: "cluster: webhook policy",
			env: header + `  cluster:
    provider: embedded
    embedded:
      webhooks: skipp
`,
			want: []string{
				f + `9:17: spec.cluster.embedded.webhooks: unknown webhook policy "skipp" (did you mean "skip"?); want one of skip, fail`,
			},
		},
		{
			name: "cluster: webhook policy misspelt",
			env: header + `  cluster:
    embedded: {webhook: fail}
`,
			want: []string{
				f + `7:16: spec.cluster.embedded: unknown field "webhook" (did you mean "webhooks"?)`,
			},
		},
		{
			name: "cluster: kind nodes",
			env: header + `  cluster:
    provider: kind
    kind:
      nodes:
        - role: master
          extraPortMappings:
            - {containerPort: 0, hostPort: 70000, listenAddress: localhost, protocol: tcp}
`,
			want: []string{
				f + `10:9: spec.cluster.kind.nodes: a kind cluster needs at least one node with role control-plane`,
				f + `10:17: spec.cluster.kind.nodes[0].role: role "master" is not control-plane or worker`,
				f + `12:31: spec.cluster.kind.nodes[0].extraPortMappings[0].containerPort: containerPort must be 1 to 65535, got 0`,
				f + `12:44: spec.cluster.kind.nodes[0].extraPortMappings[0].hostPort: hostPort must be 0 (any free port) to 65535, got 70000`,
				f + `12:66: spec.cluster.kind.nodes[0].extraPortMappings[0].listenAddress: listenAddress "localhost" is not an IP address`,
				f + `12:87: spec.cluster.kind.nodes[0].extraPortMappings[0].protocol: protocol "tcp" is not TCP, UDP or SCTP`,
			},
		},
		{
			name: "helm chart forms",
			env: header + `  components:
    - name: from-repo
      helm: {chart: cert-manager, repo: https://charts.jetstack.io}
    - name: from-oci
      helm: {chart: oci://ghcr.io/org/charts/app, repo: https://x.example}
    - name: url
      helm: {chart: https://example.com/app-1.0.tgz}
    - name: local-version
      helm: {chart: charts/mon, version: 1.0.0}
    - name: oci-repo
      helm: {chart: app, repo: oci://ghcr.io/org, version: 1.0.0}
    - name: missing
      helm: {chart: charts/nope}
    - name: no-chart-yaml
      helm: {chart: overlays/app, release: Not_Valid}
`,
			want: []string{
				f + `8:13: spec.components[0].helm: component "from-repo": helm.version is required for a chart from a repository`,
				f + `10:13: spec.components[1].helm: component "from-oci": helm.version is required for an OCI chart`,
				f + `10:57: spec.components[1].helm.repo: component "from-oci": helm.repo is not used with an oci:// chart`,
				f + `12:21: spec.components[2].helm.chart: component "url": helm.chart "https://example.com/app-1.0.tgz" is a URL`,
				f + `14:42: spec.components[3].helm.version: component "local-version": helm.version applies to repository and OCI charts`,
				f + `16:32: spec.components[4].helm.repo: component "oci-repo": helm.repo "oci://ghcr.io/org" is an OCI registry`,
				f + `18:21: spec.components[5].helm.chart: component "missing": chart "charts/nope" does not exist in the repository`,
				f + `20:21: spec.components[6].helm.chart: component "no-chart-yaml": chart directory "overlays/app" has no Chart.yaml`,
				f + `20:44: spec.components[6].helm.release: component "no-chart-yaml": release name "Not_Valid" is not valid`,
			},
		},
		{
			name: "paths outside the repository or missing",
			env: header + `  components:
    - name: up
      kustomize: ../outside
    - name: absolute
      kustomize: /etc
    - name: link
      kustomize: escape/app
    - name: missing
      kustomize: overlays/nope
    - name: not-kustomize
      kustomize: charts/mon
    - name: values
      helm:
        chart: charts/mon
        valuesFiles: [values/missing.yaml, ../../etc/passwd, charts/mon]
`,
			want: []string{
				f + `8:18: spec.components[0].kustomize: component "up": path "../outside" escapes the repository root`,
				f + `10:18: spec.components[1].kustomize: component "absolute": path "/etc" escapes the repository root`,
				f + `12:18: spec.components[2].kustomize: component "link": path "escape/app" escapes the repository root through a symlink to `,
				f + `14:18: spec.components[3].kustomize: component "missing": kustomize directory "overlays/nope" does not exist`,
				f + `16:18: spec.components[4].kustomize: component "not-kustomize": directory "charts/mon" has no kustomization.yaml`,
				f + `20:23: spec.components[5].helm.valuesFiles[0]: component "values": values file "values/missing.yaml" does not exist`,
				f + `20:44: spec.components[5].helm.valuesFiles[1]: component "values": path "../../etc/passwd" escapes the repository root`,
				f + `20:62: spec.components[5].helm.valuesFiles[2]: component "values": values file "charts/mon" is not a regular file`,
			},
		},
		{
			name: "manifests, decryption and repository credentials",
			env: header + `  components:
    - name: plain
      manifests: overlays
    - name: plain2
      manifests:
        path: overlays/nope
        include: ["[bad"]
        exclude: [../x]
    - name: two
      kustomize: overlays/app
      manifests: overlays
    - name: secret
      kustomize: overlays/app
      decryption: {provider: vault}
`,
			want: []string{
				f + `11:15: spec.components[1].manifests.path: component "plain2": manifests directory "overlays/nope" does not exist`,
				f + `12:19: spec.components[1].manifests.include[0]: component "plain2": pattern "[bad": syntax error in pattern`,
				f + `13:19: spec.components[1].manifests.exclude[0]: component "plain2": pattern "../x" must be relative to the directory and stay inside it`,
				f + `14:7: spec.components[2]: component "two" sets kustomize and manifests; a component is exactly one of kustomize, helm or manifests`,
				f + `19:30: spec.components[3].decryption.provider: component "secret": decryption provider "vault" is not supported; the provider is sops`,
			},
		},
		{
			// The repository names a credential; it never picks the
			// operator's variables, files or user name, nor plain http.
			name: "repository credentials",
			env: header + `  components:
    - name: auth
      helm:
        chart: charts/mon
        repoAuth:
          username: u
          usernameEnv: ENVCTL_GIT_PASSWORD
          passwordEnv: SOPS_AGE_KEY
          passwordFile: /var/run/secrets/kubernetes.io/serviceaccount/token
          caFile: /etc/passwd
    - name: plain
      helm:
        chart: mon
        repo: http://charts.example.com
        version: 1.0.0
        repoAuth: {credential: charts, caFile: ca.pem}
    - name: named
      helm: {chart: mon, repo: "https://bot:hunter2@charts.example.com", version: 1.0.0, repoAuth: {credential: Charts_1}}
    - name: oci
      helm: {chart: "oci://bot:hunter2@registry.example.com/charts/mon", version: 1.0.0}
`,
			want: []string{
				f + `11:21: spec.components[0].helm.repoAuth.username: component "auth": username is refused: the user name comes with the operator's credential; ` + operatorCredential,
				f + `12:24: spec.components[0].helm.repoAuth.usernameEnv: component "auth": usernameEnv is refused: a repository may not choose the operator's environment variables, nor where their values are sent; ` + operatorCredential,
				f + `13:24: spec.components[0].helm.repoAuth.passwordEnv: component "auth": passwordEnv is refused: a repository may not choose the operator's environment variables, nor where their values are sent; ` + operatorCredential,
				f + `14:25: spec.components[0].helm.repoAuth.passwordFile: component "auth": passwordFile is refused: a repository may not choose the operator's files, nor where their contents are sent; ` + operatorCredential,
				f + `15:19: spec.components[0].helm.repoAuth.caFile: component "auth": caFile "/etc/passwd" is outside the repository: a repository may not choose the operator's files; commit the CA and give its path in the repository`,
				f + `21:32: spec.components[1].helm.repoAuth.credential: component "plain": helm.repo "http://charts.example.com" is plain http, and a credential is only ever sent over https`,
				f + `21:48: spec.components[1].helm.repoAuth.caFile: component "plain": caFile is not used with a credential: the CA trusted with credential "charts" is the operator's, given with its binding (ENVCTL_HELM_CREDENTIAL_CHARTS_CA_FILE or ca in --helm-credentials-file)`,
				f + `21:48: spec.components[1].helm.repoAuth.caFile: component "plain": caFile "ca.pem" does not exist in the repository`,
				f + `23:32: spec.components[2].helm.repo: component "named": helm.repo "https://bot:xxxxx@charts.example.com" holds user information; a credential is never committed: name one in helm.repoAuth.credential`,
				f + `23:113: spec.components[2].helm.repoAuth.credential: component "named": "Charts_1" is not a credential name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters`,
				f + `25:21: spec.components[3].helm.chart: component "oci": helm.chart "oci://bot:xxxxx@registry.example.com/charts/mon" holds user information; a credential is never committed: name one in helm.repoAuth.credential`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeRepo(t, map[string]string{
				"config.yaml":                     configHeader,
				"overlays/app/kustomization.yaml": "resources: []\n",
				"charts/mon/Chart.yaml":           "apiVersion: v2\nname: mon\nversion: 0.1.0\n",
				"environments/local.yaml":         tt.env,
			})
			outside := t.TempDir()
			if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
				t.Fatal(err)
			}
			r, err := Load(LoadOptions{Dir: root, LookupEnv: envMap(nil)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			env, err := r.Environment("local")
			if env != nil {
				t.Errorf("Environment returned an environment along with the error")
			}
			assertProblems(t, err, tt.want)
		})
	}
}

func TestOrder(t *testing.T) {
	comp := func(name string, deps ...string) Component {
		return Component{Name: name, Kustomize: "x", DependsOn: deps}
	}
	tests := []struct {
		name    string
		comps   []Component
		want    [][]string
		wantErr string
	}{
		{name: "none", comps: nil, want: nil},
		{
			name:  "layers sorted by name",
			comps: []Component{comp("web", "db", "cache"), comp("db"), comp("cache"), comp("api", "db"), comp("ingress", "web", "api")},
			want:  [][]string{{"cache", "db"}, {"api", "web"}, {"ingress"}},
		},
		{name: "cycle", comps: []Component{comp("a", "b"), comp("b", "a"), comp("c")}, wantErr: "env.yaml: dependsOn cycle: a -> b -> a"},
		{name: "self", comps: []Component{comp("a", "a")}, wantErr: `env.yaml: component "a" depends on itself`},
		{name: "unknown", comps: []Component{comp("a", "z")}, wantErr: `env.yaml: component "a" depends on unknown component "z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Environment{File: "env.yaml", Spec: EnvironmentSpec{Components: tt.comps}}
			got, err := e.Order()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || errs.KindOf(err) != errs.KindInput {
					t.Fatalf("Order error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	f := false
	c := Component{Name: "mon", Helm: &HelmRelease{Chart: "oci://r.example/c/mon"}}
	if c.Release() != "mon" || !c.WaitEnabled() || !c.Helm.CRDsIncluded() || c.Helm.ChartKind() != ChartOCI {
		t.Errorf("defaults of %+v: release %q wait %v crds %v kind %s", c, c.Release(), c.WaitEnabled(), c.Helm.CRDsIncluded(), c.Helm.ChartKind())
	}
	c.Wait, c.Helm.IncludeCRDs, c.Helm.Release = &f, &f, "monitoring"
	if c.Release() != "monitoring" || c.WaitEnabled() || c.Helm.CRDsIncluded() {
		t.Errorf("explicit values ignored: %+v", c)
	}
	var none *EmbeddedSpec
	if none.WebhookPolicy() != WebhooksSkip || (&EmbeddedSpec{}).WebhookPolicy() != WebhooksSkip ||
		(&EmbeddedSpec{Webhooks: WebhooksFail}).WebhookPolicy() != WebhooksFail {
		t.Error("WebhookPolicy: want skip when unset, the value when set")
	}
	e := &Environment{Metadata: Metadata{Name: "ci"}}
	if got := e.ClusterName(); got != "envctl-ci" {
		t.Errorf("ClusterName = %q", got)
	}
	e.Spec.Cluster.Name = "shared"
	if got := e.ClusterName(); got != "shared" {
		t.Errorf("ClusterName = %q", got)
	}
	if !DefaultSettings().Prune.PruneEnabled() || (PruneSettings{Enabled: &f}).PruneEnabled() {
		t.Error("PruneEnabled")
	}
}

func TestValidateHandBuilt(t *testing.T) {
	e := &Environment{File: "env.yaml", Spec: EnvironmentSpec{Components: []Component{{Name: "a"}}}}
	assertProblems(t, e.Validate(""), []string{
		"env.yaml: metadata.name: metadata.name is missing",
		`env.yaml: spec.components[0]: component "a" sets none of kustomize, helm or manifests`,
	})
	s := DefaultSettings()
	if err := (&Config{Spec: s}).Validate(); err != nil {
		t.Errorf("default settings are invalid: %v", err)
	}
	s.Apply.Concurrency = 0
	assertProblems(t, (&Config{Spec: s}).Validate(), []string{"spec.apply.concurrency: must be at least 1, got 0"})
}

// TestManifestsForms: manifests: DIR is short for manifests: {path: DIR};
// helm.createNamespace defaults to true.
func TestManifestsForms(t *testing.T) {
	root := writeRepo(t, map[string]string{
		"config.yaml":   configHeader,
		"deploy/a.yaml": "",
		"environments/local.yaml": header + `  components:
    - name: short
      manifests: deploy
    - name: long
      manifests: {path: deploy, include: ["**/*.yaml"], exclude: [tmp/**]}
      decryption: {provider: sops}
    - name: chart
      helm: {chart: charts/mon, createNamespace: false}
`,
		"charts/mon/Chart.yaml": "apiVersion: v2\nname: mon\nversion: 0.1.0\n",
	})
	r, err := Load(LoadOptions{Dir: root, LookupEnv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	env, err := r.Environment("local")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Manifests{Path: "deploy"}, env.Component("short").Manifests); diff != "" {
		t.Errorf("short form (-want +got):\n%s", diff)
	}
	long := env.Component("long")
	if diff := cmp.Diff(&Manifests{Path: "deploy", Include: []string{"**/*.yaml"}, Exclude: []string{"tmp/**"}}, long.Manifests); diff != "" {
		t.Errorf("long form (-want +got):\n%s", diff)
	}
	if !long.Decrypts() || env.Component("short").Decrypts() {
		t.Errorf("Decrypts: long %v, short %v", long.Decrypts(), env.Component("short").Decrypts())
	}
	if env.Component("chart").Helm.NamespaceCreated() {
		t.Error("createNamespace: false is not honoured")
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"*.yaml", "a.yaml", true},
		{"*.yaml", "sub/dir/a.yaml", true},
		{"sub/*.yaml", "sub/a.yaml", true},
		{"sub/*.yaml", "sub/dir/a.yaml", false},
		{"sub/**/*.yaml", "sub/a.yaml", true},
		{"sub/**/*.yaml", "sub/dir/deeper/a.yaml", true},
		{"**/test/*", "a/b/test/x.json", true},
		{"dev/**", "dev/x/y.yaml", true},
		{"dev/**", "prod/x.yaml", false},
	}
	for _, tt := range tests {
		if err := CheckGlob(tt.glob); err != nil {
			t.Errorf("CheckGlob(%q): %v", tt.glob, err)
		}
		if got := MatchGlob(tt.glob, tt.path); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.glob, tt.path, got, tt.want)
		}
	}
}
