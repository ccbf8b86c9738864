package git

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/envctl/envctl/internal/errs"
)

// classify turns a failure to reach the remote into an error that says
// what to do, classified for the exit code: what the user fixes in the
// flags is input (exit 2), a deadline is a timeout (exit 4). It names the
// credential that was tried, never its value.
func (s *Source) classify(ctx context.Context, err error) error {
	u := s.url.String()
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		verify  *tls.CertificateVerificationError
		keyErr  *knownhosts.KeyError
		nf      *NotFoundError
		pe      *PathError
		le      *LimitError
		se      *SignatureError
	)
	switch {
	case errors.As(err, &nf), errors.As(err, &pe), errors.As(err, &le), errors.As(err, &se):
		return errs.Input(err)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return errs.Timeout(fmt.Errorf("%s: no answer within --git-timeout %s", u, s.opts.Timeout))
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return errs.Inputf("%s refused the credentials (HTTP 401): %s", u, s.opts.Auth.tried(s.url))
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return errs.Inputf("%s denied access (HTTP 403): %s", u, s.opts.Auth.tried(s.url))
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errs.Inputf("repository %s not found (or not visible to the credentials: %s)", u, s.opts.Auth.tried(s.url))
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return errs.Inputf("repository %s is empty: it has no commits", u)
	case errors.As(err, &dns):
		return errs.Inputf("cannot resolve the host of %s: %s", u, dns.Err)
	case errors.As(err, &unknown), errors.As(err, &verify):
		return errs.Inputf("TLS: the certificate of %s is not signed by a trusted authority; give its CA with --ca-file", u)
	case errors.As(err, &invalid), errors.As(err, &host):
		return errs.Inputf("TLS: the certificate of %s is not valid for it: %v", u, err)
	case errors.As(err, &keyErr):
		if len(keyErr.Want) == 0 {
			return errs.Inputf("the SSH host %s is not in --known-hosts %s", s.url.Address(), s.opts.Auth.KnownHostsFile)
		}
		return errs.Inputf("the SSH host key of %s does not match --known-hosts %s: someone may be impersonating the server; if its key really changed, update the file", s.url.Address(), s.opts.Auth.KnownHostsFile)
	case strings.Contains(err.Error(), "ssh: handshake failed: ssh: unable to authenticate"):
		return errs.Inputf("%s refused the SSH authentication: %s", u, s.opts.Auth.tried(s.url))
	}
	return fmt.Errorf("%s: %w", u, err)
}
