package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
)

// dialTimeout is the timeout of a probe: its own arg, else the check's.
func dialTimeout(own time.Duration, env Env) time.Duration {
	switch {
	case own > 0:
		return own
	case env.Timeout > 0:
		return env.Timeout
	}
	return DefaultTimeout
}

// tcpProbe is check_tcp: args host (default 127.0.0.1), port, timeout,
// send (written after connecting), expect (a string the first reply line
// must contain), warning/critical (response seconds, optional).
type tcpProbe struct {
	addr         string
	timeout      time.Duration
	send, expect string
	warn, crit   float64
}

func parseTCP(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	host := r.str("host", "127.0.0.1")
	port := r.integer("port", 0)
	if port <= 0 || port > 65535 {
		r.fe.Add("port", "must be a port number from 1 to 65535")
	}
	p := &tcpProbe{addr: net.JoinHostPort(host, strconv.Itoa(port)), timeout: r.duration("timeout", 0),
		send: r.str("send", ""), expect: r.str("expect", ""),
		warn: r.number("warning", math.Inf(1)), crit: r.number("critical", math.Inf(1))}
	return p, r.done()
}

func (p *tcpProbe) Probe(ctx context.Context, env Env) Outcome {
	timeout := dialTimeout(p.timeout, env)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return Outcome{api.StatusCritical, fmt.Sprintf("TCP CRITICAL - %v", err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if p.send != "" {
		if _, err := io.WriteString(conn, p.send); err != nil {
			return Outcome{api.StatusCritical, fmt.Sprintf("TCP CRITICAL - send to %s: %v", p.addr, err)}
		}
	}
	if p.expect != "" {
		line, err := bufio.NewReader(io.LimitReader(conn, 64<<10)).ReadString('\n')
		if err != nil && line == "" {
			return Outcome{api.StatusCritical, fmt.Sprintf("TCP CRITICAL - read from %s: %v", p.addr, err)}
		}
		if !strings.Contains(line, p.expect) {
			return Outcome{api.StatusCritical, fmt.Sprintf("TCP CRITICAL - unexpected response from %s: %q", p.addr, strings.TrimSpace(line))}
		}
	}
	secs := time.Since(start).Seconds()
	s := above(secs, p.warn, p.crit)
	return Outcome{s, fmt.Sprintf("TCP %s - %.3f second response time on %s | time=%.6fs;%s;%s;0;%s",
		label(s), secs, p.addr, secs, limit(p.warn), limit(p.crit), fnum(timeout.Seconds()))}
}

// limit prints a threshold, or nothing when it is unset (+Inf).
func limit(v float64) string {
	if math.IsInf(v, 1) {
		return ""
	}
	return fnum(v)
}

// httpProbe is check_http: args url, status (a code or "200-299"; default
// 2xx and 3xx ok, 4xx warning, 5xx critical), contains (a string the body
// must hold), timeout, insecure (skip TLS verification), method (GET),
// warning/critical (response seconds, optional). Redirects are not
// followed, as check_http does by default.
type httpProbe struct {
	url, method, contains string
	statusLo, statusHi    int
	timeout               time.Duration
	insecure              bool
	warn, crit            float64
	client                *http.Client
}

func parseHTTP(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &httpProbe{url: r.required("url"), method: strings.ToUpper(r.str("method", "GET")), contains: r.str("contains", ""),
		timeout: r.duration("timeout", 0), insecure: r.boolean("insecure", false),
		warn: r.number("warning", math.Inf(1)), crit: r.number("critical", math.Inf(1))}
	if p.url != "" && !strings.HasPrefix(p.url, "http://") && !strings.HasPrefix(p.url, "https://") {
		r.fe.Add("url", "must start with http:// or https://")
	}
	if st := r.str("status", ""); st != "" {
		lo, hi, isRange := strings.Cut(st, "-")
		if !isRange {
			hi = lo
		}
		var err1, err2 error
		p.statusLo, err1 = strconv.Atoi(strings.TrimSpace(lo))
		p.statusHi, err2 = strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || p.statusLo < 100 || p.statusHi > 599 || p.statusLo > p.statusHi {
			r.fe.Add("status", "must be a status code or a range like \"200-299\"")
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: p.insecure}, DisableKeepAlives: true}
	p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p, r.done()
}

func (p *httpProbe) Probe(ctx context.Context, env Env) Outcome {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout(p.timeout, env))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, nil)
	if err != nil {
		return unknown("HTTP", err)
	}
	req.Header.Set("User-Agent", "corral-check")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return Outcome{api.StatusCritical, fmt.Sprintf("HTTP CRITICAL - %v", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Outcome{api.StatusCritical, fmt.Sprintf("HTTP CRITICAL - read body: %v", err)}
	}
	secs := time.Since(start).Seconds()
	s := api.StatusOK
	why := ""
	switch code := resp.StatusCode; {
	case p.statusLo > 0 && (code < p.statusLo || code > p.statusHi):
		s, why = api.StatusCritical, fmt.Sprintf(" (expected %d-%d)", p.statusLo, p.statusHi)
	case p.statusLo == 0 && code >= 500:
		s = api.StatusCritical
	case p.statusLo == 0 && code >= 400:
		s = api.StatusWarning
	}
	if p.contains != "" && !strings.Contains(string(body), p.contains) {
		s, why = api.StatusCritical, why+fmt.Sprintf(" - body does not contain %q", p.contains)
	}
	s = max(s, above(secs, p.warn, p.crit))
	return Outcome{s, fmt.Sprintf("HTTP %s: %s %s%s - %d bytes in %.3f second response time | time=%.6fs;%s;%s;0 size=%dB;;;0",
		label(s), resp.Proto, resp.Status, why, len(body), secs, secs, limit(p.warn), limit(p.crit), len(body))}
}

// tlsCertProbe: args host ("host:port") or file (PEM), servername,
// warning/critical (days before expiry, default 30 and 14), verify (check
// the chain and name too; default false: only expiry is judged).
type tlsCertProbe struct {
	host, file, serverName string
	warnDays, critDays     float64
	verify                 bool
	timeout                time.Duration
}

func parseTLSCert(a Args) (Probe, api.FieldErrors) {
	r := newReader(a)
	p := &tlsCertProbe{host: r.str("host", ""), file: r.str("file", ""), serverName: r.str("servername", ""),
		warnDays: r.number("warning", 30), critDays: r.number("critical", 14), verify: r.boolean("verify", false),
		timeout: r.duration("timeout", 0)}
	switch {
	case p.host == "" && p.file == "":
		r.fe.Add("host", "is required (or file)")
	case p.host != "" && p.file != "":
		r.fe.Add("file", "give host or file, not both")
	case p.host != "":
		if _, _, err := net.SplitHostPort(p.host); err != nil {
			r.fe.Add("host", "must be host:port")
		}
	}
	if p.critDays > p.warnDays {
		r.fe.Add("critical", "must not be above warning (days left)")
	}
	return p, r.done()
}

func (p *tlsCertProbe) Probe(ctx context.Context, env Env) Outcome {
	cert, where, err := p.leaf(ctx, env)
	if err != nil {
		return Outcome{api.StatusCritical, fmt.Sprintf("TLS_CERT CRITICAL - %v", err)}
	}
	left := cert.NotAfter.Sub(env.now())
	days := left.Hours() / 24
	s := api.StatusOK
	switch {
	case days <= p.critDays:
		s = api.StatusCritical
	case days <= p.warnDays:
		s = api.StatusWarning
	}
	state := fmt.Sprintf("expires in %d days (%s)", int(math.Floor(days)), cert.NotAfter.UTC().Format(time.RFC3339))
	if left < 0 {
		state = fmt.Sprintf("expired %d days ago (%s)", int(math.Floor(-days)), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return Outcome{s, fmt.Sprintf("TLS_CERT %s - %s %s %s | days=%s;%s;%s",
		label(s), where, cert.Subject.String(), state, f2(days), fnum(p.warnDays), fnum(p.critDays))}
}

// leaf returns the certificate to judge and where it came from.
func (p *tlsCertProbe) leaf(ctx context.Context, env Env) (*x509.Certificate, string, error) {
	if p.file != "" {
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, "", err
		}
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				return nil, "", fmt.Errorf("%s: no PEM certificate", p.file)
			}
			if blk.Type == "CERTIFICATE" {
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, "", fmt.Errorf("%s: %w", p.file, err)
				}
				return c, p.file, nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout(p.timeout, env))
	defer cancel()
	name := p.serverName
	if name == "" {
		name, _, _ = net.SplitHostPort(p.host)
	}
	d := tls.Dialer{Config: &tls.Config{ServerName: name, InsecureSkipVerify: !p.verify}}
	conn, err := d.DialContext(ctx, "tcp", p.host)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil, "", errors.New("not a TLS connection")
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, "", fmt.Errorf("%s sent no certificate", p.host)
	}
	return certs[0], p.host, nil
}
