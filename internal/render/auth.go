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
	"github.com/envctl/envctl/internal/errs"
)

// credentials are what envctl presents to a chart repository or registry:
// basic auth and an HTTP client that trusts the configured CA. Values come
// from the environment or files at render time; they are never logged.
type credentials struct {
	// host is the host:port the credentials are for; requests to another
	// host (a CDN serving the archives) go without them, as with Helm.
	host               string
	username, password string
	// client trusts the CA file; nil uses the default client.
	client *http.Client
	// from says where the credentials come from, for messages.
	from string
}

// forURL returns the credentials to send to target, fetched for the
// repository at repoURL: the same credentials on the same host, and none
// (but the same CA) elsewhere.
func (c *credentials) forURL(repoURL, target string) *credentials {
	if c == nil {
		return nil
	}
	u, err := url.Parse(target)
	if err == nil && u.Host == c.host {
		return c
	}
	return &credentials{client: c.client}
}

// hint tells the user where to look after an authorization failure.
func (c *credentials) hint() string {
	if c == nil || c.username == "" {
		return "no credentials were sent; set helm.repoAuth"
	}
	return "check the credentials from " + c.from
}

// auth reads the credentials a release's repoAuth points at, for the host
// of chartURL (helm.repo, or the registry of an oci:// chart). Nil auth
// gives nil credentials.
func (r *renderer) auth(a *config.RepoAuth, chartURL string) (*credentials, error) {
	if a == nil {
		return nil, nil
	}
	u, err := url.Parse(strings.Replace(chartURL, "oci://", "https://", 1))
	if err != nil {
		return nil, errs.Inputf("helm.repoAuth: %q is not a URL", chartURL)
	}
	c := &credentials{host: u.Host, username: a.Username}
	var from []string
	if a.UsernameEnv != "" {
		v, ok := os.LookupEnv(a.UsernameEnv)
		if !ok || v == "" {
			return nil, errs.Inputf("helm.repoAuth.usernameEnv: environment variable %s is not set", a.UsernameEnv)
		}
		c.username = v
		from = append(from, "$"+a.UsernameEnv)
	}
	switch {
	case a.PasswordEnv != "":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok || v == "" {
			return nil, errs.Inputf("helm.repoAuth.passwordEnv: environment variable %s is not set", a.PasswordEnv)
		}
		c.password = v
		from = append(from, "$"+a.PasswordEnv)
	case a.PasswordFile != "":
		p, err := expandHome(a.PasswordFile)
		if err != nil {
			return nil, errs.Inputf("helm.repoAuth.passwordFile: %v", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, errs.Inputf("helm.repoAuth.passwordFile: %v", err)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
		from = append(from, a.PasswordFile)
	}
	if a.CAFile != "" {
		p := a.CAFile
		if filepath.IsAbs(p) || strings.HasPrefix(p, "~/") {
			if p, err = expandHome(p); err != nil {
				return nil, errs.Inputf("helm.repoAuth.caFile: %v", err)
			}
		} else if p, err = r.src.Resolve(p); err != nil {
			return nil, fmt.Errorf("helm.repoAuth.caFile: %w", err)
		}
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, errs.Inputf("helm.repoAuth.caFile: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errs.Inputf("helm.repoAuth.caFile %s holds no PEM certificate", a.CAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.client = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	}
	if c.username == "" {
		c.password = ""
	}
	c.from = strings.Join(from, " and ")
	if c.from == "" {
		c.from = "helm.repoAuth"
	}
	return c, nil
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
