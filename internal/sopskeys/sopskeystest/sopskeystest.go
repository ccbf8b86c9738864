// Package sopskeystest serves sops' own key service in tests, and rekeys
// SOPS files for keys made in a test. It links sops' keyservice package,
// and with it every cloud SDK: import it from tests only.
package sopskeystest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"
)

// Server is sops' key service server (keyservice.Server), holding age
// identities of its own rather than reading this process's environment,
// and opening the keys of other kinds with Open, a stand-in for a cloud
// KMS the test controls. It records the requests it gets.
type Server struct {
	keyservice.Server
	Identities sopsage.ParsedIdentities
	// Open, when set, opens keys other than age keys: it gets the key as
	// sops' generated code decoded it.
	Open func(key *keyservice.Key, ciphertext []byte) ([]byte, error)

	mu       sync.Mutex
	requests []*keyservice.Key
}

// Decrypt serves a decrypt request.
func (s *Server) Decrypt(ctx context.Context, req *keyservice.DecryptRequest) (*keyservice.DecryptResponse, error) {
	s.mu.Lock()
	s.requests = append(s.requests, req.Key)
	s.mu.Unlock()
	if k, ok := req.Key.GetKeyType().(*keyservice.Key_AgeKey); ok {
		mk := &sopsage.MasterKey{Recipient: k.AgeKey.Recipient, EncryptedKey: string(req.Ciphertext)}
		s.Identities.ApplyToMasterKey(mk)
		plain, err := mk.Decrypt()
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	}
	if s.Open != nil {
		plain, err := s.Open(req.Key, req.Ciphertext)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return &keyservice.DecryptResponse{Plaintext: plain}, nil
	}
	return s.Server.Decrypt(ctx, req)
}

// Requests are the keys the server was asked about, in order.
func (s *Server) Requests() []*keyservice.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*keyservice.Key(nil), s.requests...)
}

// Serve serves s on network "tcp" (a loopback port) or "unix" (a socket
// in a temporary directory) until the test ends, and returns its address
// as `sops --keyservice` takes it.
func Serve(t testing.TB, s *Server, network string) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "keyservice.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	keyservice.RegisterKeyServiceServer(g, s)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	if network == "unix" {
		return "unix://" + addr
	}
	return "tcp://" + l.Addr().String()
}

// DataKey opens the data key of a single-document SOPS YAML file with an
// age identity, through sops' age key source.
func DataKey(t testing.TB, file []byte, identity string) []byte {
	t.Helper()
	var doc struct {
		SOPS struct {
			Age []struct {
				Recipient string `yaml:"recipient"`
				Enc       string `yaml:"enc"`
			} `yaml:"age"`
		} `yaml:"sops"`
	}
	if err := yaml.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	var ids sopsage.ParsedIdentities
	if err := ids.Import(identity); err != nil {
		t.Fatal(err)
	}
	for _, a := range doc.SOPS.Age {
		mk := &sopsage.MasterKey{Recipient: a.Recipient, EncryptedKey: a.Enc}
		ids.ApplyToMasterKey(mk)
		if key, err := mk.Decrypt(); err == nil {
			return key
		}
	}
	t.Fatal("the identity opens no age key of the file")
	return nil
}

// AgeEnc encrypts a data key for an age or SSH recipient, as sops does.
func AgeEnc(t testing.TB, recipient string, dataKey []byte) string {
	t.Helper()
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	if err := mk.Encrypt(dataKey); err != nil {
		t.Fatal(err)
	}
	return mk.EncryptedKey
}

// SetKeys returns a single-document SOPS YAML file whose master keys are
// keys (by metadata field: age, pgp, kms, hc_vault, ...) instead of its
// own. The values and the MAC, encrypted with the data key, stay valid
// when each key's enc holds the same data key; the document keeps its
// order, which the MAC follows.
func SetKeys(t testing.TB, file []byte, keys map[string][]map[string]any) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	var meta *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "sops" {
			meta = root.Content[i+1]
		}
	}
	if meta == nil {
		t.Fatal("not a SOPS YAML file")
	}
	drop := map[string]bool{"age": true, "pgp": true, "kms": true, "gcp_kms": true, "azure_kv": true, "hc_vault": true, "hckms": true, "key_groups": true}
	var kept []*yaml.Node
	for i := 0; i+1 < len(meta.Content); i += 2 {
		if !drop[meta.Content[i].Value] {
			kept = append(kept, meta.Content[i], meta.Content[i+1])
		}
	}
	meta.Content = kept
	for f, list := range keys {
		var v yaml.Node
		if err := v.Encode(list); err != nil {
			t.Fatal(err)
		}
		meta.Content = append(meta.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f}, &v)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
