// Package dockertest runs a Docker Engine of its own for tests: a dockerd
// on a temporary data root, listening on a socket in a temporary
// directory, with no bridge and no iptables rules (--bridge=none
// --iptables=false), so that it neither needs nor touches the machine's
// own engine. BuildImage builds test images FROM scratch around a static
// Go program, since no registry can be reached from a test.
//
// The docker driver's tests and the integration tests import it; nothing
// else does. A test that cannot have an engine (not root, no dockerd
// binary — Debian package docker.io —, -short, or a dockerd that does not
// come up here) is skipped with a message saying why.
//
// Start gives a test its own engine, stopped when the test ends. Shared
// gives every test of a test binary one engine, started by the first test
// that asks for it and stopped by the binary's TestMain:
//
//	var engine dockertest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		engine.Stop()
//		os.Exit(code)
//	}
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// ErrUnavailable is wrapped by the errors of Launch that mean no engine
// can run here (rather than a bug): tests skip on them.
var ErrUnavailable = errors.New("no docker engine for tests")

// Deadlines of an engine's start and stop.
const (
	startTimeout = 60 * time.Second // dockerd answers /_ping
	stopTimeout  = 30 * time.Second // dockerd exits after SIGTERM
)

// Engine is a running dockerd of the tests. Its methods are safe for
// concurrent use.
type Engine struct {
	dir    string // holds the socket, the data and exec roots, the log
	host   string
	cmd    *exec.Cmd
	exited chan struct{}
	stop   sync.Once
}

// Launch starts a dockerd in a new temporary directory and waits until it
// answers, at most a minute (or until ctx ends). The caller must Stop it.
// Errors that mean no engine can run here wrap ErrUnavailable.
func Launch(ctx context.Context) (*Engine, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: dockerd needs root", ErrUnavailable)
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("%w: dockerd not found (Debian package docker.io)", ErrUnavailable)
	}
	// A short path: the socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "corral-dockerd-")
	if err != nil {
		return nil, fmt.Errorf("%w: temp dir for dockerd: %w", ErrUnavailable, err)
	}
	e := &Engine{dir: dir, host: "unix://" + filepath.Join(dir, "docker.sock")}
	if err := e.start(ctx, bin); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// start runs dockerd and waits until it answers /_ping.
func (e *Engine) start(ctx context.Context, bin string) error {
	// An empty configuration: the machine's /etc/docker/daemon.json (if
	// any) is not the tests' business.
	config := filepath.Join(e.dir, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		return fmt.Errorf("%w: dockerd config: %w", ErrUnavailable, err)
	}
	logf, err := os.Create(e.logPath())
	if err != nil {
		return fmt.Errorf("%w: dockerd log: %w", ErrUnavailable, err)
	}
	e.cmd = exec.Command(bin,
		"--config-file", config,
		"--data-root", filepath.Join(e.dir, "data"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"),
		"-H", e.host,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--log-level=warn",
	)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		logf.Close()
		e.cmd = nil
		return fmt.Errorf("%w: start dockerd: %w", ErrUnavailable, err)
	}
	e.exited = make(chan struct{})
	go func() {
		_ = e.cmd.Wait() // its exit is seen through e.exited
		logf.Close()
		close(e.exited)
	}()

	api, err := client.New(client.WithHost(e.host))
	if err != nil {
		return fmt.Errorf("docker client for %s: %w", e.host, err)
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := api.Ping(pctx, client.PingOptions{})
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("%w: dockerd exited at start:\n%s", ErrUnavailable, e.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("%w: dockerd did not answer /_ping within %s (%v):\n%s", ErrUnavailable, startTimeout, err, e.LogTail(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Start returns a new engine for tb, stopped when tb ends; it skips tb
// when no engine can run here. The engine's log is shown when tb failed.
func Start(tb testing.TB) *Engine {
	tb.Helper()
	if testing.Short() {
		tb.Skip("docker engine tests need a dockerd; skipped with -short")
	}
	e, err := Launch(context.Background())
	if errors.Is(err, ErrUnavailable) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("--- dockerd log (last 40 lines):\n%s", e.LogTail(40))
		}
		e.Stop()
	})
	return e
}

// Host is the engine's address for a client or an agent's --docker-host:
// "unix:///tmp/corral-dockerd-.../docker.sock".
func (e *Engine) Host() string { return e.host }

// Client returns a client of the engine, closed when tb ends.
func (e *Engine) Client(tb testing.TB) *client.Client {
	tb.Helper()
	api, err := client.New(client.WithHost(e.host))
	if err != nil {
		tb.Fatalf("docker client for %s: %v", e.host, err)
	}
	tb.Cleanup(func() { api.Close() })
	return api
}

func (e *Engine) logPath() string { return filepath.Join(e.dir, "dockerd.log") }

// LogTail returns the last n lines dockerd wrote.
func (e *Engine) LogTail(n int) string {
	b, _ := os.ReadFile(e.logPath())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop ends dockerd (SIGTERM, which stops the containers that still run;
// SIGKILL to its process group after 30 s) and removes its directory.
// Stopping a stopped engine does nothing.
func (e *Engine) Stop() {
	e.stop.Do(func() {
		if e.cmd != nil && e.exited != nil {
			_ = e.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-e.exited:
			case <-time.After(stopTimeout):
				_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
				<-e.exited
			}
		}
		unmountUnder(e.dir)
		os.RemoveAll(e.dir)
	})
}

// unmountUnder detaches what is still mounted under dir: dockerd leaves
// its network namespace (exec/netns/default) mounted, and a killed one
// its containers' file systems.
func unmountUnder(dir string) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(mounts), "\n")
	// The deepest first: the last mounted is listed last.
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

// Shared is one engine for every test of a test binary that asks for it:
// the first starts it (and runs Prepare), TestMain calls Stop after
// m.Run. The zero value is ready to use; a Shared must not be copied.
type Shared struct {
	// Prepare, when set, runs once when the engine answers, e.g. to build
	// the tests' images. Its error fails every test that asks for the
	// engine.
	Prepare func(ctx context.Context, e *Engine) error

	once sync.Once
	e    *Engine
	err  error
}

// Engine returns the shared engine, starting it on the first call, or
// skips tb when no engine can run here.
func (s *Shared) Engine(tb testing.TB) *Engine {
	tb.Helper()
	if testing.Short() {
		tb.Skip("docker engine tests need a dockerd; skipped with -short")
	}
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s.e, s.err = Launch(ctx)
		if s.err == nil && s.Prepare != nil {
			if err := s.Prepare(ctx, s.e); err != nil {
				s.err = fmt.Errorf("prepare the tests' engine: %w\ndockerd log:\n%s", err, s.e.LogTail(20))
			}
		}
	})
	if errors.Is(s.err, ErrUnavailable) {
		tb.Skip(s.err)
	}
	if s.err != nil {
		tb.Fatal(s.err)
	}
	return s.e
}

// Stop stops the engine if a test started it.
func (s *Shared) Stop() {
	// Waits for a start still under way, and keeps a later Engine from
	// starting one that nobody stops.
	s.once.Do(func() { s.err = fmt.Errorf("%w: the shared engine was stopped", ErrUnavailable) })
	if s.e != nil {
		s.e.Stop()
	}
}
