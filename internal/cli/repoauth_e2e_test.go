package cli

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// chartServer is a chart repository (or a CDN) on loopback that records
// every request with the Authorization header it carried.
type chartServer struct {
	t   *testing.T
	srv *httptest.Server
	// user and password, when set, are required on every request.
	user, password string

	mu        sync.Mutex
	seen      []string // "PATH AUTHORIZATION"
	files     map[string][]byte
	redirects map[string]string
	index     *repo.IndexFile
}

func newChartServer(t *testing.T, tls bool) *chartServer {
	s := &chartServer{t: t, files: map[string][]byte{}, redirects: map[string]string{}, index: repo.NewIndexFile()}
	if tls {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *chartServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, r.URL.Path+" "+r.Header.Get("Authorization"))
	if u, p, ok := r.BasicAuth(); s.user != "" && (!ok || u != s.user || p != s.password) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if to, ok := s.redirects[r.URL.Path]; ok {
		http.Redirect(w, r, to, http.StatusFound)
		return
	}
	if r.URL.Path == "/index.yaml" {
		b, _ := yaml.Marshal(s.index)
		w.Write(b)
		return
	}
	if b, ok := s.files[r.URL.Path]; ok {
		w.Write(b)
		return
	}
	http.NotFound(w, r)
}

func (s *chartServer) host() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.srv.URL, "https://"), "http://")
}

// file serves archive at path.
func (s *chartServer) file(path string, archive []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = archive
}

// list adds archive to the index, downloaded from url.
func (s *chartServer) list(archive []byte, url string) {
	s.t.Helper()
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.index.MustAdd(ch.Metadata, url, "", ""); err != nil {
		s.t.Fatal(err)
	}
}

// redirect answers path with a redirect to url.
func (s *chartServer) redirect(path, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirects[path] = url
}

