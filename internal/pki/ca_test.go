package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(t *testing.T, name string, now time.Time) *CA {
	t.Helper()
	ca, err := NewCA(name, now)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// newClientCert returns a client certificate and key for node, signed by ca.
func newClientCert(t *testing.T, ca *CA, node string, ttl time.Duration, now time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, keyPEM, err := NewKey()
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	csr, err := NewCSR(key, "ignored-"+node)
	if err != nil {
		t.Fatalf("NewCSR: %v", err)
	}
	certPEM, _, err = ca.SignClient(csr, node, ttl, now)
	if err != nil {
		t.Fatalf("SignClient: %v", err)
	}
	return certPEM, keyPEM
}

func TestCARoundTrip(t *testing.T) {
	ca := newTestCA(t, "corral test CA", testNow)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want true", c.IsCA, c.BasicConstraintsValid)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("PublicKeyAlgorithm = %v, want ECDSA", c.PublicKeyAlgorithm)
	}
	if n := c.SerialNumber.BitLen(); n == 0 || n > 128 {
		t.Errorf("serial has %d bits, want 1..128", n)
	}
	if got, want := c.NotAfter, testNow.AddDate(10, 0, 0); got.Before(want.AddDate(0, 0, -5)) || got.After(want) {
		t.Errorf("NotAfter = %v, want about %v", got, want)
	}
	fp := ca.Fingerprint()
	if len(fp) != 64 || !isLowerHex(fp) || fp != Fingerprint(c.Raw) {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex chars", fp)
	}

	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatalf("KeyPEM: %v", err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("KeyPEM is not a PKCS#8 PEM block: %q", keyPEM)
	}
	loaded, err := LoadCA(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if loaded.Fingerprint() != fp {
		t.Errorf("loaded fingerprint = %s, want %s", loaded.Fingerprint(), fp)
	}
	// The loaded CA can still issue certificates that the original accepts.
	certPEM, _ := newClientCert(t, loaded, "node-1", time.Hour, testNow)
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.VerifyClient(cert, testNow); err != nil {
		t.Errorf("VerifyClient of cert from loaded CA: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	other := newTestCA(t, "other", testNow)
	keyPEM, _ := ca.KeyPEM()
	otherKeyPEM, _ := other.KeyPEM()
	leafPEM, leafKeyPEM := newClientCert(t, ca, "n1", time.Hour, testNow)
	tests := []struct {
		name          string
		cert, key     []byte
		wantErrSubstr string
	}{
		{"cert not PEM", []byte("nope"), keyPEM, "no PEM block"},
		{"key not PEM", ca.CertPEM, []byte("nope"), "private key: no PEM block"},
		{"key given as cert", keyPEM, keyPEM, `"PRIVATE KEY", want CERTIFICATE`},
		{"cert given as key", ca.CertPEM, ca.CertPEM, `"CERTIFICATE", want PRIVATE KEY`},
		{"key of another CA", ca.CertPEM, otherKeyPEM, "does not match"},
		{"not a CA certificate", leafPEM, leafKeyPEM, "not a CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCA(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("LoadCA error = %v, want one containing %q", err, tt.wantErrSubstr)
			}
		})
	}
}

func TestSignClientAndVerify(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	other := newTestCA(t, "other", testNow)
	okPEM, _ := newClientCert(t, ca, "node-1", time.Hour, testNow)
	foreignPEM, _ := newClientCert(t, other, "node-1", time.Hour, testNow)
	serverPEM, _, err := ca.IssueServer([]string{"server"}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		certPEM  []byte
		at       time.Time
		wantNode string // "" means an error is expected
	}{
		{"valid", okPEM, testNow, "node-1"},
		{"valid just before expiry", okPEM, testNow.Add(59 * time.Minute), "node-1"},
		{"tolerates a minute of clock skew", okPEM, testNow.Add(-30 * time.Second), "node-1"},
		{"other CA", foreignPEM, testNow, ""},
		{"expired", okPEM, testNow.Add(2 * time.Hour), ""},
		{"not yet valid", okPEM, testNow.Add(-time.Hour), ""},
		{"server cert also allows client auth", serverPEM, testNow, "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := ParseCert(tt.certPEM)
			if err != nil {
				t.Fatal(err)
			}
			node, err := ca.VerifyClient(cert, tt.at)
			if tt.wantNode == "" {
				if err == nil {
					t.Errorf("VerifyClient = %q, want error", node)
				}
				return
			}
			if err != nil || node != tt.wantNode {
				t.Errorf("VerifyClient = %q, %v; want %q", node, err, tt.wantNode)
			}
		})
	}
	if _, err := ca.VerifyClient(nil, testNow); err == nil {
		t.Error("VerifyClient(nil) succeeded")
	}
}

