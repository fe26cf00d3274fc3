package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PinnedTLSConfig returns a client TLS configuration for first contact
// with a server when all the client knows is the CA fingerprint fp from a
// join token. System roots are not used. The server is accepted only if
// the chain it presents contains a CA certificate whose SHA-256
// fingerprint is fp and its leaf certificate verifies against that CA for
// server authentication. The host name is not checked, so the server may
// be dialled by any address.
func PinnedTLSConfig(fp string) *tls.Config {
	fp = strings.ToLower(strings.TrimSpace(fp))
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by VerifyConnection below, which unlike
		// VerifyPeerCertificate also runs on resumed sessions.
		InsecureSkipVerify: true,
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		mismatch := fmt.Sprintf("server certificate is not signed by the CA in the join token (fingerprint %s)", fp)
		if len(cs.PeerCertificates) == 0 {
			return errors.New(mismatch + ": server presented no certificate")
		}
		var ca *x509.Certificate
		var seen []string
		for _, c := range cs.PeerCertificates {
			if !c.IsCA {
				continue
			}
			got := Fingerprint(c.Raw)
			if got == fp {
				ca = c
				break
			}
			seen = append(seen, got)
		}
		if ca == nil {
			if len(seen) == 0 {
				return errors.New(mismatch + ": server presented no CA certificate")
			}
			return fmt.Errorf("%s: server presented CA fingerprint %s", mismatch, strings.Join(seen, ", "))
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		if err := verifyServerLeaf(cs.PeerCertificates, roots, configTime(cfg)); err != nil {
			return fmt.Errorf("%s: %w", mismatch, err)
		}
		return nil
	}
	return cfg
}

// ClientTLSConfig returns a mutual TLS client configuration that presents
// the certificate certPEM with key keyPEM and trusts only the CA
// certificates in caPEM. The server's chain is verified against those CAs
// for server authentication but its host name is not checked, so the
// server may be dialled by any address.
func ClientTLSConfig(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("client TLS config: no CA certificate in CA PEM")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client TLS config: load client certificate: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      roots,
		Certificates: []tls.Certificate{pair},
		// Verification is done by VerifyConnection below, without the
		// host name check.
		InsecureSkipVerify: true,
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server presented no certificate")
		}
		if err := verifyServerLeaf(cs.PeerCertificates, cfg.RootCAs, configTime(cfg)); err != nil {
			return fmt.Errorf("server certificate is not signed by the cluster CA: %w", err)
		}
		return nil
	}
	return cfg, nil
}

// verifyServerLeaf verifies chain[0] against roots for server
// authentication, using the rest of chain as intermediates and without a
// host name check.
func verifyServerLeaf(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// configTime is the verification time: cfg.Time if the caller set it.
func configTime(cfg *tls.Config) time.Time {
	if cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}
