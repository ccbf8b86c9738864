package render

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
)

// recorder is a loopback server that records, for every request, its path
// and the Authorization header it carried.
type recorder struct {
	srv *httptest.Server

	mu   sync.Mutex
	seen []string
}

func newRecorder(t *testing.T, tls bool, h http.HandlerFunc) *recorder {
	rec := &recorder{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		rec.mu.Unlock()
		h(w, r)
	})
	if tls {
		rec.srv = httptest.NewTLSServer(wrapped)
	} else {
		rec.srv = httptest.NewServer(wrapped)
	}
	t.Cleanup(rec.srv.Close)
	return rec
}

// requests are the requests served, as "PATH AUTHORIZATION".
func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// withCredentials receives the requests carrying an Authorization header.
func (r *recorder) withCredentials() []string {
	var out []string
	for _, s := range r.requests() {
		if !strings.HasSuffix(s, " ") {
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) host() string { return hostOf(r.srv.URL) }

// TestCredentialRefusedBeforeAnyRequest: a release whose repoAuth names
// the operator's files or variables, a credential the operator did not
// bind, one bound to another host, or one that would go over plain http,
// stops the render with bad input before any request, even a public
// chart's beside it.
func TestCredentialRefusedBeforeAnyRequest(t *testing.T) {
	t.Setenv("ENVCTL_GIT_PASSWORD", "git-canary-31")
	t.Setenv("SOPS_AGE_KEY", "AGE-SECRET-KEY-canary-32")
	public := newRecorder(t, true, http.NotFound)
	plain := newRecorder(t, false, http.NotFound)
	bound := func(hosts ...string) credential.Set {
		return credential.Set{"charts": {Name: "charts", Hosts: hosts, Username: "reader", Password: "charts-canary-33", From: "the test"}}
	}
	tests := []struct {
		name  string
		repo  string // helm.repo, or an oci:// chart
		auth  config.RepoAuth
		creds credential.Set
		want  string
	}{
		{"a file", public.srv.URL, config.RepoAuth{PasswordFile: "/etc/passwd"}, nil, "helm.repoAuth.passwordFile is refused"},
		{"the service account token", public.srv.URL, config.RepoAuth{PasswordFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}, nil, "helm.repoAuth.passwordFile is refused"},
		{"the Git password's variable", public.srv.URL, config.RepoAuth{Username: "x", PasswordEnv: "ENVCTL_GIT_PASSWORD"}, nil, "helm.repoAuth.username is refused"},
		{"the SOPS key's variable", public.srv.URL, config.RepoAuth{UsernameEnv: "SOPS_AGE_KEY"}, nil, "helm.repoAuth.usernameEnv is refused"},
		{"a CA outside the repository", public.srv.URL, config.RepoAuth{CAFile: "/etc/passwd"}, nil, `helm.repoAuth.caFile "/etc/passwd" is outside the repository`},
		{"a credential not bound", public.srv.URL, config.RepoAuth{Credential: "charts"}, nil,
			`helm.repoAuth.credential "charts" (environments/fid.yaml) is not bound: the operator binds it with --helm-credential charts=` + public.host() +
				" and the variables ENVCTL_HELM_CREDENTIAL_CHARTS_USERNAME and ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD"},
		{"a credential bound to another host", public.srv.URL, config.RepoAuth{Credential: "charts"}, bound("charts.example.com"),
			`helm.repoAuth.credential "charts" (environments/fid.yaml) is bound to charts.example.com, not to ` + public.host()},
		{"another port of the same host", public.srv.URL, config.RepoAuth{Credential: "charts"}, bound(plain.host()),
			`helm.repoAuth.credential "charts" (environments/fid.yaml) is bound to ` + plain.host() + ", not to " + public.host()},
		{"plain http", plain.srv.URL, config.RepoAuth{Credential: "charts"}, bound(plain.host()),
			`helm.repoAuth.credential "charts" (environments/fid.yaml): ` + plain.srv.URL + " is plain http, and a credential is only ever sent over https"},
		{"a registry elsewhere", "oci://" + public.host() + "/charts/tiny", config.RepoAuth{Credential: "charts"}, bound("registry.example.com"),
			`helm.repoAuth.credential "charts" (environments/fid.yaml) is bound to registry.example.com, not to ` + public.host()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			private := &config.HelmRelease{Chart: "tiny", Repo: tt.repo, Version: "1.0.0", Namespace: "private", RepoAuth: &tt.auth}
			if strings.HasPrefix(tt.repo, "oci://") {
				private.Chart, private.Repo = tt.repo, ""
			}
			env := newEnv(config.ProviderEmbedded,
				config.Component{Name: "public", Helm: &config.HelmRelease{Chart: "demo", Repo: public.srv.URL, Version: "1.0.0", Namespace: "public"}},
				config.Component{Name: "private", Helm: private})
			_, err := renderRepo(t, t.TempDir(), env, func(o *Options) { o.Credentials = tt.creds })
			if err == nil {
				t.Fatal("render succeeded")
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("error kind %v, want bad input (exit 2): %v", errs.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), "component private: "+tt.want) {
				t.Errorf("error does not say %q:\n%v", "component private: "+tt.want, err)
			}
			for _, canary := range []string{"git-canary-31", "AGE-SECRET-KEY-canary-32", "charts-canary-33"} {
				if strings.Contains(err.Error(), canary) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
			if got := append(public.requests(), plain.requests()...); len(got) > 0 {
				t.Errorf("requests were made before the refusal: %q", got)
			}
		})
	}
}

// TestCredentialStaysOnItsHost: the credential bound to a repository goes
// with every request to it, and with none to another host: an archive URL
// on a CDN, a redirect to another port of the same address (which Go's
// client would otherwise send it to), or a redirect to plain http.
func TestCredentialStaysOnItsHost(t *testing.T) {
	archives := map[string][]byte{}
	for _, name := range []string{"own", "cdn", "redirected", "downgraded"} {
		archives["/"+name+"-1.0.0.tgz"] = tinyChart(t, name, "1.0.0", name)
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if b, ok := archives[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}
	cdn := newRecorder(t, true, serve)
	plain := newRecorder(t, false, serve)
	var index []byte
	repoSrv := newRecorder(t, true, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "repo-canary-44" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/index.yaml":
			w.Write(index)
		case "/own-1.0.0.tgz":
			serve(w, r)
		case "/go/redirected-1.0.0.tgz":
			http.Redirect(w, r, cdn.srv.URL+"/redirected-1.0.0.tgz", http.StatusFound)
		case "/go/downgraded-1.0.0.tgz":
			http.Redirect(w, r, plain.srv.URL+"/downgraded-1.0.0.tgz", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})
	idx := repo.NewIndexFile()
	for name, url := range map[string]string{
		"own":        "own-1.0.0.tgz",
		"cdn":        cdn.srv.URL + "/cdn-1.0.0.tgz",
		"redirected": "go/redirected-1.0.0.tgz",
		"downgraded": "go/downgraded-1.0.0.tgz",
	} {
		archive := archives["/"+name+"-1.0.0.tgz"]
		ch, err := loader.LoadArchive(bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.MustAdd(ch.Metadata, url, "", sha256Hex(archive)); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if index, err = yaml.Marshal(idx); err != nil {
		t.Fatal(err)
	}

	var comps []config.Component
	for _, name := range []string{"own", "cdn", "redirected", "downgraded"} {
		comps = append(comps, config.Component{Name: name, Helm: &config.HelmRelease{Chart: name, Repo: repoSrv.srv.URL, Version: "1.0.0",
			Namespace: "charts", RepoAuth: &config.RepoAuth{Credential: "charts"}}})
	}
	creds := credential.Set{"charts": {Name: "charts", Hosts: []string{repoSrv.host()}, Username: "reader", Password: "repo-canary-44",
		CA: caOf(repoSrv.srv), From: "the test"}}
	res, err := renderRepo(t, t.TempDir(), newEnv(config.ProviderEmbedded, comps...), func(o *Options) { o.Credentials = creds })
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"own", "cdn", "redirected", "downgraded"} {
		if got := configData(t, res, name+"-"+name)["from"]; got != name {
			t.Errorf("chart %s: from = %v", name, got)
		}
	}
	if got := repoSrv.requests(); len(got) == 0 || len(repoSrv.withCredentials()) != len(got) {
		t.Errorf("the repository got requests without its credential: %q", got)
	}
	for what, rec := range map[string]*recorder{"the CDN": cdn, "the plain http server": plain} {
		if len(rec.requests()) == 0 {
			t.Errorf("%s served nothing; the test proves nothing", what)
		}
		if got := rec.withCredentials(); len(got) > 0 {
			t.Errorf("%s received the credential: %q", what, got)
		}
	}
}

// TestOCICredentialStaysOnItsHost: a registry whose token service lives on
// another host (as Docker Hub's does) does not get the credential sent
// there, which Helm's registry client would do, unless the operator bound
// the credential to that host too.
func TestOCICredentialStaysOnItsHost(t *testing.T) {
	isolateHelmConfig(t)
	tokens := newRecorder(t, true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"token": "anonymous-pull"}`))
	})
	reg := newRegistry(t, true)
	reg.tokenRealm = tokens.srv.URL + "/token"
	reg.push("charts/tiny", "1.0.0", tinyChart(t, "tiny", "1.0.0", "registry"))
	for _, tt := range []struct {
		name      string
		hosts     []string
		wantCreds bool
	}{
		{"bound to the registry", []string{reg.host()}, false},
		{"bound to the registry and its token service", []string{reg.host(), tokens.host()}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tokens.requests())
			creds := credential.Set{"registry": {Name: "registry", Hosts: tt.hosts, Username: "robot", Password: "registry-canary-55",
				CA: caOf(reg.srv), From: "the test"}}
			res, err := renderRepo(t, t.TempDir(), ociEnv("oci://"+reg.host()+"/charts/tiny", "1.0.0", &config.RepoAuth{Credential: "registry"}),
				func(o *Options) { o.Credentials = creds })
			if err != nil {
				t.Fatal(err)
			}
			if got := configData(t, res, "remote-tiny")["from"]; got != "registry" {
				t.Errorf("from = %v", got)
			}
			seen := tokens.requests()[before:]
			if len(seen) == 0 {
				t.Fatal("the token service served nothing; the test proves nothing")
			}
			var withCreds []string
			for _, s := range seen {
				if !strings.HasSuffix(s, " ") {
					withCreds = append(withCreds, s)
				}
			}
			if got := len(withCreds) > 0; got != tt.wantCreds {
				t.Errorf("the token service received the credential: %v, want %v (%q)", got, tt.wantCreds, seen)
			}
		})
	}
}

// TestDependencyCredentials: a chart's dependencies get the release's
// credential on the hosts it is bound to, over https only.
func TestDependencyCredentials(t *testing.T) {
	isolateHelmConfig(t)
	web := tinyChart(t, "web", "2.1.0", "private")
	serveRepo := func(user string) func(w http.ResponseWriter, r *http.Request) {
		idx := repo.NewIndexFile()
		ch, _ := loader.LoadArchive(bytes.NewReader(web))
		if err := idx.MustAdd(ch.Metadata, "web-2.1.0.tgz", "", sha256Hex(web)); err != nil {
			t.Fatal(err)
		}
		index, _ := yaml.Marshal(idx)
		return func(w http.ResponseWriter, r *http.Request) {
			if u, _, ok := r.BasicAuth(); user != "" && (!ok || u != user) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			switch r.URL.Path {
			case "/index.yaml":
				w.Write(index)
			case "/web-2.1.0.tgz":
				w.Write(web)
			default:
				http.NotFound(w, r)
			}
		}
	}
	private := newRecorder(t, true, serveRepo("reader"))
	plain := newRecorder(t, false, serveRepo(""))
	creds := credential.Set{"charts": {Name: "charts", Hosts: []string{private.host(), plain.host()}, Username: "reader",
		Password: "dep-canary-66", CA: caOf(private.srv), From: "the test"}}
	for _, tt := range []struct {
		name, repoURL, want string
	}{
		{"bound, https", private.srv.URL, ""},
		{"bound, plain http", plain.srv.URL, "is plain http, and a credential is only ever sent over https"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := fidelityRepo(t, map[string]string{
				"charts/app/Chart.yaml":        fmt.Sprintf("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: web\n    version: 2.1.0\n    repository: %s\n", tt.repoURL),
				"charts/app/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
			})
			env := newEnv(config.ProviderEmbedded, config.Component{Name: "app", Helm: &config.HelmRelease{Chart: "charts/app", Namespace: "app",
				RepoAuth: &config.RepoAuth{Credential: "charts"}}})
			before := len(plain.requests())
			res, err := renderRepo(t, root, env, func(o *Options) { o.Credentials = creds })
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) || errs.KindOf(err) != errs.KindInput {
					t.Fatalf("err = %v, want bad input saying %q", err, tt.want)
				}
				if n := len(plain.requests()) - before; n != 0 {
					t.Errorf("%d requests went to the plain http repository", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := configData(t, res, "app-web")["from"]; got != "private" {
				t.Errorf("from = %v", got)
			}
		})
	}
}

// TestGuard: the transport of a credential's requests keeps the
// Authorization header only over https to the credential's hosts.
func TestGuard(t *testing.T) {
	var sent []string
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String()+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	g := &guard{next: next, cred: &credential.Credential{Name: "c", Hosts: []string{"charts.example.com", "registry.example.com:5000"}}}
	for _, u := range []string{
		"https://charts.example.com/index.yaml",
		"https://CHARTS.example.com:443/index.yaml",
		"https://registry.example.com:5000/v2/",
		"http://charts.example.com/index.yaml",
		"https://charts.example.com:8443/index.yaml",
		"https://cdn.charts.example.com/a.tgz",
		"https://registry.example.com/v2/",
	} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Basic secret")
		if _, err := g.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Authorization") == "" {
			t.Errorf("%s: the caller's request was changed", u)
		}
	}
	want := []string{
		"https://charts.example.com/index.yaml Basic secret",
		"https://CHARTS.example.com:443/index.yaml Basic secret",
		"https://registry.example.com:5000/v2/ Basic secret",
		"http://charts.example.com/index.yaml ",
		"https://charts.example.com:8443/index.yaml ",
		"https://cdn.charts.example.com/a.tgz ",
		"https://registry.example.com/v2/ ",
	}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("what went out (-want +got):\n%s", diff)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestScrub: an error's text loses every secret value, in the forms an
// error quotes it in, and keeps its kind and causes.
func TestScrub(t *testing.T) {
	cause := errors.New("cause")
	for _, tt := range []struct {
		name   string
		err    error
		values []string
		want   string
	}{
		{"as written", fmt.Errorf("bad value hunter22 in data: %w", cause), []string{"hunter22"}, "bad value <redacted> in data: cause"},
		{"base64", fmt.Errorf("data: aHVudGVyMjI=: %w", cause), []string{"hunter22"}, "data: <redacted>: cause"},
		{"quoted", fmt.Errorf("got %q: %w", "a\"b\ncd", cause), []string{"a\"b\ncd"}, "got \"<redacted>\": cause"},
		{"a line of a key", fmt.Errorf("invalid document separator: -----END KEY-----: %w", cause), []string{"-----BEGIN KEY-----\nabc\n-----END KEY-----\n"}, "invalid document separator: <redacted>: cause"},
		{"the longer first", fmt.Errorf("pass and password1: %w", cause), []string{"pass", "password1"}, "<redacted> and <redacted>: cause"},
		{"too short to tell", fmt.Errorf("ab: %w", cause), []string{"ab"}, "ab: cause"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Scrub(errs.Input(tt.err), tt.values)
			if got := err.Error(); got != tt.want {
				t.Errorf("Scrub = %q, want %q", got, tt.want)
			}
			if errs.KindOf(err) != errs.KindInput || !errors.Is(err, cause) {
				t.Errorf("the scrubbed error lost its kind or cause")
			}
		})
	}
	if Scrub(nil, []string{"x"}) != nil {
		t.Error("Scrub(nil) is not nil")
	}
}

// TestRenderErrorScrubbed: a kustomize error that quotes a value decrypted
// from a SOPS file (a replacement into a decrypted Secret's field) comes
// out of Render without it, still bad input.
func TestRenderErrorScrubbed(t *testing.T) {
	t.Setenv(EnvAgeKey, readTestKey(t, "test.agekey"))
	t.Setenv(EnvAgeKeyFile, "")
	root, env := sopsRepo(t, "age")
	write(t, root, "k/kustomization.yaml", `resources: [namespace.yaml, db.sops.yaml]
replacements:
  - source: {kind: Namespace, fieldPath: metadata.name}
    targets:
      - select: {kind: Secret, name: db}
        fieldPaths: [stringData.password.x]
`)
	_, err := renderRepo(t, root, env, nil)
	if err == nil {
		t.Fatal("render succeeded")
	}
	canary := sopsRepoCanary + "age-db"
	if !strings.Contains(errors.Unwrap(err).Error(), canary) {
		t.Fatalf("kustomize's own error does not quote the value; the test proves nothing: %v", errors.Unwrap(err))
	}
	if strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), Redacted) {
		t.Errorf("the error is not scrubbed of the decrypted value:\n%v", err)
	}
	if errs.KindOf(err) != errs.KindInput {
		t.Errorf("error kind %v, want bad input", errs.KindOf(err))
	}
}
