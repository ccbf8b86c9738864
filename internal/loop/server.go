package loop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/metrics"
)

// Default ports of the loop's listeners, Flux's: metrics, health probes
// and the Git webhook (its notification receiver).
const (
	DefaultMetricsPort = 8080
	DefaultHealthPort  = 9440
	DefaultWebhookPort = 9292
)

// Listeners say where the loop's endpoints are served. Each address serves
// its own paths and no other; "" serves nothing there.
type Listeners struct {
	// Metrics serves GET /metrics.
	Metrics string
	// Health serves GET /healthz (the process answers) and GET /readyz
	// (Runner.Ready).
	Health string
	// Webhook serves POST /hooks/git, over https when WebhookTLSCert and
	// WebhookTLSKey (PEM files) are set.
	Webhook        string
	WebhookTLSCert string
	WebhookTLSKey  string
	// All serves every endpoint on one address (--listen), for a laptop or
	// a test; it is not combined with the three above.
	All string
}

// DefaultListeners are the addresses served when no flag says otherwise:
// Flux's ports on every interface inside a pod, where the kubelet probes
// and Prometheus scrapes the pod's IP, and on loopback only elsewhere, so
// that a daemon on a laptop or a VM is not reachable from its network.
func DefaultListeners(inPod bool) Listeners {
	host := "127.0.0.1"
	if inPod {
		host = ""
	}
	at := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	return Listeners{Metrics: at(DefaultMetricsPort), Health: at(DefaultHealthPort), Webhook: at(DefaultWebhookPort)}
}

// InPod says whether this process runs in a Kubernetes pod: what
// client-go's in-cluster configuration looks for, the service's
// environment variables and the service account token.
func InPod() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" || os.Getenv("KUBERNETES_SERVICE_PORT") == "" {
		return false
	}
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return err == nil
}

// Validate refuses an unusable combination, naming the flags.
func (l Listeners) Validate() error {
	if l.All != "" && (l.Metrics != "" || l.Health != "" || l.Webhook != "") {
		return errs.Inputf("--listen serves every endpoint on one address; give it or --metrics-addr, --health-addr and --webhook-addr, not both")
	}
	if (l.WebhookTLSCert == "") != (l.WebhookTLSKey == "") {
		return errs.Inputf("--webhook-tls-cert and --webhook-tls-key go together: give both or neither")
	}
	if l.WebhookTLSCert != "" && l.Webhook == "" && l.All == "" {
		return errs.Inputf("--webhook-tls-cert: no webhook address to serve it on (--webhook-addr)")
	}
	return nil
}

// Flag names of the listeners.
const (
	FlagListen         = "listen"
	FlagMetricsAddr    = "metrics-addr"
	FlagHealthAddr     = "health-addr"
	FlagWebhookAddr    = "webhook-addr"
	FlagWebhookTLSCert = "webhook-tls-cert"
	FlagWebhookTLSKey  = "webhook-tls-key"
)

// Bind binds the listener flags to l. withDefaults says that an address
// flag left out takes DefaultListeners' address (see Resolve), as the
// help then says; otherwise it serves nothing.
func (l *Listeners) Bind(fs *pflag.FlagSet, withDefaults bool) {
	def := func(what string, port int) string {
		if !withDefaults {
			return what + " (default: none)"
		}
		return fmt.Sprintf("%s (default :%d in a pod, 127.0.0.1:%d elsewhere; \"\" serves none)", what, port, port)
	}
	fs.StringVar(&l.Metrics, FlagMetricsAddr, "", def("address to serve GET /metrics on", DefaultMetricsPort))
	fs.StringVar(&l.Health, FlagHealthAddr, "", def("address to serve the probes GET /healthz and GET /readyz on", DefaultHealthPort))
	fs.StringVar(&l.Webhook, FlagWebhookAddr, "", def("address to serve the Git webhook POST /hooks/git on", DefaultWebhookPort))
	fs.StringVar(&l.WebhookTLSCert, FlagWebhookTLSCert, "", "PEM certificate (chain) the webhook serves https with; read again when it changes")
	fs.StringVar(&l.WebhookTLSKey, FlagWebhookTLSKey, "", "PEM private key of --webhook-tls-cert")
	fs.StringVar(&l.All, FlagListen, "", "serve /metrics, /healthz, /readyz and POST /hooks/git all on this one address instead (default: none)")
}

// Resolve gives each address flag that fs did not get d's address, unless
// --listen was given.
func (l *Listeners) Resolve(fs *pflag.FlagSet, d Listeners) {
	if fs.Changed(FlagListen) {
		return
	}
	for _, a := range []struct {
		flag     string
		to       *string
		fallback string
	}{{FlagMetricsAddr, &l.Metrics, d.Metrics}, {FlagHealthAddr, &l.Health, d.Health}, {FlagWebhookAddr, &l.Webhook, d.Webhook}} {
		if !fs.Changed(a.flag) {
			*a.to = a.fallback
		}
	}
}

// MetricsHandler serves GET /metrics alone.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// HealthHandler serves GET /healthz (the process answers) and GET /readyz
// (Runner.Ready) alone.
func HealthHandler(r *Runner) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := r.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, why+"\n")
	})
	return mux
}

// WebhookHandler serves /hooks/git alone.
func WebhookHandler(hook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hooks/git", hook)
	return mux
}

// Handler serves every endpoint on one mux: /metrics, /healthz, /readyz
// and /hooks/git (Listeners.All).
func Handler(r *Runner, m *metrics.Metrics, hook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	health := HealthHandler(r)
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /readyz", health)
	mux.Handle("/hooks/git", hook)
	return mux
}

// Server is one of the loop's HTTP servers.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen binds addr (":8080", "127.0.0.1:0") and serves h, so that a port
// already in use is reported before the loop starts. flag names the
// address in errors and what names the endpoints in the log.
func Listen(flag, addr, what string, h http.Handler, log *slog.Logger) (*Server, error) {
	return listen(flag, addr, what, h, nil, log)
}

// ListenTLS is Listen over https with the certificate and key of the PEM
// files cert and key, read again when either file changes (a rotated
// certificate is served without a restart).
func ListenTLS(flag, addr, what string, h http.Handler, cert, key string, log *slog.Logger) (*Server, error) {
	kp := &keyPair{certFile: cert, keyFile: key}
	if _, err := kp.get(); err != nil {
		return nil, errs.Input(fmt.Errorf("--%s %s, --%s %s: %w", FlagWebhookTLSCert, cert, FlagWebhookTLSKey, key, err))
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}
	return listen(flag, addr, what+" (https)", h, cfg, log)
}

func listen(flag, addr, what string, h http.Handler, tlsCfg *tls.Config, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errs.Input(fmt.Errorf("%s %s: %w", flag, addr, err))
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "address", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("serving "+what, "address", ln.Addr().String())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting requests and waits for those in flight until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return err
}
