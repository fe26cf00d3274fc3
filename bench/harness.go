// Package bench holds the benchmarks of whole features of Corral. Like the
// integration tests, they build the real binary once, start servers and
// agents as processes in temp dirs on loopback ports, and measure them from
// the outside: /proc for CPU and memory, the HTTP API and the agent channel
// for latency. Results, with the command that produced them, are in
// docs/PERFORMANCE.md. Nothing imports this package.
//
// The benchmarks report; they never fail on a missed target.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// skipUnlessLinux skips benchmarks that read /proc.
func skipUnlessLinux(tb testing.TB) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skipf("benchmarks read /proc: Linux only (this is %s)", runtime.GOOS)
	}
}

// binary is the corral binary built once for the whole run.
type binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// corral is built on first use and removed by TestMain.
var corral binary

// get builds the binary once and returns its path.
func (bin *binary) get(tb testing.TB) string {
	tb.Helper()
	bin.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			bin.err = err
			return
		}
		if bin.dir, err = os.MkdirTemp("", "corral-bench-"); err != nil {
			bin.err = err
			return
		}
		bin.path = filepath.Join(bin.dir, "corral")
		pkg := "./cmd/corral"
		if profileDir() != "" {
			pkg = "./bench/internal/profiled"
		}
		// corral-supervisor next to corral, as `make build` installs it:
		// the agent starts exec tasks under it.
		for _, b := range []struct{ out, pkg string }{{bin.path, pkg},
			{filepath.Join(bin.dir, "corral-supervisor"), "./internal/driver/exec/cmd/corral-supervisor"}} {
			cmd := exec.Command("go", "build", "-trimpath", "-o", b.out, b.pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				bin.err = fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bin.err != nil {
		tb.Fatal(bin.err)
	}
	return bin.path
}

func (bin *binary) cleanup() {
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
}

// profileDir is where server CPU profiles go ($BENCH_PROFILE_DIR); empty
// for no profiles. When set, the harness builds bench/internal/profiled, which
// is corral with a profiler switched by SIGUSR1 and SIGUSR2.
func profileDir() string { return os.Getenv("BENCH_PROFILE_DIR") }

// profile starts a CPU profile of p, when profiles are asked for, and
// returns the function that ends it (writing a heap profile too) and logs
// where they went.
func profile(tb testing.TB, p *Proc, what string) (stop func()) {
	dir := profileDir()
	if dir == "" || profileStart == nil {
		return func() {}
	}
	p.profiles++
	path := filepath.Join(dir, fmt.Sprintf("cpu-%d-%d.pprof", p.PID(), p.profiles))
	p.Cmd.Process.Signal(profileStart)
	return func() {
		p.Cmd.Process.Signal(profileStop)
		tb.Logf("CPU profile of pid %d over %s: %s (heap at its end: %s)", p.PID(), what, path,
			strings.Replace(path, "cpu-", "heap-", 1))
	}
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// childEnv is the environment of started processes: this one's without
// CORRAL_* settings, which would change their configuration.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CORRAL_") {
			env = append(env, kv)
		}
	}
	return env
}

// Proc is a started corral process.
type Proc struct {
	Cmd     *exec.Cmd
	Started time.Time // just before the fork
	LogPath string

	done     chan struct{}
	waitErr  error
	profiles int
}

// startProc starts the corral binary with args, its output appended to
// logPath. The process inherits this one's resource limits.
func startProc(tb testing.TB, logPath string, args ...string) *Proc {
	tb.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(corral.get(tb), args...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &Proc{Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start corral %s: %v", args[0], err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p
}

// PID is the process ID.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Stop sends SIGTERM and waits up to 15 s for the process to exit, then
// kills it.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(15 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("pid %d did not stop within 15s of SIGTERM; killed", p.PID())
	}
}

// LogTail returns the last n lines of the process's output.
func (p *Proc) LogTail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Server is a `corral server` process on loopback ports chosen at first
// start and kept across restarts (etcd remembers its peer URL).
type Server struct {
	*Proc
	Dir                       string
	HTTP, Agent, EtcdC, EtcdP string
	Args                      []string // more flags for Start
	logPath                   string
}

// newServer picks the ports of a server with data dir dir; Start runs it.
func newServer(tb testing.TB, dir string) *Server {
	tb.Helper()
	return &Server{Dir: dir, HTTP: freeAddr(tb), Agent: freeAddr(tb), EtcdC: freeAddr(tb), EtcdP: freeAddr(tb),
		logPath: dir + ".log"}
}

// Start starts the server process (again, after Stop).
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	args := []string{"server", "--data-dir", s.Dir, "--http-addr", s.HTTP, "--agent-addr", s.Agent,
		"--etcd-client-addr", s.EtcdC, "--etcd-peer-addr", s.EtcdP, "--carbon-addr", "127.0.0.1:0", "--pickle-addr", "127.0.0.1:0"}
	s.Proc = startProc(tb, s.logPath, append(args, s.Args...)...)
}

