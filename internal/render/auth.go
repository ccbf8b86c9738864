package render

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/envctl/envctl/internal/config"
	"github.com/envctl/envctl/internal/credential"
	"github.com/envctl/envctl/internal/errs"
)

// credentials are what envctl presents to a chart repository or registry:
// the operator's credential that the release names, if any, and an HTTP
// client that trusts the CA of its binding (or of the repository's
// caFile, for a repository that takes no credential).
type credentials struct {
	// cred is sent as basic auth, and only over https to its hosts.
	cred *credential.Credential
	// client trusts the CA and, with a credential, strips it from any
	// request it may not go with (a redirect, a CDN); nil uses the
	// default client.
	client *http.Client
}

// forURL returns the credentials to send to target: the credential where
// it is bound, and none (but the same CA) elsewhere or over plain http.
func (c *credentials) forURL(target string) *credentials {
	if c == nil || c.cred == nil {
		return c
	}
	if u, err := url.Parse(target); err == nil && c.cred.Allows(u) {
		return c
	}
	return &credentials{client: c.client}
}

// basic is the user name and password to send, if any.
func (c *credentials) basic() (user, password string, ok bool) {
	if c == nil || c.cred == nil {
		return "", "", false
	}
	return c.cred.Username, c.cred.Password, true
}

// hint tells the user where to look after an authorization failure.
func (c *credentials) hint() string {
	if c == nil || c.cred == nil {
		return "no credentials were sent; name a credential in helm.repoAuth.credential and bind it with --helm-credential NAME=HOST"
	}
	return fmt.Sprintf("check credential %q (%s)", c.cred.Name, c.cred.From)
}

// checkRepoAuth refuses the repoAuth fields that let a repository choose
// the operator's variables or files; config validation refuses them too,
// and this keeps a hand-built environment from reaching them.
func checkRepoAuth(a *config.RepoAuth) error {
	for _, f := range []struct{ field, value string }{
		{"username", a.Username}, {"usernameEnv", a.UsernameEnv}, {"passwordEnv", a.PasswordEnv}, {"passwordFile", a.PasswordFile},
	} {
		if f.value != "" {
			return errs.Inputf("helm.repoAuth.%s is refused: a repository names a credential (helm.repoAuth.credential), which the operator binds to a host with --helm-credential", f.field)
		}
	}
	if a.Credential != "" && a.CAFile != "" {
		return errs.Inputf("helm.repoAuth.caFile is not used with credential %q: its CA comes with the operator's binding", a.Credential)
	}
	return nil
}

// parseChartURL parses the URL of a chart repository or an oci:// reference,
// whose requests go over https unless envctl talks plain http to a
// registry on this machine (never with a credential).
func parseChartURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errs.Inputf("%q is not a chart repository URL or oci:// reference", raw)
	}
	return u, nil
}

