package handler_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server for tests: EHLO, STARTTLS, AUTH PLAIN
// (offered only under TLS), MAIL, RCPT, DATA, RSET, NOOP, QUIT.
type smtpServer struct {
	addr       string
	tls        *tls.Config
	roots      *x509.CertPool
	user, pass string

	mu   sync.Mutex
	msgs []mail
}

type mail struct {
	from     string
	to       []string
	data     string
	tls      bool
	authUser string
}

func (s *smtpServer) messages() []mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mail(nil), s.msgs...)
}

// startSMTP listens on 127.0.0.1:0 with a fresh self-signed certificate.
func startSMTP(t *testing.T, user, pass string) *smtpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{
		addr:  ln.Addr().String(),
		tls:   &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		roots: roots, user: user, pass: pass,
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	tp := textproto.NewConn(conn)
	tp.PrintfLine("220 test ESMTP")
	var (
		tlsOn  bool
		authed string
		cur    mail
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"test"}
			if !tlsOn {
				ext = append(ext, "STARTTLS")
			} else {
				ext = append(ext, "AUTH PLAIN")
			}
			ext = append(ext, "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			tp.PrintfLine("220 2.0.0 ready")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, tlsOn = tc, textproto.NewConn(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if !tlsOn || mech != "PLAIN" || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				tp.PrintfLine("535 5.7.8 authentication failed")
				continue
			}
			authed = parts[1]
			tp.PrintfLine("235 2.7.0 authenticated")
		case "MAIL":
			if s.user != "" && authed == "" {
				tp.PrintfLine("530 5.7.0 authentication required")
				continue
			}
			cur = mail{from: strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>"), tls: tlsOn, authUser: authed}
			if i := strings.Index(cur.from, ">"); i >= 0 {
				cur.from = cur.from[:i]
			}
			tp.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			cur.to = append(cur.to, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			tp.PrintfLine("250 2.1.5 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.data = string(b)
			s.mu.Lock()
			s.msgs = append(s.msgs, cur)
			s.mu.Unlock()
			tp.PrintfLine("250 2.0.0 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 2.0.0 ok")
		case "QUIT":
			tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}
