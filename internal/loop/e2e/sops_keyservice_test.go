package e2e

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/envctl/envctl/internal/sopskeys/sopskeystest"
)

// TestSyncDecryptsSOPSThroughAKeyService: a sync that holds no key asks
// the operator's sops key service (sops' own server, on a unix socket,
// holding the age key) and applies the decrypted Secret, every reconcile.
func TestSyncDecryptsSOPSThroughAKeyService(t *testing.T) {
	r := newRepo(t)
	rs := r.sopsApp()
	key, err := os.ReadFile(sopsKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := &sopskeystest.Server{}
	if err := srv.Identities.Import(string(key)); err != nil {
		t.Fatal(err)
	}
	addr := sopskeystest.Serve(t, srv, "unix")

	since := time.Now()
	p := rs.start("sync", r.env, "--sops-keyservice", addr)
	r.reconciled(p, since)
	if v, err := r.token(); err != nil || v != sopsToken {
		t.Errorf("the Secret holds %q (%v), want the decrypted value", v, err)
	}
	if len(srv.Requests()) == 0 {
		t.Error("the key service was never asked")
	}
	if code, _ := p.stop(syscall.SIGTERM, 10*time.Second); code != 0 {
		t.Errorf("sync exit %d after SIGTERM", code)
	}
}
