package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serverResult is what serveOnce saw: the handshake error, or the
// client's certificate chain.
type serverResult struct {
	err  error
	peer []*x509.Certificate
}

// serveOnce listens on 127.0.0.1:0 with cfg, accepts one connection,
// completes the handshake, writes "ok" and closes.
func serveOnce(t *testing.T, cfg *tls.Config) (addr string, result <-chan serverResult) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan serverResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- serverResult{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			ch <- serverResult{err: err}
			return
		}
		_, err = tc.Write([]byte("ok"))
		ch <- serverResult{err: err, peer: tc.ConnectionState().PeerCertificates}
	}()
	return ln.Addr().String(), ch
}

// dial connects to addr with cfg, completes the handshake and reads the
// server's "ok", so that a client certificate refused by a TLS 1.3 server
// shows up as an error here.
func dial(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ok" {
		return errors.New("unexpected reply " + string(buf))
	}
	return nil
}

func serverConfig(t *testing.T, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func TestPinnedTLSConfig(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "ca", now)
	other := newTestCA(t, "other", now)
	certPEM, keyPEM, err := ca.IssueServer([]string{"corral.example"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	good := serverConfig(t, certPEM, keyPEM)

	// An impostor with a certificate from another CA that also presents the
	// real CA certificate (which is public) in its chain.
	fakePEM, fakeKeyPEM, err := other.IssueServer([]string{"corral.example"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	impostor := serverConfig(t, fakePEM, fakeKeyPEM)
	impostor.Certificates[0].Certificate = append(impostor.Certificates[0].Certificate[:1], ca.Cert.Raw)

	// A server that presents only its leaf, without the CA certificate.
	leafOnly := serverConfig(t, certPEM, keyPEM)
	leafOnly.Certificates[0].Certificate = leafOnly.Certificates[0].Certificate[:1]

	tests := []struct {
		name          string
		server        *tls.Config
		fp            string
		wantErrSubstr string // "" means success
	}{
		{"right fingerprint", good, ca.Fingerprint(), ""},
		{"upper case fingerprint", good, strings.ToUpper(ca.Fingerprint()), ""},
		{"wrong fingerprint", good, other.Fingerprint(),
			"server certificate is not signed by the CA in the join token (fingerprint " + other.Fingerprint() + ")"},
		{"impostor presenting the real CA", impostor, ca.Fingerprint(),
			"server certificate is not signed by the CA in the join token (fingerprint " + ca.Fingerprint() + ")"},
		{"no CA in chain", leafOnly, ca.Fingerprint(), "presented no CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, result := serveOnce(t, tt.server)
			err := dial(addr, PinnedTLSConfig(tt.fp))
			if tt.wantErrSubstr == "" {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				if r := <-result; r.err != nil {
					t.Errorf("server: %v", r.err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("dial error = %v, want one containing %q", err, tt.wantErrSubstr)
			}
		})
	}
}

func TestClientTLSConfig(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "ca", now)
	other := newTestCA(t, "other", now)
	certPEM, keyPEM, err := ca.IssueServer([]string{"corral.example"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	fakePEM, fakeKeyPEM, err := other.IssueServer([]string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	mtls := func(certPEM, keyPEM []byte) *tls.Config {
		cfg := serverConfig(t, certPEM, keyPEM)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.pool()
		return cfg
	}
	nodePEM, nodeKeyPEM := newClientCert(t, ca, "node-1", time.Hour, now)
	foreignPEM, foreignKeyPEM := newClientCert(t, other, "node-1", time.Hour, now)
	expiredPEM, expiredKeyPEM := newClientCert(t, ca, "node-1", time.Hour, now.Add(-3*time.Hour))

	tests := []struct {
		name                  string
		server                *tls.Config
		clientCert, clientKey []byte
		wantClientErr         bool
		wantServerErr         bool
	}{
		{"valid client and server", mtls(certPEM, keyPEM), nodePEM, nodeKeyPEM, false, false},
		{"client cert from another CA", mtls(certPEM, keyPEM), foreignPEM, foreignKeyPEM, true, true},
		{"expired client cert", mtls(certPEM, keyPEM), expiredPEM, expiredKeyPEM, true, true},
		{"server cert from another CA", mtls(fakePEM, fakeKeyPEM), nodePEM, nodeKeyPEM, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientTLSConfig(ca.CertPEM, tt.clientCert, tt.clientKey)
			if err != nil {
				t.Fatalf("ClientTLSConfig: %v", err)
			}
			addr, result := serveOnce(t, tt.server)
			// Dial by IP although the server certificate names only
			// corral.example: the host name is deliberately not checked.
			clientErr := dial(addr, cfg)
			r := <-result
			if (clientErr != nil) != tt.wantClientErr {
				t.Errorf("client error = %v, want error: %v", clientErr, tt.wantClientErr)
			}
			if (r.err != nil) != tt.wantServerErr {
				t.Errorf("server error = %v, want error: %v", r.err, tt.wantServerErr)
			}
			if r.err == nil {
				if len(r.peer) == 0 {
					t.Fatal("server saw no client certificate")
				}
				node, err := ca.VerifyClient(r.peer[0], time.Now())
				if err != nil || node != "node-1" {
					t.Errorf("VerifyClient = %q, %v; want node-1", node, err)
				}
			}
		})
	}
}

func TestClientTLSConfigErrors(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	certPEM, keyPEM := newClientCert(t, ca, "n", time.Hour, testNow)
	_, otherKeyPEM := newClientCert(t, ca, "n", time.Hour, testNow)
	tests := []struct {
		name             string
		caPEM, cert, key []byte
		wantErrSubstr    string
	}{
		{"no CA", []byte("junk"), certPEM, keyPEM, "no CA certificate"},
		{"mismatched key", ca.CertPEM, certPEM, otherKeyPEM, "load client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ClientTLSConfig(tt.caPEM, tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErrSubstr)
			}
		})
	}
}
