package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// corralBin is the binary TestMain builds once for every test.
var corralBin string

// Deadlines. They are generous because the machine may be small and busy;
// every wait polls, so a healthy run is much faster.
const (
	startTimeout = 60 * time.Second // a server (with its etcd) answers /readyz
	readyTimeout = 30 * time.Second // a node becomes ready
	exitTimeout  = 30 * time.Second // a refused agent exits
	cliTimeout   = 60 * time.Second // one CLI run
	pollInterval = 100 * time.Millisecond
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "corral-integration-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	corralBin = filepath.Join(dir, "corral")
	build := exec.Command("go", "build", "-o", corralBin, "./cmd/corral")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: go build ./cmd/corral: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot returns the directory of the corral module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the corral module")
	}
	return filepath.Dir(mod), nil
}

// eventually calls fn every pollInterval until it returns nil, and fails the
// test with fn's last error when timeout has passed.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// testCtx returns a context that ends with the test or after a minute.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago and that no other test of this process got.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		if portsUsed[p] {
			continue
		}
		portsUsed[p] = true
		ports = append(ports, p)
	}
	return ports
}

// portRange returns the first of 100 consecutive ports that were free on
// 127.0.0.1 a moment ago and that no other test of this process got: an
// agent's --port-range (agents of tests share the machine).
func portRange(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	// Below the kernel's ephemeral range (32768-60999), so that outgoing
	// connections do not take them meanwhile.
	for try := 0; try < 200; try++ {
		base := 20000 + 100*rand.IntN(120)
		free := true
		for p := base; p < base+100 && free; p++ {
			if portsUsed[p] {
				free = false
				break
			}
			l, err := net.Listen("tcp", loopback(p))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			for p := base; p < base+100; p++ {
				portsUsed[p] = true
			}
			return base
		}
	}
	t.Fatal("no 100 free consecutive ports in 20000-31999")
	return 0
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// childEnv is the environment of every child process: this process's,
// without CORRAL_* and ETCD* variables, with HOME and XDG_CONFIG_HOME in home
// so that nothing touches the real ~/.config.
func childEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CORRAL_") || strings.HasPrefix(k, "ETCD") || k == "HOME" || k == "XDG_CONFIG_HOME" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	return append(env, extra...)
}

// proc is a corral process that can be killed and started again with the
// same arguments. Its output goes to files in dir, one pair per run, shown
// with t.Log when the test fails.
type proc struct {
	t    testing.TB
	name string
	dir  string
	env  []string
	bin  string // the program; corral when empty

	mu    sync.Mutex
	args  []string
	runs  int
	cmd   *exec.Cmd
	done  chan struct{}
	state *os.ProcessState
}

func newProc(t testing.TB, name, dir string, env, args []string) *proc {
	p := &proc{t: t, name: name, dir: dir, env: env, args: args}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p
}

func (p *proc) logPath(run int, stream string) string {
	return filepath.Join(p.dir, fmt.Sprintf("%s.%d.%s", p.name, run, stream))
}