// WaitReady polls GET /readyz every 5 ms until it answers 200 and returns
// the time since the process was started. The server's certificate is not
// checked: on a fresh data dir the CA does not exist before the server runs.
func (s *Server) WaitReady(ctx context.Context) (time.Duration, error) {
	c, err := client.New("https://"+s.HTTP, "", client.WithInsecure())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		last = c.Readyz(rctx)
		rcancel()
		if last == nil {
			return time.Since(s.Started), nil
		}
		select {
		case <-s.Exited():
			return 0, fmt.Errorf("server exited before ready: %v\n%s", s.waitErr, s.LogTail(20))
		case <-ctx.Done():
			return 0, fmt.Errorf("server not ready: %v (last: %v)\n%s", ctx.Err(), last, s.LogTail(20))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// StartReady starts the server and waits until it is ready.
func (s *Server) StartReady(tb testing.TB) time.Duration {
	tb.Helper()
	s.Start(tb)
	d, err := s.WaitReady(context.Background())
	if err != nil {
		s.Stop()
		tb.Fatal(err)
	}
	return d
}

// CAPEM returns the cluster CA certificate the server wrote.
func (s *Server) CAPEM(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "ca.crt"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// AdminToken returns the first admin token the server wrote.
func (s *Server) AdminToken(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Client returns an API client with the admin token, trusting the cluster CA.
func (s *Server) Client(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New("https://"+s.HTTP, s.AdminToken(tb), client.WithCAPEM(s.CAPEM(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// JoinToken creates an agent join token.
func (s *Server) JoinToken(tb testing.TB) string {
	tb.Helper()
	nt, err := s.Client(tb).CreateToken(context.Background(), api.TokenRequest{Name: "bench", Role: api.RoleAgent})
	if err != nil {
		tb.Fatal(err)
	}
	return nt.Secret
}

// startAgent starts `corral agent` joining s with joinToken as node name, its
// data dir under parent.
func startAgent(tb testing.TB, s *Server, parent, name, joinToken string, args ...string) *Proc {
	tb.Helper()
	dir := filepath.Join(parent, name)
	return startProc(tb, dir+".log", append([]string{"agent", "--data-dir", dir, "--server", s.Agent, "--join-token", joinToken, "--name", name}, args...)...)
}

// waitNodeReady polls GET /api/v1/nodes/{name} every 5 ms until the node's
// status is ready and returns when that was seen.
func waitNodeReady(ctx context.Context, c *client.Client, name string, agent *Proc) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		n, err := c.Node(ctx, name)
		if err == nil && n.Status == api.NodeReady {
			return time.Now(), nil
		}
		if err == nil {
			last = fmt.Errorf("status %s", n.Status)
		} else {
			last = err
		}
		select {
		case <-agent.Exited():
			return time.Time{}, fmt.Errorf("agent exited before its node was ready: %v\n%s", agent.waitErr, agent.LogTail(20))
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("node %s not ready: %v (last: %v)", name, ctx.Err(), last)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// cpuTime returns the CPU time (user + system) process pid has used, from
// /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// memory returns the resident set size and its peak (VmRSS, VmHWM) of
// process pid in bytes, from /proc/PID/status.
func memory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fs := strings.Fields(v) // "12345 kB"
		if len(fs) != 2 || fs[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %q", pid, k, v)
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	return rss, hwm, sc.Err()
}

// Usage is what a process used over a window.
type Usage struct {
	Wall, CPU      time.Duration
	RSSAvg, RSSMax int64 // sampled every second
	RSSEnd, HWM    int64 // at the end of the window
	// MachineBusy is the CPU the whole machine used, every process
	// included, in percent of one core (200 is two busy cores).
	MachineBusy float64
}

// CPUPercent is the CPU used in percent of one core.
func (u Usage) CPUPercent() float64 { return 100 * u.CPU.Seconds() / u.Wall.Seconds() }

// machineIdle returns the idle time (idle and iowait) of all cores since
// boot and the number of cores, from /proc/stat. Busy time is derived from
// it and the wall clock: the kernel measures idle time exactly, while it
// samples user and system time at each tick, which aliases with periodic
// load such as an open-loop generator.
func machineIdle() (idle time.Duration, cores int, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, rest, _ := strings.Cut(string(b), "\n")
	for l := range strings.Lines(rest) {
		if len(l) > 3 && strings.HasPrefix(l, "cpu") && l[3] >= '0' && l[3] <= '9' {
			cores++
		}
	}
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, v := range f[4:6] { // idle, iowait
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, cores, nil
}

// measure watches process pid for d (or until ctx ends), sampling its RSS
// every second.
func measure(ctx context.Context, pid int, d time.Duration) (Usage, error) {
	cpu0, err := cpuTime(pid)
	if err != nil {
		return Usage{}, err
	}
	idle0, _, err := machineIdle()
	if err != nil {
		return Usage{}, err
	}
	t0 := time.Now()
	var u Usage
	var sum, n int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(d)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			rss, _, err := memory(pid)
			if err != nil {
				return Usage{}, err
			}
			sum, n = sum+rss, n+1
			u.RSSMax = max(u.RSSMax, rss)
		}
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return Usage{}, err
	}
	u.Wall, u.CPU = time.Since(t0), cpu1-cpu0
	idle1, cores, err := machineIdle()
	if err != nil {
		return Usage{}, err
	}
	u.MachineBusy = 100 * (float64(cores)*u.Wall.Seconds() - (idle1 - idle0).Seconds()) / u.Wall.Seconds()
	if u.RSSEnd, u.HWM, err = memory(pid); err != nil {
		return Usage{}, err
	}
	if n > 0 {
		u.RSSAvg = sum / n
	}
	u.RSSMax = max(u.RSSMax, u.RSSEnd)
	return u, nil
}

// Dist summarises a sample of durations.
type Dist struct {
	N                       int
	Min, P50, P90, P99, Max time.Duration
}

// distOf sorts d and summarises it (nearest-rank percentiles).
func distOf(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	pct := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return Dist{N: len(d), Min: d[0], P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: d[len(d)-1]}
}

func (d Dist) String() string {
	return fmt.Sprintf("n=%d min=%.1fms p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms",
		d.N, ms(d.Min), ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mb is n bytes in MiB.
func mb(n int64) float64 { return float64(n) / (1 << 20) }

// median returns the median of d (sorting it).
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
