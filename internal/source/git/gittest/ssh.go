package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	gliderssh "github.com/gliderlabs/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves the bare repositories under a root over SSH, running
// git-upload-pack for each session as an SSH Git host does. Only the
// client key it made is let in.
type SSHServer struct {
	// Addr is host:port.
	Addr string
	// KeyFile is the client's private key (OpenSSH format).
	KeyFile string
	// KnownHosts is a known_hosts file that lists the server's key.
	KnownHosts string
	// HostKey is the server's public key.
	HostKey ssh.PublicKey
}

// NewSSHServer starts a server over root, stopped when t ends. With
// passphrase, the client key file is encrypted with it.
func NewSSHServer(t testing.TB, root, passphrase string) *SSHServer {
	t.Helper()
	NeedGit(t)
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &SSHServer{KeyFile: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts"), HostKey: hostSigner.PublicKey()}
	var block *pem.Block
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(clientPriv, "envctl test", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(clientPriv, "envctl test")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.KeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &gliderssh.Server{
		HostSigners: []gliderssh.Signer{hostSigner},
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			return gliderssh.KeysEqual(key, authorized)
		},
		Handler: func(sess gliderssh.Session) { serveGit(sess, root) },
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the ssh:// URL of the repository name.
func (s *SSHServer) URL(name string) string {
	return "ssh://git@" + s.Addr + "/" + name
}

// serveGit runs the git-upload-pack the client asked for on a repository
// under root.
func serveGit(sess gliderssh.Session, root string) {
	args := sess.Command()
	if len(args) != 2 || args[0] != "git-upload-pack" {
		fmt.Fprintf(sess.Stderr(), "only git-upload-pack is served, not %q\n", sess.RawCommand())
		_ = sess.Exit(1)
		return
	}
	repo := filepath.Join(root, filepath.Clean("/"+args[1]))
	if _, err := os.Stat(repo); err != nil || !strings.HasPrefix(repo, root+string(filepath.Separator)) {
		fmt.Fprintf(sess.Stderr(), "fatal: '%s' does not appear to be a git repository\n", args[1])
		_ = sess.Exit(128)
		return
	}
	cmd := exec.Command("git", "upload-pack", "--strict", repo)
	cmd.Env = gitEnv()
	cmd.Stdout, cmd.Stderr = sess, sess.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = sess.Exit(1)
		return
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(sess.Stderr(), "start git-upload-pack: %v\n", err)
		_ = sess.Exit(1)
		return
	}
	go func() {
		_, _ = io.Copy(stdin, sess)
		_ = stdin.Close()
	}()
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	_ = sess.Exit(code)
}
