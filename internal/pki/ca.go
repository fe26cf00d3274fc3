package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// caValidity is how long a new CA certificate is valid.
const caValidity = 10 * 365 * 24 * time.Hour

// Backdate is how far before "now" issued certificates become valid, to
// tolerate small clock differences between nodes.
const Backdate = time.Minute

// CA is the cluster's certificate authority: its certificate, its private
// key and the certificate in PEM form.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewCA creates a self-signed ECDSA P-256 certificate authority named
// commonName, valid for ten years from now.
func NewCA(commonName string, now time.Time) (*CA, error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, errors.New("new CA: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new CA: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new CA: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}, nil
}

// LoadCA loads a CA from its PEM certificate and PEM private key, checking
// that the certificate is a CA certificate and that the key belongs to it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("load CA: certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: private key does not match the public key of certificate %q", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(cert.Raw)}, nil
}

// KeyPEM returns the CA's private key as a PKCS#8 PEM block.
func (ca *CA) KeyPEM() ([]byte, error) {
	return encodeKey(ca.Key)
}

// Fingerprint returns the lowercase hex SHA-256 of the CA certificate.
func (ca *CA) Fingerprint() string {
	return Fingerprint(ca.Cert.Raw)
}

// Fingerprint returns the lowercase hex SHA-256 of a DER certificate
// (64 characters).
func Fingerprint(certDER []byte) string {
	sum := sha256.Sum256(certDER)
	return hex.EncodeToString(sum[:])
}

// SignClient verifies the signature of a PEM certificate signing request
// and issues a client certificate (ExtKeyUsageClientAuth) for its public
// key, valid from now-1m to now+ttl. The CSR's subject is ignored: the
// certificate's CommonName is node. The returned notAfter is the
// certificate's NotAfter, which never exceeds the CA's own.
func (ca *CA) SignClient(csrPEM []byte, node string, ttl time.Duration, now time.Time) ([]byte, time.Time, error) {
	if node == "" {
		return nil, time.Time{}, errors.New("sign client certificate: empty node name")
	}
	if ttl <= 0 {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: ttl %v is not positive", node, ttl)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: no PEM CERTIFICATE REQUEST block", node)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: parse CSR: %w", node, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: CSR signature: %w", node, err)
	}
	der, err := ca.issue(leafTemplate(node, ttl, now, x509.ExtKeyUsageClientAuth), csr.PublicKey)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: %w", node, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("sign client certificate for %s: parse: %w", node, err)
	}
	return encodeCert(der), cert.NotAfter, nil
}

// IssueServer generates a key pair and issues a server certificate for it
// (ExtKeyUsageServerAuth and ExtKeyUsageClientAuth) valid from now-1m to
// now+ttl. Each host becomes a SAN: an IP address if it parses as one
// (brackets around IPv6 addresses are allowed), else a DNS name. The first
// host is also the CommonName. certPEM holds the leaf followed by the CA
// certificate, so that a server loading it with tls.X509KeyPair presents
// the chain PinnedTLSConfig needs.
func (ca *CA) IssueServer(hosts []string, ttl time.Duration, now time.Time) (certPEM, keyPEM []byte, err error) {
	if ttl <= 0 {
		return nil, nil, fmt.Errorf("issue server certificate: ttl %v is not positive", ttl)
	}
	var cn string
	var names []string
	var ips []net.IP
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if cn == "" {
			cn = h
		}
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, h)
		}
	}
	if cn == "" {
		return nil, nil, errors.New("issue server certificate: no host names or addresses")
	}
	tmpl := leafTemplate(cn, ttl, now, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	tmpl.DNSNames, tmpl.IPAddresses = names, ips
	key, keyPEM, err := NewKey()
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	der, err := ca.issue(tmpl, key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	chain := append(encodeCert(der), encodeCert(ca.Cert.Raw)...)
	return chain, keyPEM, nil
}

// VerifyClient verifies a client certificate against the CA (for client
// authentication, at time now) and returns the node name it was issued to.
func (ca *CA) VerifyClient(cert *x509.Certificate, now time.Time) (string, error) {
	if cert == nil {
		return "", errors.New("verify client certificate: no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:       ca.pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if _, err := cert.Verify(opts); err != nil {
		return "", fmt.Errorf("verify client certificate %q: %w", cert.Subject.CommonName, err)
	}
	if cert.Subject.CommonName == "" {
		return "", errors.New("verify client certificate: empty common name")
	}
	return cert.Subject.CommonName, nil
}

func (ca *CA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// issue signs tmpl for pub with the CA key, capping NotAfter at the CA's.
func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return der, nil
}

func leafTemplate(cn string, ttl time.Duration, now time.Time, usages ...x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usages,
		BasicConstraintsValid: true,
	}
}

// NewKey generates an ECDSA P-256 private key and returns it with its
// PKCS#8 PEM encoding.
func NewKey() (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, keyPEM, nil
}

// ParseKey parses a PEM private key: PKCS#8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
func ParseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("parse private key: PEM block is %q, want PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T cannot sign", key)
	}
	return signer, nil
}

// NewCSR creates a PEM certificate signing request for key. The CA
// ignores the subject, so commonName is informational.
func NewCSR(key crypto.Signer, commonName string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: commonName},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCert parses the first PEM block of certPEM, which must be a
// CERTIFICATE. For a chain, that is the leaf.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("parse certificate: no PEM block found")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("parse certificate: PEM block is %q, want CERTIFICATE", block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bytes.Clone(der)})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// randomSerial returns a random, non-zero 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
