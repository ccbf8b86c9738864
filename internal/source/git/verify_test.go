package git

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/envctl/envctl/internal/errs"
	"github.com/envctl/envctl/internal/source/git/gittest"
)

// sshSigningKey makes an SSH key with ssh-keygen and returns the private
// key file and its allowed_signers line.
func sshSigningKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed; git signs with it")
	}
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, "test@envctl.dev " + strings.TrimSpace(string(pub))
}

// pgpEntity makes an OpenPGP key and returns it with its armored public
// key.
func pgpEntity(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@envctl.dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, buf.String()
}

// pgpCommit commits the work tree with go-git, signed by e, and pushes.
func pgpCommit(t *testing.T, r *gittest.Repo, e *openpgp.Entity, msg string) string {
	t.Helper()
	repo, err := gogit.PlainOpen(r.Work)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "envctl test", Email: "test@envctl.dev", When: time.Now()}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: sig, Committer: sig, SignKey: e, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Git("push", "-q", "--force", "origin", "HEAD:refs/heads/main")
	return h.String()
}

// TestVerifySignatures checks --verify-signatures with SSH keys (commits
// and tags signed by git through ssh-keygen) and OpenPGP keys.
func TestVerifySignatures(t *testing.T) {
	f := newFixture(t, gittest.HTTPOptions{})
	keys := t.TempDir()
	signer, allowed := sshSigningKey(t, keys, "signer")
	_, stranger := sshSigningKey(t, keys, "stranger")
	strangerKey := filepath.Join(keys, "stranger")
	writeKeys := func(name, content string) string {
		p := filepath.Join(keys, name)
		must(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	allowedFile := writeKeys("allowed_signers", "# the release key\n"+allowed+"\n")
	strangerFile := writeKeys("stranger_signers", stranger+"\n")
	fileNamespace := writeKeys("file_ns", strings.Replace(allowed, "test@envctl.dev ", `test@envctl.dev namespaces="file" `, 1)+"\n")
	expired := writeKeys("expired", strings.Replace(allowed, "test@envctl.dev ", `test@envctl.dev valid-before="20200101" `, 1)+"\n")
	entity, pgpPub := pgpEntity(t, "releaser")
	_, otherPub := pgpEntity(t, "other")
	pgpFile := writeKeys("release.asc", pgpPub)
	otherPGP := writeKeys("other.asc", otherPub)

	r := f.repo
	r.Git("config", "gpg.format", "ssh")
	r.Git("config", "user.signingkey", signer)

	// main: a commit signed with the SSH key; branches for the others.
	r.Write(map[string]string{"config.yaml": "v: signed\n"})
	sshSigned := r.Commit("signed", "-S")
	r.Tag("v1.0.0", "signed release", "-s")
	r.Tag("v1.1.0", "unsigned release")
	r.Tag("light", "")
	r.Git("checkout", "-q", "-b", "unsigned")
	r.Write(map[string]string{"config.yaml": "v: unsigned\n"})
	r.Commit("unsigned")
	r.Git("checkout", "-q", "-b", "stranger")
	r.Git("config", "user.signingkey", strangerKey)
	r.Commit("signed by a stranger", "-S")
	r.Git("checkout", "-q", "main")
	r.Git("checkout", "-q", "-b", "pgp")
	r.Write(map[string]string{"config.yaml": "v: pgp\n"})
	pgpSigned := pgpCommit(t, r, entity, "signed with OpenPGP")
	r.Git("push", "-q", "--force", "origin", pgpSigned+":refs/heads/pgp")
	r.ForcePush("main", sshSigned)

	// A commit whose message was changed after signing.
	bare, err := gogit.PlainOpen(r.Bare)
	must(t, err)
	orig, err := bare.CommitObject(plumbing.NewHash(sshSigned))
	must(t, err)
	forged := *orig
	forged.Message = "not what was signed\n"
	obj := bare.Storer.NewEncodedObject()
	must(t, forged.Encode(obj))
	forgedHash, err := bare.Storer.SetEncodedObject(obj)
	must(t, err)
	must(t, bare.Storer.SetReference(plumbing.NewHashReference("refs/heads/forged", forgedHash)))

	tests := []struct {
		name string
		ref  Ref
		keys string
		want string // "" for success
	}{
		{name: "ssh-signed commit", ref: Ref{Branch: "main"}, keys: allowedFile},
		{name: "ssh-signed commit by its hash", ref: Ref{Commit: sshSigned}, keys: allowedFile},
		{name: "unsigned commit", ref: Ref{Branch: "unsigned"}, keys: allowedFile, want: "not signed"},
		{name: "signed by a key not allowed", ref: Ref{Branch: "stranger"}, keys: allowedFile, want: "which is not in " + allowedFile},
		{name: "signed by the other key", ref: Ref{Branch: "main"}, keys: strangerFile, want: "which is not in"},
		{name: "key limited to another namespace", ref: Ref{Branch: "main"}, keys: fileNamespace, want: "may not sign in the git namespace"},
		{name: "expired key", ref: Ref{Branch: "main"}, keys: expired, want: "expired"},
		{name: "changed after signing", ref: Ref{Branch: "forged"}, keys: allowedFile, want: "does not match"},
		{name: "signed tag", ref: Ref{Tag: "v1.0.0"}, keys: allowedFile},
		{name: "semver picks a signed tag", ref: Ref{Semver: "~1.0"}, keys: allowedFile},
		{name: "unsigned tag", ref: Ref{Tag: "v1.1.0"}, keys: allowedFile, want: "tag v1.1.0"},
		{name: "lightweight tag", ref: Ref{Tag: "light"}, keys: allowedFile, want: "a lightweight tag"},
		{name: "OpenPGP-signed commit", ref: Ref{Branch: "pgp"}, keys: pgpFile},
		{name: "OpenPGP signature, other key", ref: Ref{Branch: "pgp"}, keys: otherPGP, want: "not by a key in " + otherPGP},
		{name: "OpenPGP signature, SSH keys", ref: Ref{Branch: "pgp"}, keys: allowedFile, want: "signed with OpenPGP, but"},
		{name: "SSH signature, OpenPGP keys", ref: Ref{Branch: "main"}, keys: pgpFile, want: "signed with an SSH key, but"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKeys(tt.keys)
			if err != nil {
				t.Fatal(err)
			}
			s := f.source(func(o *Options) { o.Ref, o.Keys = tt.ref, k })
			snap, err := s.Snapshot(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(snap.Revision, "sha1:") {
					t.Errorf("revision %q", snap.Revision)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Snapshot = %v, want an error saying %q", err, tt.want)
			}
			if errs.KindOf(err) != errs.KindInput {
				t.Errorf("kind %v, want input", errs.KindOf(err))
			}
		})
	}
}

// TestParseKeys checks the keys file formats and their errors.
func TestParseKeys(t *testing.T) {
	_, pub := pgpEntity(t, "k")
	tests := []struct {
		name, data, want string
	}{
		{name: "OpenPGP", data: pub},
		{name: "allowed_signers with options and a comment", data: "# keys\nalice@x,bob@x namespaces=\"git\",valid-after=\"20200101\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhJt3BSOK0UeFV+hE6ryvWAx4aE2OpFnd4JpW3vWbYn alice\n"},
		{name: "quoted principals", data: "\"alice@x bob@x\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhJt3BSOK0UeFV+hE6ryvWAx4aE2OpFnd4JpW3vWbYn\n"},
		{name: "empty", data: "# nothing\n", want: "holds no key"},
		{name: "certificate authority", data: "*@x cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhJt3BSOK0UeFV+hE6ryvWAx4aE2OpFnd4JpW3vWbYn\n", want: "cert-authority entries are not supported"},
		{name: "not a key", data: "alice@x not-a-key\n", want: "keys:1: not an allowed_signers entry"},
		{name: "bad date", data: "a@x valid-after=\"tomorrow\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhJt3BSOK0UeFV+hE6ryvWAx4aE2OpFnd4JpW3vWbYn\n", want: "valid-after"},
		{name: "broken OpenPGP block", data: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----\n", want: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeys([]byte(tt.data), "keys")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKeys = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