func (s *chartServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// withCredentials are the requests that carried an Authorization header.
func (s *chartServer) withCredentials() []string {
	var out []string
	for _, r := range s.requests() {
		if !strings.HasSuffix(r, " ") {
			out = append(out, r)
		}
	}
	return out
}

// caFile writes the server's certificate as a PEM file.
func (s *chartServer) caFile() string {
	s.t.Helper()
	p := filepath.Join(s.t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// packageChart is a chart archive whose one ConfigMap, RELEASE-NAME, says
// where it came from.
func packageChart(t *testing.T, name, from string) []byte {
	t.Helper()
	ch := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: "v2", Name: name, Version: "1.0.0"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + name + "\ndata:\n  from: " + from + "\n")}},
	}
	file, err := chartutil.Save(ch, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// helmComponent is one Helm release of chart in repoURL, with repoAuth
// (flow YAML, or empty).
type helmComponent struct{ name, chart, repoURL, repoAuth string }

// helmEnvironment writes the environment with the given releases, into
// the test's namespace.
func (e *e2e) helmEnvironment(comps ...helmComponent) {
	e.t.Helper()
	var b strings.Builder
	for _, c := range comps {
		fmt.Fprintf(&b, "    - name: %s\n      helm:\n        chart: %s\n        repo: %s\n        version: 1.0.0\n        namespace: %s\n", c.name, c.chart, c.repoURL, e.ns)
		if c.repoAuth != "" {
			fmt.Fprintf(&b, "        repoAuth: %s\n", c.repoAuth)
		}
	}
	e.write("environments/"+e.env+".yaml", `apiVersion: envctl.dev/v1alpha1
kind: Environment
metadata:
  name: `+e.env+`
spec:
  cluster:
    provider: existing
    existing:
      kubeconfig: `+e.kubeconfig+`
  components:
`+b.String())
}

// TestRepoAuthFromTheOperator runs envctl processes against chart
// repositories on loopback. A repository that names the operator's files
// or variables (/etc/passwd, the service account token, ENVCTL_GIT_PASSWORD,
// SOPS_AGE_KEY), a credential bound to another host, or one over plain
// http is refused with exit 2 before any request; a credential the
// operator bound (flags and variables, or a credentials file) goes with
// every request to its host and with none to a CDN or a redirect target,
// and no output shows it.
func TestRepoAuthFromTheOperator(t *testing.T) {
	e := newE2E(t, "repoauth")
	const (
		password    = "charts-canary-4242"
		gitPassword = "git-canary-5151"
		ageKey      = "AGE-SECRET-KEY-1CANARY6161"
	)
	private := newChartServer(t, true) // the operator's repository, which needs the credential
	private.user, private.password = "reader", password
	cdn := newChartServer(t, true)    // another port of the same address: another host
	plain := newChartServer(t, false) // plain http
	for _, name := range []string{"own", "cdn", "moved"} {
		archive := packageChart(t, name, name)
		switch name {
		case "own":
			private.file("/own-1.0.0.tgz", archive)
			private.list(archive, "own-1.0.0.tgz")
		case "cdn":
			cdn.file("/cdn-1.0.0.tgz", archive)
			private.list(archive, cdn.srv.URL+"/cdn-1.0.0.tgz")
		case "moved":
			plain.file("/moved-1.0.0.tgz", archive)
			private.list(archive, "moved-1.0.0.tgz")
			private.redirect("/moved-1.0.0.tgz", plain.srv.URL+"/moved-1.0.0.tgz")
		}
	}
	public := packageChart(t, "public", "public")
	cdn.file("/public-1.0.0.tgz", public)
	cdn.list(public, "public-1.0.0.tgz")
	plain.file("/public-1.0.0.tgz", public)
	plain.list(public, "public-1.0.0.tgz")

	secrets := []string{"ENVCTL_GIT_PASSWORD=" + gitPassword, "SOPS_AGE_KEY=" + ageKey}
	bound := func(host string) []string {
		return append([]string{"ENVCTL_HELM_CREDENTIAL=charts=" + host, "ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME=reader",
			"ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD=" + password, "ENVCTL_HELM_CREDENTIAL_CHARTS_CA_FILE=" + private.caFile()}, secrets...)
	}
	noCredentials := func(t *testing.T, p *proc) {
		t.Helper()
		for _, s := range []*chartServer{cdn, plain} {
			if got := s.withCredentials(); len(got) > 0 {
				t.Errorf("%s received credentials: %q", s.srv.URL, got)
			}
		}
		for _, secret := range []string{password, gitPassword, ageKey} {
			if strings.Contains(p.out.String()+p.errOut.String(), secret) {
				t.Errorf("envctl's output shows a secret value (%s)", secret)
			}
		}
	}

	refusals := []struct {
		name string
		cmd  string
		comp helmComponent
		env  []string
		want []string
	}{
		{"/etc/passwd", "apply", helmComponent{"private", "own", private.srv.URL, "{username: x, passwordFile: /etc/passwd}"}, secrets,
			[]string{"environments/repoauth.yaml:", "spec.components[1].helm.repoAuth.passwordFile: component \"private\": passwordFile is refused: a repository may not choose the operator's files"}},
		{"the service account token", "diff", helmComponent{"private", "own", private.srv.URL, "{username: x, passwordFile: /var/run/secrets/kubernetes.io/serviceaccount/token}"}, secrets,
			[]string{"spec.components[1].helm.repoAuth.passwordFile: component \"private\": passwordFile is refused"}},
		{"ENVCTL_GIT_PASSWORD", "diff", helmComponent{"private", "own", private.srv.URL, "{username: x, passwordEnv: ENVCTL_GIT_PASSWORD}"}, secrets,
			[]string{"spec.components[1].helm.repoAuth.passwordEnv: component \"private\": passwordEnv is refused: a repository may not choose the operator's environment variables",
				"--helm-credential NAME=HOST and the variables ENVCTL_HELM_CREDENTIAL_<NAME>_USERNAME and _PASSWORD"}},
		{"SOPS_AGE_KEY", "apply", helmComponent{"private", "own", private.srv.URL, "{usernameEnv: SOPS_AGE_KEY, passwordEnv: SOPS_AGE_KEY}"}, secrets,
			[]string{"spec.components[1].helm.repoAuth.usernameEnv", "spec.components[1].helm.repoAuth.passwordEnv"}},
		{"a credential bound to another host", "apply", helmComponent{"private", "public", cdn.srv.URL, "{credential: charts}"}, bound(private.host()),
			[]string{`component private: helm.repoAuth.credential "charts" (environments/repoauth.yaml) is bound to ` + private.host() + ", not to " + cdn.host()}},
		{"plain http", "apply", helmComponent{"private", "public", plain.srv.URL, "{credential: charts}"}, bound(plain.host()),
			[]string{`helm.repo "` + plain.srv.URL + `" is plain http, and a credential is only ever sent over https`}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := len(private.requests()) + len(cdn.requests()) + len(plain.requests())
			// A public release beside it: not even its chart is fetched.
			e.helmEnvironment(helmComponent{"public", "public", cdn.srv.URL, ""}, tt.comp)
			p := e.start("", tt.env, tt.cmd)
			if code := p.wait(time.Minute); code != ExitInput {
				t.Errorf("envctl %s: exit %d, want %d", tt.cmd, code, ExitInput)
			}
			mustContain(t, "the error", p.errOut.String(), tt.want...)
			if after := len(private.requests()) + len(cdn.requests()) + len(plain.requests()); after != before {
				t.Errorf("%d requests reached the chart servers before the refusal", after-before)
			}
			noCredentials(t, p)
		})
	}

	// Bound by the operator: the credential goes to its repository, and
	// the archives on the CDN and behind a redirect to plain http come
	// without it.
	e.helmEnvironment(
		helmComponent{"own", "own", private.srv.URL, "{credential: charts}"},
		helmComponent{"cdn", "cdn", private.srv.URL, "{credential: charts}"},
		helmComponent{"moved", "moved", private.srv.URL, "{credential: charts}"},
	)
	p := e.start("", bound(private.host()), "apply")
	if code := p.wait(timeoutRun); code != ExitOK {
		t.Fatalf("apply with the credential bound: exit %d\n%s", code, p.errOut.String())
	}
	for _, name := range []string{"own", "cdn", "moved"} {
		if !e.configMapExists(name + "-" + name) {
			t.Errorf("ConfigMap %s-%s of chart %s was not applied", name, name, name)
		}
	}
	if got := private.requests(); len(got) == 0 || len(private.withCredentials()) != len(got) {
		t.Errorf("the repository got requests without the credential: %q", got)
	}
	for _, s := range []*chartServer{cdn, plain} {
		if len(s.requests()) == 0 {
			t.Errorf("%s served nothing; the test proves nothing", s.srv.URL)
		}
	}
	noCredentials(t, p)

	// The same binding as a credentials file, which is what the daemon
	// reads from its Secret; bound to another host, it is refused.
	ca, err := os.ReadFile(private.caFile())
	if err != nil {
		t.Fatal(err)
	}
	file := func(host string) string {
		f := filepath.Join(t.TempDir(), "helm-credentials.yaml")
		data := "apiVersion: envctl.dev/v1alpha1\nkind: HelmCredentials\ncredentials:\n  - name: charts\n    hosts: [\"" + host + "\"]\n" +
			"    username: reader\n    password: " + password + "\n    ca: |\n      " + strings.ReplaceAll(strings.TrimSpace(string(ca)), "\n", "\n      ") + "\n"
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	p = e.start("", secrets, "render", "--helm-credentials-file", file(private.host()), "--chart-cache-dir", t.TempDir())
	if code := p.wait(timeoutRun); code != ExitOK {
		t.Fatalf("render with a credentials file: exit %d\n%s", code, p.errOut.String())
	}
	noCredentials(t, p)
	before := len(private.requests())
	p = e.start("", secrets, "render", "--helm-credentials-file", file(cdn.host()), "--chart-cache-dir", t.TempDir())
	if code := p.wait(time.Minute); code != ExitInput {
		t.Errorf("render with the credential bound to another host: exit %d, want %d", code, ExitInput)
	}
	mustContain(t, "the error", p.errOut.String(), `is bound to `+cdn.host()+", not to "+private.host())
	if n := len(private.requests()) - before; n != 0 {
		t.Errorf("%d requests reached the repository", n)
	}
	noCredentials(t, p)
}
