package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// port returns the port of a test server's URL.
func port(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, ln.Addr().String())
	ln.Close()
	return p
}

func TestProberHTTP(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	tls := httptest.NewTLSServer(mux)
	defer tls.Close()

	p := NewProber()
	defer p.Close()
	ports := []int{port(t, srv.Listener.Addr().String()), port(t, tls.Listener.Addr().String()), closedPort(t)}
	tests := []struct {
		name  string
		check Check
		want  Result
	}{
		{"200", Check{Protocol: HTTP, Path: "/health"}, Result{OK: true, Msg: "status 200"}},
		{"503", Check{Protocol: HTTP, Path: "/down"}, Result{Msg: "status 503"}},
		{"302 is healthy and not followed", Check{Protocol: HTTP, Path: "/moved"}, Result{OK: true, Msg: "status 302"}},
		{"404", Check{Protocol: HTTP, Path: "/nope"}, Result{Msg: "status 404"}},
		{"timeout", Check{Protocol: HTTP, Path: "/slow", Timeout: 100 * time.Millisecond}, Result{Msg: "timed out after 100ms"}},
		{"refused", Check{Protocol: HTTP, Path: "/health", PortIndex: 2}, Result{Msg: "connection refused"}},
		{"https self-signed", Check{Protocol: HTTPS, Path: "/health", PortIndex: 1}, Result{OK: true, Msg: "status 200"}},
		{"fixed port", Check{Protocol: HTTP, Path: "/down", PortIndex: 2, Port: ports[0]}, Result{Msg: "status 503"}},
		{"port index out of range", Check{Protocol: HTTP, Path: "/health", PortIndex: 3}, Result{Msg: "port_index 3: the task has 3 ports"}},
		{"tcp", Check{Protocol: TCP}, Result{OK: true, Msg: "connected"}},
		{"tcp refused", Check{Protocol: TCP, PortIndex: 2}, Result{Msg: "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.check
			if c.Timeout == 0 {
				c.Timeout = 5 * time.Second
			}
			if got := p.Probe(context.Background(), c, Target{Ports: ports}); got != tt.want {
				t.Errorf("Probe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProberHTTP1xx uses a raw listener: Go's server does not send a final 1xx.
func TestProberHTTP1xx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"))
			}()
		}
	}()
	p := NewProber()
	defer p.Close()
	target := Target{Ports: []int{port(t, ln.Addr().String())}}
	for _, tt := range []struct {
		ignore bool
		want   Result
	}{
		{true, Result{Ignore: true, Msg: "status 101"}},
		{false, Result{Msg: "status 101"}},
	} {
		got := p.Probe(context.Background(), Check{Protocol: HTTP, Path: "/", Timeout: 5 * time.Second, IgnoreHTTP1xx: tt.ignore}, target)
		if got != tt.want {
			t.Errorf("IgnoreHTTP1xx %v: Probe = %+v, want %+v", tt.ignore, got, tt.want)
		}
	}
}

func TestProberCommand(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh is missing")
	}
	dir := t.TempDir()
	p := NewProber()
	tests := []struct {
		name    string
		command string
		timeout time.Duration
		want    Result
	}{
		{"exit 0", "true", 5 * time.Second, Result{OK: true, Msg: "exit code 0"}},
		{"exit 2 with output", "echo not ready >&2; exit 2", 5 * time.Second, Result{Msg: "exit code 2: not ready"}},
		{"task env", `test "$APP_TOKEN" = s3cret && echo ok`, 5 * time.Second, Result{OK: true, Msg: "exit code 0: ok"}},
		{"task dir", `test "$(pwd)" = "` + dir + `"`, 5 * time.Second, Result{OK: true, Msg: "exit code 0"}},
		{"timeout", "sleep 30", 200 * time.Millisecond, Result{Msg: "timed out after 200ms"}},
		{"long output is cut", "yes | head -c 2000 | tr -d '\\n'", 5 * time.Second, Result{OK: true, Msg: "exit code 0: " + strings.Repeat("y", MaxOutput)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Probe(context.Background(), Check{Protocol: COMMAND, Command: tt.command, Timeout: tt.timeout}, Target{Env: []string{"PATH=/usr/bin:/bin", "APP_TOKEN=s3cret"}, Dir: dir})
			if got != tt.want {
				t.Errorf("Probe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProberCommandKillsGroup checks that a timed-out command's children die
// with it: the probe returns long before a background sleep would end.
func TestProberCommandKillsGroup(t *testing.T) {
	p := NewProber()
	dir := t.TempDir()
	res := p.Probe(context.Background(), Check{Protocol: COMMAND, Command: "sleep 30 & echo $! > pid; wait", Timeout: 200 * time.Millisecond}, Target{Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir})
	if res.OK || res.Msg != "timed out after 200ms" {
		t.Fatalf("Probe = %+v", res)
	}
	// Killed is gone or a zombie not yet reaped by its new parent.
	out, err := exec.Command("sh", "-c", "s=$(cut -d' ' -f3 /proc/$(cat "+dir+"/pid)/stat 2>/dev/null); case $s in ''|Z) echo gone;; *) echo alive;; esac").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "gone" {
		t.Errorf("the command's child is %s after the timeout", got)
	}
}

// TestProberReusesConnections checks the shared client's bound: many probes
// of one task go over one kept-alive connection, not one connection each.
func TestProberReusesConnections(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	p := NewProber()
	defer p.Close()
	target := Target{Ports: []int{port(t, srv.Listener.Addr().String())}}
	for i := range 50 {
		if r := p.Probe(context.Background(), Check{Protocol: HTTP, Path: "/", Timeout: 5 * time.Second}, target); !r.OK {
			t.Fatalf("probe %d: %+v", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("50 sequential probes opened %d connections, want 1", conns)
	}
}
