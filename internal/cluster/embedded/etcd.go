package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// maxUnixSocketPath is the longest socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const maxUnixSocketPath = 107

// etcdServer is the embedded etcd member and the URL its client listens on.
type etcdServer struct {
	etcd      *embed.Etcd
	clientURL string
}

// startEtcd starts a single-member etcd in dir and waits until it serves.
//
// Clients reach it over a unix socket inside the owner-only data directory:
// etcd has no authentication of its own here, and a loopback TCP port would
// hand every local user every Secret in the cluster. The peer listener, which
// no one ever connects to in a one-member cluster, takes a random loopback
// port.
func startEtcd(ctx context.Context, dir string, noFsync bool, logger *slog.Logger) (*etcdServer, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create etcd dir: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "envctl"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newEtcdLogger(logger))
	cfg.LogLevel = "error"

	clientURL, err := etcdClientURL(dir)
	if err != nil {
		return nil, err
	}
	peer, _ := url.Parse("http://127.0.0.1:0")
	cfg.ListenClientUrls = []url.URL{*clientURL}
	// Nothing connects through the advertised client URL of a one-member
	// cluster, and etcd insists on host:port here; an address that cannot be
	// reached keeps a confused client from finding some other etcd.
	advertise, _ := url.Parse("http://127.0.0.111:0")
	cfg.AdvertiseClientUrls = []url.URL{*advertise}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialElectionTickAdvance = true
	// A single member elects itself after one election timeout; the default
	// 1 s heartbeat-to-election ratio keeps that at a few hundred ms.
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	// The v3 gRPC gateway (JSON over HTTP) is unused by the API server.
	cfg.EnableGRPCGateway = false
	// Keep history short: the API server compacts every 5 minutes on its
	// own, and a development cluster has no use for old revisions.
	cfg.AutoCompactionMode = embed.CompactorModeRevision
	cfg.AutoCompactionRetention = "1000"
	cfg.QuotaBackendBytes = 2 << 30
	cfg.UnsafeNoFsync = noFsync
	cfg.Metrics = "basic"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("start etcd: %w", ctx.Err())
	}
	u := clientURL.String()
	if clientURL.Scheme == "http" {
		// A TCP fallback listened on port 0: report the port it got.
		u = "http://" + e.Clients[0].Addr().String()
	}
	return &etcdServer{etcd: e, clientURL: u}, nil
}

// etcdClientURL is a unix socket in dir, or a random loopback port when dir is
// too deep for a socket path.
func etcdClientURL(dir string) (*url.URL, error) {
	abs, err := filepath.Abs(filepath.Join(dir, "etcd.sock"))
	if err != nil {
		return nil, fmt.Errorf("etcd socket path: %w", err)
	}
	if len(abs) > maxUnixSocketPath {
		return url.Parse("http://127.0.0.1:0")
	}
	// A socket left behind by a process that was killed would make the
	// listen fail with "address already in use".
	if err := os.Remove(abs); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("remove stale etcd socket: %w", err)
	}
	return &url.URL{Scheme: "unix", Path: abs}, nil
}

// stop closes etcd's listeners and the backend.
func (s *etcdServer) stop() {
	s.etcd.Close()
}
