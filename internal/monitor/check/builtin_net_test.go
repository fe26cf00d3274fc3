package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				fmt.Fprintf(c, "220 hello %s\n", strings.TrimSpace(string(buf[:n])))
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(l.Addr().String())
	_, deadPort, _ := net.SplitHostPort(closedAddr(t))
	tests := []struct {
		name     string
		args     Args
		want     int
		wantText string
	}{
		{"connects", Args{"host": host, "port": port}, api.StatusOK, "TCP OK - "},
		{"send and expect", Args{"host": host, "port": port, "send": "corral\n", "expect": "hello corral"}, api.StatusOK, "TCP OK - "},
		{"unexpected reply", Args{"host": host, "port": port, "send": "x\n", "expect": "SSH-2.0"}, api.StatusCritical, "TCP CRITICAL - unexpected response"},
		{"refused", Args{"host": host, "port": deadPort}, api.StatusCritical, "TCP CRITICAL - "},
		{"slow over critical seconds", Args{"host": host, "port": port, "warning": 0, "critical": 0}, api.StatusCritical, "TCP CRITICAL - "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustProbe(t, "tcp", tt.args).Probe(context.Background(), Env{Timeout: 5 * time.Second})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/moved":
			http.Redirect(w, r, "/missing", http.StatusFound)
		default:
			fmt.Fprint(w, "all systems go")
		}
	}))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	defer tls.Close()
	tests := []struct {
		name     string
		args     Args
		want     int
		wantText string
	}{
		{"ok", Args{"url": srv.URL}, api.StatusOK, "HTTP OK: HTTP/1.1 200 OK - 14 bytes in "},
		{"404 warns", Args{"url": srv.URL + "/missing"}, api.StatusWarning, "HTTP WARNING: HTTP/1.1 404 Not Found"},
		{"500 critical", Args{"url": srv.URL + "/broken"}, api.StatusCritical, "HTTP CRITICAL: HTTP/1.1 500"},
		{"redirect not followed", Args{"url": srv.URL + "/moved"}, api.StatusOK, "HTTP OK: HTTP/1.1 302 Found"},
		{"expected status", Args{"url": srv.URL + "/missing", "status": 404}, api.StatusOK, "HTTP OK: HTTP/1.1 404"},
		{"status range missed", Args{"url": srv.URL, "status": "300-399"}, api.StatusCritical, "HTTP CRITICAL: HTTP/1.1 200 OK (expected 300-399)"},
		{"body contains", Args{"url": srv.URL, "contains": "systems go"}, api.StatusOK, "HTTP OK"},
		{"body lacks", Args{"url": srv.URL, "contains": "meltdown"}, api.StatusCritical, `HTTP CRITICAL: HTTP/1.1 200 OK - body does not contain "meltdown"`},
		{"tls unverified fails", Args{"url": tls.URL}, api.StatusCritical, "HTTP CRITICAL - "},
		{"tls insecure", Args{"url": tls.URL, "insecure": true}, api.StatusOK, "HTTP OK: HTTP/1.1 200 OK - 6 bytes"},
		{"refused", Args{"url": "http://" + closedAddr(t) + "/"}, api.StatusCritical, "HTTP CRITICAL - "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustProbe(t, "http", tt.args).Probe(context.Background(), Env{Timeout: 5 * time.Second})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}

// selfSigned returns a certificate for 127.0.0.1 valid until notAfter.
func selfSigned(t *testing.T, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "shop-api.test"},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTLSCert(t *testing.T) {
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	cert := selfSigned(t, notAfter)
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	host := srv.Listener.Addr().String()
	day := 24 * time.Hour
	tests := []struct {
		name     string
		args     Args
		now      time.Time
		want     int
		wantText string
	}{
		{"ok", Args{"host": host}, notAfter.Add(-40 * day), api.StatusOK, "TLS_CERT OK - " + host + " CN=shop-api.test expires in 40 days (2027-03-01T12:00:00Z) | days=40;30;14"},
		{"warning", Args{"host": host}, notAfter.Add(-20 * day), api.StatusWarning, "TLS_CERT WARNING - " + host + " CN=shop-api.test expires in 20 days"},
		{"critical", Args{"host": host}, notAfter.Add(-10 * day), api.StatusCritical, "TLS_CERT CRITICAL - " + host + " CN=shop-api.test expires in 10 days"},
		{"expired", Args{"host": host}, notAfter.Add(3 * day), api.StatusCritical, "TLS_CERT CRITICAL - " + host + " CN=shop-api.test expired 3 days ago"},
		{"own thresholds", Args{"host": host, "warning": 60, "critical": 45}, notAfter.Add(-50 * day), api.StatusWarning, "TLS_CERT WARNING"},
		{"verify fails on self-signed", Args{"host": host, "verify": true}, notAfter.Add(-40 * day), api.StatusCritical, "TLS_CERT CRITICAL - tls: failed to verify"},
		{"file", Args{"file": file}, notAfter.Add(-20 * day), api.StatusWarning, "TLS_CERT WARNING - " + file + " CN=shop-api.test expires in 20 days"},
		{"missing file", Args{"file": file + ".gone"}, notAfter, api.StatusCritical, "TLS_CERT CRITICAL - open "},
		{"refused", Args{"host": closedAddr(t)}, notAfter, api.StatusCritical, "TLS_CERT CRITICAL - "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			o := mustProbe(t, "tls_cert", tt.args).Probe(context.Background(), Env{Now: func() time.Time { return now }, Timeout: 5 * time.Second})
			if o.Status != tt.want || !strings.HasPrefix(o.Output, tt.wantText) {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Output, tt.want, tt.wantText)
			}
		})
	}
}
