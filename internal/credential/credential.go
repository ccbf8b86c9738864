// Package credential holds the chart repository and registry credentials
// that the operator binds to a name and to the hosts they may be sent to.
// A repository only names a credential (helm.repoAuth.credential); what it
// holds and where it may go are the operator's to say, with flags and
// environment variables on the command line or a file (the daemon's
// Secret). Nothing here is ever read from the repository.
package credential

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Environment variables of the command line's bindings. A binding's values
// are read from EnvPrefix + the name upper-cased, dashes as underscores,
// then _USERNAME, _PASSWORD and (optionally) _CA_FILE.
const (
	EnvBindings = "ENVCTL_HELM_CREDENTIAL"
	EnvFile     = "ENVCTL_HELM_CREDENTIALS_FILE"
	EnvPrefix   = EnvBindings + "_"
)

// Parts of a binding read from the environment.
const (
	PartUsername = "USERNAME"
	PartPassword = "PASSWORD"
	PartCAFile   = "CA_FILE"
)

// Credential is a user name and password that the operator lets envctl
// send, as basic auth over https, to its hosts only.
type Credential struct {
	Name string
	// Hosts are where it may be sent: host or host:port, lower-case, the
	// https port left out (see Host).
	Hosts    []string
	Username string
	Password string
	// CA is PEM certificates trusted for the hosts instead of the
	// system's, when the operator gives one.
	CA []byte
	// From says where the binding came from, for messages; it never
	// holds a value.
	From string
}

// Set is the operator's credentials by name.
type Set map[string]*Credential

// nameRE is what a credential name looks like: a DNS label, so that its
// variables' names are unambiguous.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// CheckName reports a name that is not a credential name.
func CheckName(name string) error {
	if len(name) > 63 || !nameRE.MatchString(name) {
		return fmt.Errorf("%q is not a credential name: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters", name)
	}
	return nil
}

// EnvName is the variable that holds part (PartUsername, PartPassword,
// PartCAFile) of credential name: ENVCTL_HELM_CREDENTIAL_CHARTS_PASSWORD.
func EnvName(name, part string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + part
}

// Host checks and normalises a host a credential is bound to: a host name
// or IP address, with a port when it is not https's. No scheme, path or
// user name: a binding names where the credential goes, nothing else.
func Host(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("no host given")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/@?# ") {
		return "", fmt.Errorf("%q is not a host: give the host name, with :port if not 443 (charts.example.com or registry.example.com:5000), without a scheme or path", s)
	}
	u, err := url.Parse("https://" + s)
	if err != nil || u.Host != s || u.Hostname() == "" || strings.HasSuffix(s, ":") {
		return "", fmt.Errorf("%q is not a host name with an optional :port", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port is not a number from 1 to 65535", s)
		}
	}
	return normalize(u.Host), nil
}

// normalize lower-cases a URL's host and drops https's port, so that
// charts.example.com and charts.example.com:443 are one host.
func normalize(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ":443")
}

// Allows reports whether c may be sent with a request to u: over https
// (an oci:// reference is https) to one of its hosts. Plain http never
// carries a credential, whatever its host.
func (c *Credential) Allows(u *url.URL) bool {
	if c == nil || u == nil || (u.Scheme != "https" && u.Scheme != "oci") {
		return false
	}
	return c.Bound(u.Host)
}

// Bound reports whether host (host or host:port) is one of c's.
func (c *Credential) Bound(host string) bool {
	return c != nil && slices.Contains(c.Hosts, normalize(host))
}

// HostList is c's hosts for messages: "a.example.com, b.example.com".
func (c *Credential) HostList() string {
	return strings.Join(c.Hosts, ", ")
}

// Names are the set's credential names, sorted.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Secrets are the values that must never show, for errors to be scrubbed
// of: the passwords. User names are not secret, and scrubbing a common one
// would garble messages.
func (s Set) Secrets() []string {
	var out []string
	for _, n := range s.Names() {
		if p := s[n].Password; p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Merge joins sets; a name bound in two of them is an error, since which
// one the operator meant cannot be told.
func Merge(sets ...Set) (Set, error) {
	out := Set{}
	for _, s := range sets {
		for name, c := range s {
			if prev, ok := out[name]; ok {
				return nil, fmt.Errorf("credential %q is bound twice, by %s and by %s; bind it once", name, prev.From, c.From)
			}
			out[name] = c
		}
	}
	return out, nil
}
