package embedded

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File modes for everything the control plane writes: keys, certificates
// and kubeconfigs grant cluster-admin or identify a control-plane component,
// so only the owner may read them.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// Validity of the generated certificates. The cluster is a developer or CI
// environment; ten years keeps a long-lived local cluster from expiring under
// its user, while leaf certificates are re-issued on every start anyway.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certPEM returns the certificate PEM-encoded.
func (kp keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
}

// keyPEM returns the private key PEM-encoded.
func (kp keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// pki holds the paths of every credential file the components read, and the
// credentials that are also needed in memory.
type pki struct {
	dir string

	ca         keyPair
	frontProxy keyPair

	// Paths handed to the components.
	caCert, caKey                 string
	serverCert, serverKey         string
	frontProxyCA                  string
	frontProxyCert, frontProxyKey string
	saKey, saPub                  string

	// Client credentials, kept in memory for kubeconfigs and REST configs.
	admin, controllerManager, scheduler, nodeSim keyPair
}

// Identities of the clients the control plane issues certificates to.
const (
	adminUser             = "kubernetes-admin"
	adminGroup            = "system:masters"
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	frontProxyUser        = "front-proxy-client"
	// The node simulator acts for every simulated node and for the storage
	// and load-balancer controllers at once, which the Node authorizer would
	// refuse to a single node identity, so it is a member of system:masters
	// under its own name (its writes are attributable in audit and
	// managedFields).
	nodeSimUser = "envctl:node-simulator"
)

// newPKI creates (or, for a data directory that already has one, reuses) the
// cluster CA, the front-proxy CA and the service-account key, and issues
// fresh leaf certificates for the API server and each client. Reusing the CAs
// keeps kubeconfigs written by an earlier start valid.
func newPKI(dir string, serverIPs []net.IP, serverNames []string) (*pki, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	p := &pki{
		dir:            dir,
		caCert:         filepath.Join(dir, "ca.crt"),
		caKey:          filepath.Join(dir, "ca.key"),
		serverCert:     filepath.Join(dir, "apiserver.crt"),
		serverKey:      filepath.Join(dir, "apiserver.key"),
		frontProxyCA:   filepath.Join(dir, "front-proxy-ca.crt"),
		frontProxyCert: filepath.Join(dir, "front-proxy-client.crt"),
		frontProxyKey:  filepath.Join(dir, "front-proxy-client.key"),
		saKey:          filepath.Join(dir, "sa.key"),
		saPub:          filepath.Join(dir, "sa.pub"),
	}
	var err error
	if p.ca, err = loadOrCreateCA(p.caCert, p.caKey, "envctl-ca"); err != nil {
		return nil, err
	}
	if p.frontProxy, err = loadOrCreateCA(p.frontProxyCA, filepath.Join(dir, "front-proxy-ca.key"), "envctl-front-proxy-ca"); err != nil {
		return nil, err
	}
	if err := loadOrCreateSAKey(p.saKey, p.saPub); err != nil {
		return nil, err
	}

	server, err := issue(p.ca, pkix.Name{CommonName: "kube-apiserver"}, serverIPs, serverNames, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("issue API server certificate: %w", err)
	}
	if err := writePair(server, p.serverCert, p.serverKey); err != nil {
		return nil, err
	}
	proxyClient, err := issue(p.frontProxy, pkix.Name{CommonName: frontProxyUser}, nil, nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, fmt.Errorf("issue front-proxy client certificate: %w", err)
	}
	if err := writePair(proxyClient, p.frontProxyCert, p.frontProxyKey); err != nil {
		return nil, err
	}

	clients := []struct {
		into    *keyPair
		subject pkix.Name
	}{
		{&p.admin, pkix.Name{CommonName: adminUser, Organization: []string{adminGroup}}},
		{&p.controllerManager, pkix.Name{CommonName: controllerManagerUser}},
		{&p.scheduler, pkix.Name{CommonName: schedulerUser}},
		{&p.nodeSim, pkix.Name{CommonName: nodeSimUser, Organization: []string{adminGroup}}},
	}
	for _, c := range clients {
		kp, err := issue(p.ca, c.subject, nil, nil, x509.ExtKeyUsageClientAuth)
		if err != nil {
			return nil, fmt.Errorf("issue client certificate for %s: %w", c.subject.CommonName, err)
		}
		*c.into = kp
	}
	return p, nil
}

// newKey generates an ECDSA P-256 key: generation takes microseconds where
// RSA 2048 takes tens of milliseconds, and every component accepts it.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// loadOrCreateCA returns the CA stored at certPath/keyPath, creating both
// files when neither exists.
func loadOrCreateCA(certPath, keyPath, commonName string) (keyPair, error) {
	kp, err := loadPair(certPath, keyPath)
	if err == nil {
		return kp, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return keyPair{}, err
	}
	key, err := newKey()
	if err != nil {
		return keyPair{}, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return keyPair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return keyPair{}, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	kp = keyPair{cert: cert, key: key}
	return kp, writePair(kp, certPath, keyPath)
}

// issue signs a leaf certificate for subject with the given CA.
func issue(ca keyPair, subject pkix.Name, ips []net.IP, names []string, usage x509.ExtKeyUsage) (keyPair, error) {
	key, err := newKey()
	if err != nil {
		return keyPair{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return keyPair{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(leafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		IPAddresses:           ips,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return keyPair{}, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parse certificate: %w", err)
	}
	return keyPair{cert: cert, key: key}, nil
}

// loadPair reads a PEM certificate and its ECDSA key.
func loadPair(certPath, keyPath string) (keyPair, error) {
	certData, err := os.ReadFile(certPath)
	if err != nil {
		return keyPair{}, err
	}
	keyData, err := os.ReadFile(keyPath)
	if err != nil {
		return keyPair{}, err
	}
	block, _ := pem.Decode(certData)
	if block == nil || block.Type != "CERTIFICATE" {
		return keyPair{}, fmt.Errorf("%s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return keyPair{}, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := parseECKey(keyPath, keyData)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: cert, key: key}, nil
}

func parseECKey(path string, data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "EC PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PEM EC private key", path)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// loadOrCreateSAKey makes sure the service-account signing key and its public
// half exist. The API server signs tokens with the private key and verifies
// them with the public one; the controller manager's token controller signs
// legacy token secrets with the private key.
func loadOrCreateSAKey(keyPath, pubPath string) error {
	if data, err := os.ReadFile(keyPath); err == nil {
		key, err := parseECKey(keyPath, data)
		if err != nil {
			return err
		}
		return writePublicKey(pubPath, key.Public())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read service-account key: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal service-account key: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	return writePublicKey(pubPath, key.Public())
}

func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("marshal public key: %w", err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// writePair writes a certificate and its key, both owner-only.
func writePair(kp keyPair, certPath, keyPath string) error {
	keyData, err := kp.keyPEM()
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyData); err != nil {
		return err
	}
	return writeFile(certPath, kp.certPEM())
}

// writeFile writes data owner-only, replacing the file atomically so that a
// component never reads a half-written credential, and fixing the mode of a
// file that already existed with a wider one.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(fileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
