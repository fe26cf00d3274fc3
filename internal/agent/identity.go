package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"corral/internal/api"
	"corral/internal/pki"
)

// Files of an agent's identity in its data dir.
const (
	keyFile  = "agent.key"
	certFile = "agent.crt"
	caFile   = "ca.crt"
)

// identity is the agent's key, certificate and the cluster CA.
type identity struct {
	node    string
	keyPEM  []byte
	caPEM   []byte
	cert    atomic.Pointer[tls.Certificate]
	expires atomic.Int64 // unix seconds
}

// errFatal marks errors retrying cannot fix (a rejected token or certificate).
type errFatal struct{ err error }

func (e errFatal) Error() string { return e.err.Error() }
func (e errFatal) Unwrap() error { return e.err }

func fatal(format string, args ...any) error { return errFatal{fmt.Errorf(format, args...)} }

// loadIdentity reads the identity from dir; ok is false when there is none.
func loadIdentity(dir string) (*identity, bool, error) {
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read agent key: %w", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read agent certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, false, fmt.Errorf("read cluster CA: %w", err)
	}
	id := &identity{keyPEM: keyPEM, caPEM: caPEM}
	if err := id.setCert(certPEM); err != nil {
		return nil, false, fmt.Errorf("agent certificate in %s: %w", dir, err)
	}
	return id, true, nil
}

func (id *identity) setCert(certPEM []byte) error {
	c, err := tls.X509KeyPair(certPEM, id.keyPEM)
	if err != nil {
		return err
	}
	leaf, err := pki.ParseCert(certPEM)
	if err != nil {
		return err
	}
	c.Leaf = leaf
	id.node = leaf.Subject.CommonName
	id.cert.Store(&c)
	id.expires.Store(leaf.NotAfter.Unix())
	return nil
}

// tlsConfig is the mutual-TLS client config; it presents the current
// certificate, so a renewal takes effect on the next connection.
func (id *identity) tlsConfig() (*tls.Config, error) {
	c := id.cert.Load()
	certPEM := pemOf(c)
	cfg, err := pki.ClientTLSConfig(id.caPEM, certPEM, id.keyPEM)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return id.cert.Load(), nil
	}
	return cfg, nil
}

func pemOf(c *tls.Certificate) []byte {
	var b bytes.Buffer
	for _, der := range c.Certificate {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}

// join gets a certificate with a join token: the server is trusted only if
// it presents the CA whose fingerprint the token carries.
func join(ctx context.Context, dir, server, joinToken, name string) (*identity, error) {
	jt, err := pki.ParseJoinToken(joinToken)
	if err != nil {
		return nil, fatal("%v", err)
	}
	key, keyPEM, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.NewCSR(key, name)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(jt.CAFingerprint)}}
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(api.JoinRequest{Protocol: api.ProtocolVersion, Token: jt.Token.String(), CSR: string(csr)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+server+"/agent/v1/join", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "not signed by the CA in the join token") {
			return nil, fatal("join %s: %v", server, err)
		}
		return nil, fmt.Errorf("join %s: %w", server, err)
	}
	defer resp.Body.Close()
	var cr api.CertResponse
	if err := decodeAnswer(resp, &cr); err != nil {
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return nil, fatal("join %s: %v", server, err)
		}
		return nil, fmt.Errorf("join %s: %w", server, err)
	}
	ca, err := pki.ParseCert([]byte(cr.CA))
	if err != nil || pki.Fingerprint(ca.Raw) != strings.ToLower(jt.CAFingerprint) {
		return nil, fatal("join %s: the server sent a CA that does not match the join token's fingerprint", server)
	}
	id := &identity{keyPEM: keyPEM, caPEM: []byte(cr.CA)}
	if err := id.setCert([]byte(cr.Cert)); err != nil {
		return nil, fmt.Errorf("join %s: certificate from server: %w", server, err)
	}
	if err := id.save(dir); err != nil {
		return nil, err
	}
	return id, nil
}

// save writes the identity: the key 0600, certificate and CA 0644.
func (id *identity) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create agent data dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, id.keyPEM, 0o600},
		{caFile, id.caPEM, 0o644},
		{certFile, pemOf(id.cert.Load()), 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// decodeAnswer decodes a 2xx JSON answer into v, or returns the API error.
func decodeAnswer(resp *http.Response, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var ae api.Error
		if json.Unmarshal(b, &ae) == nil && ae.Message != "" {
			ae.Status = resp.StatusCode
			return &ae
		}
		return &api.Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