// start starts the process; it must not be running.
func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			p.t.Fatalf("%s: start while running", p.name)
		}
	}
	p.runs++
	stdout, err := os.Create(p.logPath(p.runs, "stdout"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.logPath(p.runs, "stderr"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer stderr.Close()
	bin := p.bin
	if bin == "" {
		bin = corralBin
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state = cmd, done, nil
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
}

// current returns the command and the done channel of the current run.
func (p *proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *proc) Kill() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-done
}

// Signal sends sig to the process.
func (p *proc) Signal(sig os.Signal) {
	p.t.Helper()
	cmd, _ := p.current()
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// Exited reports whether the current run has ended, and its exit code.
func (p *proc) Exited() (bool, int) {
	_, done := p.current()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.state.ExitCode()
	default:
		return false, 0
	}
}

// Wait waits up to timeout for the current run to end and returns its exit
// code; it fails the test when the process is still running.
func (p *proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	_, done := p.current()
	select {
	case <-done:
	case <-time.After(timeout):
		// A Go process prints every goroutine's stack on SIGQUIT: the
		// stderr shown with the failure says where it hangs.
		if cmd, _ := p.current(); cmd != nil && cmd.Process != nil {
			cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
		}
		p.t.Fatalf("%s still running after %s", p.name, timeout)
	}
	_, code := p.Exited()
	return code
}

// Stdout and Stderr return the output of the current run so far.
func (p *proc) Stdout() string { return p.read("stdout") }
func (p *proc) Stderr() string { return p.read("stderr") }

func (p *proc) read(stream string) string {
	p.mu.Lock()
	run := p.runs
	p.mu.Unlock()
	b, _ := os.ReadFile(p.logPath(run, stream))
	return string(b)
}

func (p *proc) dumpLogs() {
	p.mu.Lock()
	runs := p.runs
	p.mu.Unlock()
	for run := 1; run <= runs; run++ {
		for _, stream := range []string{"stdout", "stderr"} {
			b, _ := os.ReadFile(p.logPath(run, stream))
			const max = 12 << 10
			if len(b) > max {
				b = append([]byte("...\n"), b[len(b)-max:]...)
			}
			if len(b) > 0 {
				p.t.Logf("--- %s run %d %s:\n%s", p.name, run, stream, b)
			}
		}
	}
}

// ServerOptions are the settings of a test server; zero fields take the
// defaults noted.
type ServerOptions struct {
	LeaseTTL          time.Duration // default 5s
	HeartbeatInterval time.Duration // default 1s
	AgentCertTTL      time.Duration // default the server's
	MaxBodyBytes      int64         // default the server's
	EtcdEndpoints     []string      // external etcd; default embedded
	Args              []string      // more flags
	// ShareFrom is the data dir of a server whose cluster key (and admin
	// token file) this one shares: servers of one cluster on one etcd.
	ShareFrom string
}

// Server is a `corral server` process on loopback ports chosen up front, so
// that it comes back on the same addresses after Restart.
type Server struct {
	t         testing.TB
	Dir       string // --data-dir
	Home      string // HOME of the process and of CLI runs against it
	HTTPAddr  string
	AgentAddr string
	// CarbonAddr is carbon plaintext (TCP and UDP), PickleAddr carbon pickle.
	CarbonAddr, PickleAddr string
	proc                   *proc
}

// StartServer starts a server and waits until it is ready.
func StartServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	base := t.TempDir()
	ports := freePorts(t, 6)
	s := &Server{
		t: t, Dir: filepath.Join(base, "data"), Home: filepath.Join(base, "home"),
		HTTPAddr: loopback(ports[0]), AgentAddr: loopback(ports[1]),
		CarbonAddr: loopback(ports[2]), PickleAddr: loopback(ports[3]),
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = 5 * time.Second
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = time.Second
	}
	args := []string{"server",
		"--data-dir", s.Dir,
		"--http-addr", s.HTTPAddr,
		"--agent-addr", s.AgentAddr,
		"--carbon-addr", loopback(ports[2]),
		"--pickle-addr", loopback(ports[3]),
		"--etcd-client-addr", loopback(ports[4]),
		"--etcd-peer-addr", loopback(ports[5]),
		"--lease-ttl", opts.LeaseTTL.String(),
		"--heartbeat-interval", opts.HeartbeatInterval.String(),
	}
	if opts.AgentCertTTL > 0 {
		args = append(args, "--agent-cert-ttl", opts.AgentCertTTL.String())
	}
	if opts.MaxBodyBytes > 0 {
		args = append(args, "--max-body-bytes", strconv.FormatInt(opts.MaxBodyBytes, 10))
	}
	if len(opts.EtcdEndpoints) > 0 {
		args = append(args, "--etcd-endpoints", strings.Join(opts.EtcdEndpoints, ","))
	}
	args = append(args, opts.Args...)
	if err := os.MkdirAll(s.Home, 0o700); err != nil {
		t.Fatal(err)
	}
	if opts.ShareFrom != "" {
		if err := os.MkdirAll(s.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"cluster.key", "admin.token"} {
			b, err := os.ReadFile(filepath.Join(opts.ShareFrom, f))
			if err == nil {
				err = os.WriteFile(filepath.Join(s.Dir, f), b, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	s.proc = newProc(t, "server", base, childEnv(s.Home), args)
	s.proc.start()
	s.waitReady()
	return s
}

// CAFile is the cluster CA the server wrote for clients.
func (s *Server) CAFile() string { return filepath.Join(s.Dir, "ca.crt") }

// URL is the base URL of the API.
func (s *Server) URL() string { return "https://" + s.HTTPAddr }

func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if exited, code := s.proc.Exited(); exited {
			s.t.Fatalf("server exited with code %d before it was ready:\n%s", code, s.proc.Stderr())
		}
		last = s.ready()
		if last == nil {
			return
		}
		time.Sleep(pollInterval)
	}
	s.t.Fatalf("server not ready after %s: %v", startTimeout, last)
}

func (s *Server) ready() error {
	if _, err := os.Stat(filepath.Join(s.Dir, "admin.token")); err != nil {
		return err
	}
	c, err := client.New(s.URL(), "", client.WithCAFile(s.CAFile()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Readyz(ctx)
}

// Kill sends SIGKILL to the server and waits until it is gone.
func (s *Server) Kill() { s.proc.Kill() }

// Stop sends SIGTERM and waits for a clean exit (code 0).
func (s *Server) Stop() {
	s.t.Helper()
	s.proc.Signal(syscall.SIGTERM)
	if code := s.proc.Wait(15 * time.Second); code != 0 {
		s.t.Fatalf("server exited with code %d after SIGTERM:\n%s", code, s.proc.Stderr())
	}
}

// Restart starts the server again with the same flags and waits until it is
// ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.proc.start()
	s.waitReady()
}

// AdminToken returns the first admin token, from <data-dir>/admin.token.
func (s *Server) AdminToken() string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Client returns an API client with token (none when empty).
func (s *Server) Client(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(s.URL(), token, client.WithCAFile(s.CAFile()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Admin returns an API client with the first admin token.
func (s *Server) Admin(t testing.TB) *client.Client { return s.Client(t, s.AdminToken()) }

// CreateToken creates a token with the admin token and returns it.
func (s *Server) CreateToken(t testing.TB, req api.TokenRequest) api.NewToken {
	t.Helper()
	nt, err := s.Admin(t).CreateToken(testCtx(t), req)
	if err != nil {
		t.Fatalf("create %s token: %v", req.Role, err)
	}
	return nt
}

// JoinToken creates an agent token and returns its join token.
func (s *Server) JoinToken(t testing.TB) string {
	t.Helper()
	return s.CreateToken(t, api.TokenRequest{Role: api.RoleAgent}).Secret
}

// CLIFlags are the flags that point the CLI at the server with token.
func (s *Server) CLIFlags(token string) []string {
	return []string{"--addr", s.URL(), "--token", token, "--ca-file", s.CAFile()}
}

// Node returns a node as the API shows it.
func (s *Server) Node(t testing.TB, name string) (api.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Admin(t).Node(ctx, name)
}

// WaitNodeStatus waits until the node has status.
func (s *Server) WaitNodeStatus(t testing.TB, name, status string, timeout time.Duration) api.Node {
	t.Helper()
	var n api.Node
	eventually(t, timeout, func() error {
		var err error
		n, err = s.Node(t, name)
		if err != nil {
			return err
		}
		if n.Status != status {
			return fmt.Errorf("node %s is %s, want %s", name, n.Status, status)
		}
		return nil
	})
	return n
}

// HTTP sends one request to the API with token (none when empty) and
// returns the status and the body.
func (s *Server) HTTP(t testing.TB, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		ct := "text/plain" // carbon lines for POST /api/v1/metrics
		if t := bytes.TrimSpace(body); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// AgentOptions are the settings of a test agent.
type AgentOptions struct {
	Name string
	// JoinToken is given with --join-token on the first start; when empty
	// a new agent token is created, unless NoToken.
	JoinToken string
	NoToken   bool
	Labels    []string // key=value
	// Dir is the agent's data dir; default a new temporary one.
	Dir  string
	Args []string // more flags
}

// Agent is a `corral agent` process.
type Agent struct {
	t    testing.TB
	Name string
	Dir  string
	srv  *Server
	proc *proc
}

// StartAgent starts an agent of srv; it does not wait for the node.
func StartAgent(t testing.TB, srv *Server, opts AgentOptions) *Agent {
	t.Helper()
	base := t.TempDir()
	a := &Agent{t: t, Name: opts.Name, Dir: opts.Dir, srv: srv}
	if a.Dir == "" {
		a.Dir = filepath.Join(base, "data")
	}
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"agent", "--data-dir", a.Dir, "--server", srv.AgentAddr, "--log-level", "debug"}
	if opts.Name != "" {
		args = append(args, "--name", opts.Name)
	}
	for _, l := range opts.Labels {
		args = append(args, "--label", l)
	}
	args = append(args, opts.Args...)
	first := args
	if !opts.NoToken {
		tok := opts.JoinToken
		if tok == "" {
			tok = srv.JoinToken(t)
		}
		first = append(append([]string{}, args...), "--join-token", tok)
	}
	name := "agent"
	if opts.Name != "" {
		name += "-" + opts.Name
	}
	a.proc = newProc(t, name, base, childEnv(home), first)
	a.proc.start()
	// Restarts use no token: the agent has its certificate by then.
	a.proc.mu.Lock()
	a.proc.args = args
	a.proc.mu.Unlock()
	return a
}

// WaitReady waits until the agent's node is ready.
func (a *Agent) WaitReady() api.Node {
	a.t.Helper()
	return a.srv.WaitNodeStatus(a.t, a.Name, api.NodeReady, readyTimeout)
}

// Kill sends SIGKILL to the agent and waits until it is gone.
func (a *Agent) Kill() { a.proc.Kill() }

// Restart starts the agent again, without a join token.
func (a *Agent) Restart() {
	a.t.Helper()
	a.proc.start()
}

// Wait waits for the agent to exit and returns its exit code.
func (a *Agent) Wait() int {
	a.t.Helper()
	return a.proc.Wait(exitTimeout)
}

// Exited reports whether the agent has exited, and its exit code.
func (a *Agent) Exited() (bool, int) { return a.proc.Exited() }

// Stderr returns what the agent wrote to stderr so far.
func (a *Agent) Stderr() string { return a.proc.Stderr() }

// CLIEnv is where a CLI run happens.
type CLIEnv struct {
	Home string   // HOME; XDG_CONFIG_HOME is Home/.config. Default a new temp dir.
	Dir  string   // working directory; default Home
	Vars []string // more KEY=VALUE
}

// RunCLI runs the corral binary with args and returns its output and exit
// code.
func RunCLI(t testing.TB, env CLIEnv, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if env.Home == "" {
		env.Home = t.TempDir()
	}
	if env.Dir == "" {
		env.Dir = env.Home
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, corralBin, args...)
	cmd.Env = childEnv(env.Home, env.Vars...)
	cmd.Dir = env.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("corral %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("corral %s: still running after %s", strings.Join(args, " "), cliTimeout)
	}
	t.Logf("$ corral %s  (exit %d)\n%s%s", redact(args), code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// redact hides the value of --token in a logged command line.
func redact(args []string) string {
	out := append([]string{}, args...)
	for i := range out {
		if out[i] == "--token" && i+1 < len(out) {
			out[i+1] = "…"
		}
	}
	return strings.Join(out, " ")
}

// errorBody checks that b is an API error body, {"error": "...", "fields":
// {...}} (fields only when there are some), and returns it.
func errorBody(t testing.TB, b []byte) api.Error {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %q", err, b)
	}
	var e api.Error
	for k, v := range raw {
		switch k {
		case "error":
			if err := json.Unmarshal(v, &e.Message); err != nil || e.Message == "" {
				t.Errorf("error body: \"error\" is not a non-empty string: %s", b)
			}
		case "fields":
			if err := json.Unmarshal(v, &e.Fields); err != nil {
				t.Errorf("error body: \"fields\" is not an object of strings: %s", b)
			}
		default:
			t.Errorf("error body: unexpected key %q: %s", k, b)
		}
	}
	if _, ok := raw["error"]; !ok {
		t.Errorf("error body has no \"error\": %s", b)
	}
	return e
}
