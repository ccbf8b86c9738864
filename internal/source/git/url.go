package git

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Schemes of the URLs a Source reaches.
const (
	SchemeHTTPS = "https"
	SchemeHTTP  = "http"
	SchemeSSH   = "ssh"
	SchemeFile  = "file"
)

// URL is a parsed repository address. It never holds a password: ParseURL
// refuses URLs that carry one.
type URL struct {
	// Scheme is https, http, ssh or file; an scp-like address
	// (git@host:org/repo.git) is ssh.
	Scheme string
	// User is the user name the URL names, if any.
	User string
	// Host is the host name (without port or brackets).
	Host string
	// Port is the port, 0 for the scheme's default.
	Port int
	// Path is the repository path as the server takes it.
	Path string
	// scp is true for the scp-like form, which String keeps.
	scp bool
}

// scpLike is [user@]host:path, as git and ssh take it; a host never holds
// a slash, which tells it apart from a local path with a colon.
var scpLike = regexp.MustCompile(`^(?:([^@/]+)@)?([^@:/\[\]]+|\[[^\]/]+\]):(.+)$`)

// ParseURL parses a repository address: https://, http://, ssh://, file://
// or scp-like (git@github.com:org/repo.git). It refuses what envctl will
// not send requests to, with an error that never repeats a password: a
// password in the URL (give it through ENVCTL_GIT_PASSWORD or
// --git-password-file), git://, query strings and fragments, and control
// characters or a leading dash that another program could take for an
// option.
func ParseURL(raw string) (*URL, error) {
	if raw == "" {
		return nil, errors.New("the repository URL is empty")
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || r == ' ' {
			return nil, fmt.Errorf("the repository URL holds a space or control character")
		}
	}
	if strings.HasPrefix(raw, "-") {
		return nil, fmt.Errorf("the repository URL may not start with '-'")
	}
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			// Not quoted: what does not parse may still hold a secret.
			return nil, errors.New("the repository URL is not one of https://HOST/PATH, ssh://[USER@]HOST/PATH, USER@HOST:PATH or file:///PATH")
		}
		if strings.Contains(strings.SplitN(m[3], "/", 2)[0], "@") {
			// user:password@host/path without a scheme reads as the
			// host "user"; do not carry on with a password in the path.
			return nil, errors.New("the repository URL is not one of https://HOST/PATH, ssh://[USER@]HOST/PATH, USER@HOST:PATH or file:///PATH (it looks like USER:PASSWORD@HOST, and a password belongs in ENVCTL_GIT_PASSWORD)")
		}
		u := &URL{Scheme: SchemeSSH, User: m[1], Host: strings.Trim(m[2], "[]"), Path: m[3], scp: true}
		if strings.Contains(u.User, ":") {
			u.User = ""
			return nil, fmt.Errorf("the repository URL %s carries a password: use an SSH key (--ssh-key) instead", u)
		}
		if strings.HasPrefix(u.Path, "-") {
			return nil, fmt.Errorf("the repository path in %s may not start with '-'", u)
		}
		return u, nil
	}
	p, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the whole input, which may hold a password.
		return nil, fmt.Errorf("the repository URL does not parse (%s)", redactParseError(err))
	}
	scheme := strings.ToLower(p.Scheme)
	u := &URL{Scheme: scheme, Host: p.Hostname(), Path: p.Path}
	if p.User != nil {
		if _, has := p.User.Password(); has {
			u.User = p.User.Username()
			return nil, fmt.Errorf("the repository URL %s carries a password: give it with the ENVCTL_GIT_PASSWORD variable or --git-password-file instead, so that it shows in no process list or log", u)
		}
		u.User = p.User.Username()
	}
	if port := p.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("the repository URL %s has an invalid port %q", u, port)
		}
		u.Port = n
	}
	if p.RawQuery != "" || p.Fragment != "" || p.ForceQuery {
		return nil, fmt.Errorf("the repository URL %s has a query or fragment; a Git URL has neither", u)
	}
	switch scheme {
	case SchemeHTTPS, SchemeHTTP, SchemeSSH:
		if u.Host == "" {
			return nil, fmt.Errorf("the repository URL %s has no host", u)
		}
		if strings.Trim(u.Path, "/") == "" {
			return nil, fmt.Errorf("the repository URL %s names no repository", u)
		}
	case SchemeFile:
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("the repository URL %s names a host; a file:// URL is file:///absolute/path", u)
		}
		u.Host = ""
		if !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("the repository URL %s needs an absolute path", u)
		}
	case "git":
		return nil, fmt.Errorf("git:// is neither authenticated nor encrypted; use https:// or ssh:// (URL %s)", u)
	default:
		return nil, fmt.Errorf("unsupported scheme %q in the repository URL %s: use https, http, ssh or file", p.Scheme, u)
	}
	return u, nil
}

// redactParseError keeps url.Parse's reason without the input it quotes.
func redactParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "malformed"
}

// String prints the URL without its user name, as every message and log
// line shows it.
func (u *URL) String() string {
	host := u.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if u.scp {
		return host + ":" + u.Path
	}
	if u.Port != 0 {
		host = net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	}
	return u.Scheme + "://" + host + u.Path
}

// Address is host:port, with the scheme's default port, as known_hosts
// and proxies name it.
func (u *URL) Address() string {
	port := u.Port
	if port == 0 {
		switch u.Scheme {
		case SchemeHTTPS:
			port = 443
		case SchemeHTTP:
			port = 80
		case SchemeSSH:
			port = 22
		}
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// endpoint is the URL as go-git's transports take it.
func (u *URL) endpoint() *transport.Endpoint {
	return &transport.Endpoint{Protocol: u.Scheme, User: u.User, Host: u.Host, Port: u.Port, Path: u.Path}
}

// key names the repository in the cache: the URL with its user, which
// changes what the server shows.
func (u *URL) key() string {
	return u.Scheme + "://" + u.User + "@" + u.Address() + "/" + strings.TrimPrefix(u.Path, "/")
}

// resolveRelative resolves a submodule URL such as ../other.git against
// this one, as git does for .gitmodules; an absolute URL is parsed as is.
func (u *URL) resolveRelative(ref string) (*URL, error) {
	if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") {
		return ParseURL(ref)
	}
	base := strings.TrimSuffix(u.Path, "/")
	rest := ref
	for {
		switch {
		case strings.HasPrefix(rest, "./"):
			rest = rest[2:]
			continue
		case strings.HasPrefix(rest, "../"):
			rest = rest[3:]
			i := strings.LastIndex(base, "/")
			if i < 0 || base == "" {
				return nil, fmt.Errorf("submodule URL %q climbs above the repository's host", ref)
			}
			base = base[:i]
			continue
		}
		break
	}
	out := *u
	out.Path = base + "/" + rest
	if u.scp && base == "" {
		out.Path = rest
	}
	return &out, nil
}
