package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target is where and how to probe one task.
type Target struct {
	Host  string   // address of the task; "" is 127.0.0.1 (tasks on this node)
	Ports []int    // the task's host ports, in the app's order
	Env   []string // COMMAND: the task's environment, "K=V"
	Dir   string   // COMMAND: working directory (the task's sandbox); "" keeps the agent's
}

// Result is the outcome of one probe.
type Result struct {
	OK bool
	// Ignore marks a result that counts neither way (an HTTP 1xx status of
	// a check with IgnoreHTTP1xx).
	Ignore bool
	Msg    string // "status 200", "status 503", "connection refused", "timed out after 2s", ...
}

// Prober runs single probes. One Prober serves every check of a node: its
// HTTP client is shared, with a bounded transport (at most one idle and two
// open connections per task, a bounded idle pool), so 200 tasks checked
// every few seconds reuse connections instead of opening a storm of them.
type Prober struct {
	client *http.Client
	dialer net.Dialer
}

// MaxOutput is how much of a COMMAND check's output is kept in its message.
const MaxOutput = 512

// NewProber returns a Prober with its own HTTP transport. Close releases its
// idle connections.
func NewProber() *Prober {
	tr := &http.Transport{
		Proxy:                 nil, // health checks go straight to the task
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1,
		MaxConnsPerHost:       2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // the request context carries the check's timeout
		DisableCompression:    true,
		// Marathon does not verify the certificates of HTTPS health checks:
		// tasks commonly serve self-signed ones.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
		ForceAttemptHTTP2: false,
	}
	return &Prober{
		client: &http.Client{
			Transport: tr,
			// A redirect is a 3xx answer: healthy, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Close closes the idle connections of the shared HTTP client.
func (p *Prober) Close() { p.client.CloseIdleConnections() }

// Probe runs check c once against target t, within c.Timeout.
func (p *Prober) Probe(ctx context.Context, c Check, t Target) Result {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if c.Protocol == COMMAND {
		return p.command(ctx, c, t)
	}
	port, err := c.TargetPort(t.Ports)
	if err != nil {
		return Result{Msg: err.Error()}
	}
	host := t.Host
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	switch c.Protocol {
	case HTTP, HTTPS:
		return p.http(ctx, c, addr)
	case TCP:
		conn, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return Result{Msg: errMessage(ctx, c, err)}
		}
		_ = conn.Close()
		return Result{OK: true, Msg: "connected"}
	default:
		return Result{Msg: fmt.Sprintf("unknown protocol %q", c.Protocol)}
	}
}

func (p *Prober) http(ctx context.Context, c Check, addr string) Result {
	scheme := "http"
	if c.Protocol == HTTPS {
		scheme = "https"
	}
	path := c.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return Result{Msg: err.Error()}
	}
	req.Header.Set("User-Agent", "corral-health")
	resp, err := p.client.Do(req)
	if err != nil {
		return Result{Msg: errMessage(ctx, c, err)}
	}
	// Drain a little so the connection can be reused, then close.
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	_ = resp.Body.Close()
	msg := "status " + strconv.Itoa(resp.StatusCode)
	switch s := resp.StatusCode; {
	case s >= 200 && s < 400:
		return Result{OK: true, Msg: msg}
	case s < 200 && c.IgnoreHTTP1xx:
		return Result{Ignore: true, Msg: msg}
	default:
		return Result{Msg: msg}
	}
}

func (p *Prober) command(ctx context.Context, c Check, t Target) Result {
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Command)
	cmd.Env = t.Env
	cmd.Dir = t.Dir
	var out bytes.Buffer
	cmd.Stdout = &limited{w: &out, n: MaxOutput}
	cmd.Stderr = cmd.Stdout
	// Its own process group, so a timeout kills what the command started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if ctx.Err() != nil {
		return Result{Msg: errMessage(ctx, c, ctx.Err())}
	}
	if err != nil {
		var ee *exec.ExitError
		msg := err.Error()
		if errors.As(err, &ee) {
			msg = "exit code " + strconv.Itoa(ee.ExitCode())
		}
		if text != "" {
			msg += ": " + text
		}
		return Result{Msg: msg}
	}
	msg := "exit code 0"
	if text != "" {
		msg += ": " + text
	}
	return Result{OK: true, Msg: msg}
}

// errMessage turns a probe error into a short message: "connection
// refused", "timed out after 2s", else the error's own text.
func errMessage(ctx context.Context, c Check, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "timed out after " + c.Timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// limited writes at most n bytes to w and discards the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		if _, err := l.w.Write(b[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(b), nil
}
