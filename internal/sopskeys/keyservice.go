// Package sopskeys finds the keys that open SOPS files: age identities
// where the sops tool finds them (its own lookup, run through sops' age key
// source), and sops key services (`sops keyservice`) asked over gRPC for
// every other kind of key, so that envctl opens cloud KMS and Vault keys
// without linking a cloud SDK.
package sopskeys

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// Key is one master key of a SOPS file, as a key service is asked about
// it. Make one with AgeKey, PGPKey, KMSKey, GCPKMSKey, AzureKVKey, VaultKey
// or HCKMSKey.
type Key struct {
	// field is the key's number in the protocol's Key oneof, msg its
	// encoded message.
	field protowire.Number
	msg   []byte
	name  string
}

// String names the key for messages: its kind and identifier.
func (k Key) String() string { return k.name }

// The key service protocol's messages are encoded by hand (sops'
// keyservice.proto): sops' generated package comes with its server, which
// links every cloud SDK.
func stringFields(fields ...string) []byte {
	var b []byte
	for i, f := range fields {
		if f != "" {
			b = protowire.AppendTag(b, protowire.Number(i+1), protowire.BytesType)
			b = protowire.AppendString(b, f)
		}
	}
	return b
}

// AgeKey is an age recipient.
func AgeKey(recipient string) Key {
	return Key{field: 6, msg: stringFields(recipient), name: "age " + recipient}
}

// PGPKey is an OpenPGP key by fingerprint.
func PGPKey(fingerprint string) Key {
	return Key{field: 2, msg: stringFields(fingerprint), name: "pgp " + fingerprint}
}

// KMSKey is an AWS KMS key with the role, encryption context and profile
// the file records.
func KMSKey(arn, role string, context map[string]string, profile string) Key {
	b := stringFields(arn, role)
	for _, k := range slices.Sorted(maps.Keys(context)) {
		entry := stringFields(k, context[k])
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	if profile != "" {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, profile)
	}
	return Key{field: 1, msg: b, name: "kms " + arn}
}

// GCPKMSKey is a Google Cloud KMS key by resource ID.
func GCPKMSKey(resourceID string) Key {
	return Key{field: 3, msg: stringFields(resourceID), name: "gcp_kms " + resourceID}
}

// AzureKVKey is an Azure Key Vault key.
func AzureKVKey(vaultURL, name, version string) Key {
	return Key{field: 4, msg: stringFields(vaultURL, name, version), name: "azure_kv " + strings.TrimSuffix(vaultURL, "/") + "/keys/" + name + "/" + version}
}

// VaultKey is a HashiCorp Vault transit key.
func VaultKey(address, enginePath, keyName string) Key {
	return Key{field: 5, msg: stringFields(address, enginePath, keyName), name: "hc_vault " + strings.TrimSuffix(address, "/") + "/v1/" + enginePath + "/keys/" + keyName}
}

// HCKMSKey is a HuaweiCloud KMS key.
func HCKMSKey(keyID string) Key {
	return Key{field: 7, msg: stringFields(keyID), name: "hckms " + keyID}
}

// decryptRequest encodes DecryptRequest{key, ciphertext}.
func decryptRequest(k Key, ciphertext []byte) []byte {
	key := protowire.AppendTag(nil, k.field, protowire.BytesType)
	key = protowire.AppendBytes(key, k.msg)
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, key)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, ciphertext)
}

// decryptResponse reads DecryptResponse's plaintext (field 1), skipping
// fields a newer server may add.
func decryptResponse(b []byte) ([]byte, error) {
	var plain []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errors.New("a malformed response")
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, errors.New("a malformed response")
			}
			plain, b = append([]byte(nil), v...), b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, errors.New("a malformed response")
		}
		b = b[n:]
	}
	return plain, nil
}

// rawCodec passes encoded messages through gRPC as they are. It is named
// proto so that the server decodes them with its protobuf codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("sopskeys: cannot encode %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("sopskeys: cannot decode into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// KeyService is a client of one sops key service.
type KeyService struct {
	// Addr is the address as given (tcp://host:port or unix:///path).
	Addr string
	conn *grpc.ClientConn
}

// ParseAddress checks a key service address as `sops --keyservice` takes
// it: tcp://host:port or unix:///path. It returns the network and the
// address to dial.
func ParseAddress(addr string) (network, dial string, err error) {
	u, err := url.Parse(addr)
	if err != nil {
		return "", "", fmt.Errorf("key service %q: %v", addr, err)
	}
	switch u.Scheme {
	case "tcp":
		if u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return "", "", fmt.Errorf("key service %q: want tcp://host:port", addr)
		}
		return "tcp", u.Host, nil
	case "unix":
		if u.Path == "" || u.Host != "" {
			return "", "", fmt.Errorf("key service %q: want unix:///absolute/path", addr)
		}
		return "unix", u.Path, nil
	}
	return "", "", fmt.Errorf("key service %q: want tcp://host:port or unix:///path", addr)
}

// Dial returns a client of the key service at addr. The connection is
// made on the first request, in plain text as sops makes it: put the key
// service on a loopback address, a unix socket or a private network.
func Dial(addr string) (*KeyService, error) {
	network, dial, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dial)
	}
	conn, err := grpc.NewClient("passthrough:///"+dial,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, fmt.Errorf("key service %s: %v", addr, err)
	}
	return &KeyService{Addr: addr, conn: conn}, nil
}

// Decrypt asks the key service to decrypt a file's encrypted data key
// (the key's enc) with key.
func (s *KeyService) Decrypt(ctx context.Context, key Key, enc []byte) ([]byte, error) {
	req := decryptRequest(key, enc)
	var resp []byte
	if err := s.conn.Invoke(ctx, "/KeyService/Decrypt", &req, &resp); err != nil {
		if st, ok := status.FromError(err); ok {
			return nil, fmt.Errorf("key service %s: %s: %s", s.Addr, st.Code(), firstLine(st.Message()))
		}
		return nil, fmt.Errorf("key service %s: %v", s.Addr, err)
	}
	plain, err := decryptResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("key service %s: %v", s.Addr, err)
	}
	if len(plain) == 0 {
		return nil, fmt.Errorf("key service %s: an empty data key", s.Addr)
	}
	return plain, nil
}

// Close closes the connection.
func (s *KeyService) Close() error { return s.conn.Close() }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