// auth returns the credentials a release's repoAuth gives for requests to
// target (helm.repo, the oci:// chart, or a dependency's repository).
// For the release's own chart (dependency false) a credential that is
// not bound, bound to another host, or would go over plain http is
// refused; a dependency elsewhere simply gets none. Nil auth gives nil.
func (r *renderer) auth(a *config.RepoAuth, target string, dependency bool) (*credentials, error) {
	if a == nil {
		return nil, nil
	}
	if err := checkRepoAuth(a); err != nil {
		return nil, err
	}
	c := &credentials{}
	var ca []byte
	if a.Credential != "" {
		u, err := parseChartURL(target)
		if err != nil {
			return nil, err
		}
		cred, err := r.credential(a.Credential, u, dependency)
		if err != nil {
			return nil, err
		}
		c.cred = cred
		if cred != nil {
			ca = cred.CA
		}
	}
	if a.CAFile != "" {
		var err error
		if ca, err = r.repoCA(a.CAFile); err != nil {
			return nil, err
		}
	}
	if c.cred == nil && ca == nil {
		return nil, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = tr
	if c.cred != nil {
		rt = &guard{next: tr, cred: c.cred}
	}
	c.client = &http.Client{Transport: rt, Timeout: 2 * time.Minute}
	return c, nil
}

// credential is the operator's credential called name, to send with
// requests to u, or an input error saying why it may not go there. For a
// dependency, a host the credential is not bound to gets none, without an
// error.
func (r *renderer) credential(name string, u *url.URL, dependency bool) (*credential.Credential, error) {
	where := r.envFile()
	cred := r.opts.Credentials[name]
	if cred == nil {
		return nil, r.notBound(name, u.Host)
	}
	if !cred.Bound(u.Host) {
		if dependency {
			return nil, nil
		}
		return nil, errs.Inputf("helm.repoAuth.credential %q%s is bound to %s, not to %s: envctl sends a credential only to the hosts the operator bound it to",
			name, where, cred.HostList(), u.Host)
	}
	if u.Scheme == "http" {
		return nil, errs.Inputf("helm.repoAuth.credential %q%s: %s is plain http, and a credential is only ever sent over https", name, where, u.Redacted())
	}
	return cred, nil
}

// notBound says that the credential a release names has no binding, and
// how the operator makes one for host.
func (r *renderer) notBound(name, host string) error {
	return errs.Inputf("helm.repoAuth.credential %q%s is not bound: the operator binds it with --helm-credential %s=%s and the variables %s and %s, or in --helm-credentials-file",
		name, r.envFile(), name, host, credential.EnvName(name, credential.PartUsername), credential.EnvName(name, credential.PartPassword))
}

// envFile names the environment's file in a message: " (environments/ci.yaml)".
func (r *renderer) envFile() string {
	if r.env.File == "" {
		return ""
	}
	return " (" + r.env.File + ")"
}

// checkCredentials refuses, before any request is made, every selected
// release whose repoAuth the operator's bindings do not allow.
func (r *renderer) checkCredentials(comps []config.Component) error {
	var failed []error
	for _, c := range comps {
		if c.Helm == nil || c.Helm.RepoAuth == nil {
			continue
		}
		h := c.Helm
		var err error
		switch {
		case isOCI(h.Chart):
			_, err = r.auth(h.RepoAuth, h.Chart, false)
		case h.Repo != "":
			_, err = r.auth(h.RepoAuth, h.Repo, false)
		default:
			// A chart in the repository: the credential serves its
			// dependencies, on the hosts it is bound to.
			err = checkRepoAuth(h.RepoAuth)
			if name := h.RepoAuth.Credential; err == nil && name != "" && r.opts.Credentials[name] == nil {
				err = r.notBound(name, "HOST")
			}
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("component %s: %w", c.Name, err))
		}
	}
	if len(failed) > 0 {
		return joinFailures(failed)
	}
	return nil
}

// repoCA reads a CA bundle that the repository holds; a path outside it
// would let a commit choose the operator's files.
func (r *renderer) repoCA(file string) ([]byte, error) {
	if filepath.IsAbs(file) || strings.HasPrefix(file, "~") {
		return nil, errs.Inputf("helm.repoAuth.caFile %q is outside the repository: a repository may not choose the operator's files", file)
	}
	p, err := r.src.Resolve(file)
	if err != nil {
		return nil, fmt.Errorf("helm.repoAuth.caFile: %w", err)
	}
	pem, err := os.ReadFile(p)
	if err != nil {
		return nil, errs.Inputf("helm.repoAuth.caFile: %v", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, errs.Inputf("helm.repoAuth.caFile %s holds no PEM certificate", file)
	}
	return pem, nil
}

// guard is the transport of every request made with a credential: the
// Authorization header goes only over https to the credential's hosts, so
// that a redirect, an archive URL elsewhere or a registry's token service
// on another host never receives it, whatever the client above does.
type guard struct {
	next http.RoundTripper
	cred *credential.Credential
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" && !g.cred.Allows(req.URL) {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.next.RoundTrip(req)
}

// expandHome resolves a leading ~/ to the user's home directory.
func expandHome(p string) (string, error) {
	rest, ok := strings.CutPrefix(p, "~/")
	if !ok {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, rest), nil
}