func TestSignClientCertificate(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	key, _, _ := NewKey()
	csr, err := NewCSR(key, "admin")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, notAfter, err := ca.SignClient(csr, "node-7", 24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node-7" {
		t.Errorf("CommonName = %q, want node-7 (CSR subject must be ignored)", cert.Subject.CommonName)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ExtKeyUsage = %v, want [ClientAuth]", cert.ExtKeyUsage)
	}
	if cert.IsCA {
		t.Error("client certificate is a CA")
	}
	if !cert.NotBefore.Equal(testNow.Add(-time.Minute)) || !cert.NotAfter.Equal(testNow.Add(24*time.Hour)) || !notAfter.Equal(cert.NotAfter) {
		t.Errorf("validity %v..%v (returned %v), want %v..%v", cert.NotBefore, cert.NotAfter, notAfter, testNow.Add(-time.Minute), testNow.Add(24*time.Hour))
	}

	// A TTL beyond the CA's life is capped at the CA's NotAfter.
	_, notAfter, err = ca.SignClient(csr, "node-7", 20*365*24*time.Hour, testNow)
	if err != nil || !notAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("long TTL: notAfter = %v, %v; want CA NotAfter %v", notAfter, err, ca.Cert.NotAfter)
	}
}

func TestSignClientRejects(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	key, _, _ := NewKey()
	csr, _ := NewCSR(key, "n")
	block, _ := pem.Decode(csr)
	bad := append([]byte(nil), block.Bytes...)
	bad[len(bad)-3] ^= 0xff // inside the signature
	tampered := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: bad})
	tests := []struct {
		name          string
		csr           []byte
		node          string
		ttl           time.Duration
		wantErrSubstr string
	}{
		{"not PEM", []byte("garbage"), "n", time.Hour, "no PEM CERTIFICATE REQUEST"},
		{"certificate instead of CSR", ca.CertPEM, "n", time.Hour, "no PEM CERTIFICATE REQUEST"},
		{"bad signature", tampered, "n", time.Hour, "signature"},
		{"empty node", csr, "", time.Hour, "empty node name"},
		{"zero ttl", csr, "n", 0, "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ca.SignClient(tt.csr, tt.node, tt.ttl, testNow)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("SignClient error = %v, want one containing %q", err, tt.wantErrSubstr)
			}
		})
	}
}

func TestIssueServer(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	certPEM, keyPEM, err := ca.IssueServer([]string{" corral.example ", "10.0.0.1", "", "[::1]", "corral.example", "localhost"}, time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cert.DNSNames, ","); got != "corral.example,localhost" {
		t.Errorf("DNSNames = %q", got)
	}
	if len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !cert.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IPAddresses = %v", cert.IPAddresses)
	}
	if cert.Subject.CommonName != "corral.example" {
		t.Errorf("CommonName = %q", cert.Subject.CommonName)
	}
	if len(cert.ExtKeyUsage) != 2 {
		t.Errorf("ExtKeyUsage = %v, want ServerAuth and ClientAuth", cert.ExtKeyUsage)
	}
	// The chain ends with the CA certificate.
	rest := certPEM
	var ders [][]byte
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		ders = append(ders, b.Bytes)
	}
	if len(ders) != 2 || Fingerprint(ders[1]) != ca.Fingerprint() {
		t.Errorf("chain has %d certificates, want leaf + CA", len(ders))
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
		t.Error("key does not match certificate")
	}
	opts := x509.VerifyOptions{Roots: ca.pool(), CurrentTime: testNow, DNSName: "10.0.0.1"}
	if _, err := cert.Verify(opts); err != nil {
		t.Errorf("Verify for 10.0.0.1: %v", err)
	}

	if _, _, err := ca.IssueServer([]string{" ", ""}, time.Hour, testNow); err == nil {
		t.Error("IssueServer with no hosts succeeded")
	}
}

func TestParseKey(t *testing.T) {
	key, pkcs8, _ := NewKey()
	ecKey := key.(interface{ Equal(crypto.PrivateKey) bool })
	sec1DER, err := x509.MarshalECPrivateKey(mustECDSA(t, key))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"pkcs8", pkcs8, false},
		{"sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER}), false},
		{"garbage", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), true},
		{"empty", nil, true},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.pem)
			if tt.wantErr {
				if err == nil {
					t.Error("ParseKey succeeded, want error")
				}
				return
			}
			if err != nil || !ecKey.Equal(got) {
				t.Errorf("ParseKey = %v, %v; want the original key", got, err)
			}
		})
	}
}

func mustECDSA(t *testing.T, k any) *ecdsa.PrivateKey {
	t.Helper()
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T, want *ecdsa.PrivateKey", k)
	}
	return ec
}
