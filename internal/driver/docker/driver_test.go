package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"corral/internal/driver"
)

// taskSeq makes task IDs unique within a package run.
var taskSeq atomic.Int64

// testDriver returns a Driver on the tests' engine, for node testNode.
func testDriver(t testing.TB) *Driver {
	t.Helper()
	host := testEngine(t)
	d, err := New(Options{Host: host, Node: testNode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// testSpec is a task of the test image running args.
func testSpec(t *testing.T, args ...string) driver.Spec {
	id := regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")
	id = strings.ToLower(strings.Trim(id, "-")) + "-" + strconv.FormatInt(taskSeq.Add(1), 10)
	return driver.Spec{ID: id, App: "/test/app", Node: testNode, Image: testImage, Args: args}
}

// start starts spec and destroys its container at the end of the test.
func start(t *testing.T, d *Driver, spec driver.Spec) driver.Handle {
	t.Helper()
	ctx := testContext(t)
	h, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("start %s: %v", spec.ID, err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), h) })
	return h
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wait(t *testing.T, d *Driver, h driver.Handle) driver.Status {
	t.Helper()
	st, err := d.Wait(testContext(t), h)
	if err != nil {
		t.Fatalf("wait %s: %v", h.TaskID, err)
	}
	return st
}

// readLogs returns the task's whole output once it ended.
func readLogs(t *testing.T, d *Driver, h driver.Handle) string {
	t.Helper()
	rc, err := d.Logs(testContext(t), h, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitForLine follows the task's output until a line equals want.
func waitForLine(t *testing.T, d *Driver, h driver.Handle, want string) {
	t.Helper()
	rc, err := d.Logs(testContext(t), h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		if sc.Text() == want {
			return
		}
	}
	t.Fatalf("output of %s ended without %q: %v", h.TaskID, want, sc.Err())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestExitCodes(t *testing.T) {
	d := testDriver(t)
	tests := []struct {
		name string
		args []string
		want driver.Status
	}{
		{"exit 0", []string{"exit", "0"}, driver.Status{State: driver.StateExited}},
		{"exit 3", []string{"print", "bye", "exit", "3"}, driver.Status{State: driver.StateExited, ExitCode: 3, Reason: "exit code 3"}},
		{"no more steps", nil, driver.Status{State: driver.StateExited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, d, testSpec(t, tt.args...))
			if h.Driver != "docker" || h.TaskID == "" {
				t.Errorf("handle = %+v", h)
			}
			got := wait(t, d, h)
			if got.StartedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
				t.Errorf("started %v finished %v", got.StartedAt, got.FinishedAt)
			}
			got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("status = %+v, want %+v", got, tt.want)
			}
			// Inspect of the ended task says the same.
			again, err := d.Inspect(testContext(t), h)
			if err != nil {
				t.Fatal(err)
			}
			if again.State != tt.want.State || again.ExitCode != tt.want.ExitCode {
				t.Errorf("inspect = %+v", again)
			}
		})
	}
}

func TestEnvLabelsAndConfig(t *testing.T) {
	d := testDriver(t)
	spec := testSpec(t, "env", "eprint", "to stderr", "exit", "0")
	spec.Env = map[string]string{"PORT0": "31234", "GREETING": "hello world"}
	spec.Labels = map[string]string{"team": "shop"}
	spec.MemMiB = 64
	spec.CPUs = 0.25
	spec.KillGrace = 4 * time.Second
	h := start(t, d, spec)
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status = %+v\n%s", st, readLogs(t, d, h))
	}
	out := readLogs(t, d, h)
	for _, want := range []string{"GREETING=hello world\n", "PORT0=31234\n", "to stderr\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// What the engine was told, as `docker inspect` shows it.
	res, err := d.api.ContainerInspect(testContext(t), "corral-"+spec.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Container
	wantLabels := map[string]string{"corral.task": spec.ID, "corral.app": "/test/app", "corral.node": testNode, "team": "shop"}
	for k, v := range wantLabels {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	for _, want := range []string{"GREETING=hello world", "PORT0=31234"} {
		if !slices.Contains(c.Config.Env, want) {
			t.Errorf("env %q lacks %q", c.Config.Env, want)
		}
	}
	if c.HostConfig.NetworkMode != "host" || c.HostConfig.RestartPolicy.Name != "no" {
		t.Errorf("network %q restart %q", c.HostConfig.NetworkMode, c.HostConfig.RestartPolicy.Name)
	}
	if c.HostConfig.Memory != 64<<20 || c.HostConfig.MemorySwap != 64<<20 || c.HostConfig.CPUShares != 256 {
		t.Errorf("memory %d swap %d shares %d", c.HostConfig.Memory, c.HostConfig.MemorySwap, c.HostConfig.CPUShares)
	}
	if c.Config.StopTimeout == nil || *c.Config.StopTimeout != 4 {
		t.Errorf("stop timeout %v", c.Config.StopTimeout)
	}
}

func TestVolumesAndUser(t *testing.T) {
	d := testDriver(t)
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	volumes := []driver.Volume{{HostPath: rw, ContainerPath: "/rw"}, {HostPath: ro, ContainerPath: "/ro", ReadOnly: true}}

	spec := testSpec(t, "cat", "/ro/in.txt", "write", "/rw/out.txt", "from the task", "write", "/ro/no.txt", "x")
	spec.Volumes = volumes
	h := start(t, d, spec)
	st := wait(t, d, h)
	// Reading the read-only volume and writing the other worked; writing
	// the read-only one failed (exit 102).
	if st.ExitCode != 102 {
		t.Errorf("status = %+v, want exit code 102", st)
	}
	out := readLogs(t, d, h)
	// (stdout and stderr written within microseconds may come in either
	// order: the engine reads them apart.)
	if !strings.Contains(out, "from the host\n") || !strings.Contains(out, "read-only file system") {
		t.Errorf("output = %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "out.txt")); err != nil || string(b) != "from the task" {
		t.Errorf("out.txt = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ro, "no.txt")); !os.IsNotExist(err) {
		t.Errorf("the task wrote to the read-only volume: %v", err)
	}

	spec = testSpec(t, "id")
	spec.User = "1234:5678"
	h = start(t, d, spec)
	wait(t, d, h)
	if out := readLogs(t, d, h); out != "uid=1234 gid=5678\n" {
		t.Errorf("id = %q", out)
	}
}

func TestStop(t *testing.T) {
	d := testDriver(t)
	tests := []struct {
		name   string
		args   []string
		signal string
		code   int
		reason string
	}{
		// A Go program dies of SIGTERM by default, but as the container's
		// pid 1 the kernel ignores the signal's default action and the Go
		// runtime falls back to exit(2).
		{"exits on SIGTERM", []string{"print", "ready", "sleep", "1h"}, "", 2, "stopped: exit code 2"},
		{"ignores SIGTERM: killed after grace", []string{"ignore-term", "print", "ready", "sleep", "1h"}, "SIGKILL", 137, "stopped: killed by SIGKILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, d, testSpec(t, tt.args...))
			waitForLine(t, d, h, "ready")
			st, err := d.Inspect(testContext(t), h)
			if err != nil || st.State != driver.StateRunning || st.PID == 0 {
				t.Fatalf("inspect running = %+v, %v", st, err)
			}
			if err := d.Stop(testContext(t), h, time.Second); err != nil {
				t.Fatal(err)
			}
			got := wait(t, d, h)
			if got.State != driver.StateExited || got.Signal != tt.signal || got.ExitCode != tt.code || !got.Stopped {
				t.Errorf("status = %+v, want %s exit %d stopped", got, tt.signal, tt.code)
			}
			if got.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", got.Reason, tt.reason)
			}
			// Stopping an ended task is not an error.
			if err := d.Stop(testContext(t), h, time.Second); err != nil {
				t.Errorf("second stop: %v", err)
			}
		})
	}
}

func TestOOM(t *testing.T) {
	d := testDriver(t)
	spec := testSpec(t, "alloc", "64", "sleep", "1h")
	spec.MemMiB = 16
	h := start(t, d, spec)
	got := wait(t, d, h)
	want := driver.Status{State: driver.StateExited, ExitCode: 137, Signal: "SIGKILL", OOM: true, Reason: "OOM: exceeded 16 MiB"}
	got.StartedAt, got.FinishedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("status = %+v, want %+v", got, want)
	}
	// Within its limit the same program lives.
	spec = testSpec(t, "alloc", "4", "exit", "0")
	spec.MemMiB = 64
	if got := wait(t, d, start(t, d, spec)); got.OOM || got.ExitCode != 0 {
		t.Errorf("within limit: %+v", got)
	}
}

func TestStartFailures(t *testing.T) {
	d := testDriver(t)
	ctx := testContext(t)

	// The engine's own answer to a pull of the missing image, to compare.
	const missing = "corral-test/missing:1"
	var engineMsg string
	if pull, err := d.api.ImagePull(ctx, missing, client.ImagePullOptions{}); err != nil {
		engineMsg = err.Error()
	} else {
		engineMsg = fmt.Sprint(pull.Wait(ctx))
		pull.Close()
	}
	if engineMsg == "" || engineMsg == "<nil>" {
		t.Fatalf("the engine pulled %s", missing)
	}

	tests := []struct {
		name    string
		spec    func(s *driver.Spec)
		message string
	}{
		{"missing image", func(s *driver.Spec) { s.Image = missing }, engineMsg},
		// The scratch image has no shell.
		{"cmd without sh", func(s *driver.Spec) { s.Cmd = "echo hi" }, "/bin/sh"},
		{"bad network", func(s *driver.Spec) { s.Network = "corral-no-such-net" }, "corral-no-such-net"},
		{"bad spec", func(s *driver.Spec) { s.Image = "" }, "needs an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, "exit", "0")
			tt.spec(&spec)
			h, err := d.Start(testContext(t), spec)
			t.Logf("start error: %v", err)
			if !errors.Is(err, driver.ErrStartFailed) {
				t.Fatalf("start = %+v, %v; want ErrStartFailed", h, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q lacks %q", err, tt.message)
			}
			// Nothing is left behind.
			_, err = d.api.ContainerInspect(testContext(t), ContainerName(spec.ID), client.ContainerInspectOptions{})
			if !cerrdefs.IsNotFound(err) {
				t.Errorf("container of failed start: %v", err)
			}
		})
	}
}

func TestStartReplacesEndedContainer(t *testing.T) {
	d := testDriver(t)
	spec := testSpec(t, "exit", "5")
	first := start(t, d, spec)
	if st := wait(t, d, first); st.ExitCode != 5 {
		t.Fatalf("first run: %+v", st)
	}
	// The same task ID again (the agent retrying it) replaces the ended
	// container.
	spec.Args = []string{"exit", "6"}
	second := start(t, d, spec)
	if st := wait(t, d, second); st.ExitCode != 6 {
		t.Errorf("second run: %+v", st)
	}
	if st, err := d.Inspect(testContext(t), first); err != nil || st.State != driver.StateUnknown {
		t.Errorf("first container: %+v, %v; want unknown", st, err)
	}
	// A running one is not replaced.
	spec = testSpec(t, "sleep", "1h")
	start(t, d, spec)
	if _, err := d.Start(testContext(t), spec); !errors.Is(err, driver.ErrStartFailed) {
		t.Errorf("start over a running container: %v", err)
	}
}

func TestHostNetworkPort(t *testing.T) {
	d := testDriver(t)
	port := freePort(t)
	spec := testSpec(t, "listen", "sleep", "1h")
	spec.Env = map[string]string{"PORT0": strconv.Itoa(port)}
	spec.Ports = []driver.Port{{Host: port}}
	h := start(t, d, spec)
	waitForLine(t, d, h, "listening on [::]:"+strconv.Itoa(port))
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ok\n" {
		t.Errorf("read %q, %v; want ok", line, err)
	}
}

func TestBridgePort(t *testing.T) {
	d := testDriver(t)
	// The tests' engine runs with --bridge=none; a bridge network of the
	// test's own serves as well where the engine can make one.
	netName := "bridge"
	if _, err := d.api.NetworkInspect(testContext(t), netName, client.NetworkInspectOptions{}); err != nil {
		netName = "corral-test-bridge"
		if _, cerr := d.api.NetworkCreate(testContext(t), netName, client.NetworkCreateOptions{Driver: "bridge"}); cerr != nil {
			t.Skipf("the engine has no bridge network (%v) and cannot make one: %v", err, cerr)
		}
		t.Cleanup(func() { d.api.NetworkRemove(context.Background(), netName, client.NetworkRemoveOptions{}) })
	}
	port := freePort(t)
	spec := testSpec(t, "listen", "sleep", "1h")
	spec.Network = netName
	spec.Env = map[string]string{"PORT0": "8080"}
	spec.Ports = []driver.Port{{Host: port, Container: 8080}}
	h := start(t, d, spec)
	waitForLine(t, d, h, "listening on [::]:8080")
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "ok\n" {
		t.Errorf("read %q, %v; want ok", line, err)
	}
}

func TestLogsFollow(t *testing.T) {
	d := testDriver(t)
	h := start(t, d, testSpec(t, "print", "one", "sleep", "300ms", "eprint", "two", "sleep", "300ms", "print", "three"))
	rc, err := d.Logs(testContext(t), h, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Following ends when the task ends.
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "one\ntwo\nthree\n"; string(b) != want {
		t.Errorf("logs = %q, want %q", b, want)
	}
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Errorf("status %+v", st)
	}
	// Closing a follow stream early releases it.
	h = start(t, d, testSpec(t, "print", "x", "sleep", "1h"))
	rc, err = d.Logs(testContext(t), h, true)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 2)
	if _, err := io.ReadFull(rc, first); err != nil || string(first) != "x\n" {
		t.Errorf("read %q, %v", first, err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestRecoverAndDestroy(t *testing.T) {
	d := testDriver(t)
	running := start(t, d, testSpec(t, "print", "ready", "sleep", "1h"))
	ended := start(t, d, testSpec(t, "exit", "4"))
	wait(t, d, ended)
	waitForLine(t, d, running, "ready")

	// An agent restarted: a new Driver finds both, running and ended.
	d2, err := New(Options{Host: theEngine.host, Node: testNode})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	hs, err := d2.Recover(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]driver.Handle{}
	for _, h := range hs {
		found[h.TaskID] = h
	}
	for _, want := range []driver.Handle{running, ended} {
		got, ok := found[want.TaskID]
		if !ok {
			t.Fatalf("recover lacks %s: %v", want.TaskID, hs)
		}
		if string(got.Data) != string(want.Data) || got.Driver != "docker" {
			t.Errorf("recovered %+v, want %+v", got, want)
		}
	}
	st, err := d2.Inspect(testContext(t), found[running.TaskID])
	if err != nil || st.State != driver.StateRunning {
		t.Errorf("recovered running task: %+v, %v", st, err)
	}
	st, err = d2.Inspect(testContext(t), found[ended.TaskID])
	if err != nil || st.State != driver.StateExited || st.ExitCode != 4 {
		t.Errorf("recovered ended task: %+v, %v", st, err)
	}

	// Another node's driver does not see them.
	other, err := New(Options{Host: theEngine.host, Node: "other-node"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	hs, err = other.Recover(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.TaskID == running.TaskID || h.TaskID == ended.TaskID {
			t.Errorf("other node recovered %+v", h)
		}
	}

	// Destroy removes the container, running or not; twice is fine.
	for _, h := range []driver.Handle{found[running.TaskID], found[ended.TaskID]} {
		if err := d2.Destroy(testContext(t), h); err != nil {
			t.Fatal(err)
		}
		if err := d2.Destroy(testContext(t), h); err != nil {
			t.Errorf("second destroy: %v", err)
		}
		ref, _ := containerRef(h)
		if _, err := d.api.ContainerInspect(testContext(t), ref, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
			t.Errorf("container %s after destroy: %v", ref, err)
		}
		st, err := d.Inspect(testContext(t), h)
		if err != nil || st.State != driver.StateUnknown {
			t.Errorf("inspect after destroy: %+v, %v", st, err)
		}
		if st, err := d.Wait(testContext(t), h); err != nil || st.State != driver.StateUnknown {
			t.Errorf("wait after destroy: %+v, %v", st, err)
		}
		if err := d.Stop(testContext(t), h, time.Second); err != nil {
			t.Errorf("stop after destroy: %v", err)
		}
	}
	hs, err = d2.Recover(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.TaskID == running.TaskID || h.TaskID == ended.TaskID {
			t.Errorf("recovered destroyed task %+v", h)
		}
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	d := testDriver(t)
	h := start(t, d, testSpec(t, "sleep", "1h"))
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := d.Wait(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with ended ctx = %v, want context.Canceled", err)
	}
}

// BenchmarkStartWaitDestroy measures one short task's whole life on the
// engine: create and start, wait for its exit, inspect, remove.
func BenchmarkStartWaitDestroy(b *testing.B) {
	d := testDriver(b)
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		spec := driver.Spec{ID: fmt.Sprintf("bench-%d-%d", taskSeq.Add(1), i), Node: testNode, Image: testImage, Args: []string{"exit", "0"}}
		h, err := d.Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if st, err := d.Wait(ctx, h); err != nil || st.ExitCode != 0 {
			b.Fatalf("wait: %+v, %v", st, err)
		}
		if err := d.Destroy(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPing(t *testing.T) {
	d := testDriver(t)
	v, err := d.Ping(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	// The engine's version as /version reports it independently.
	sv, err := d.api.ServerVersion(testContext(t), client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v == "" || v != sv.APIVersion {
		t.Errorf("ping API version %q, /version says %q", v, sv.APIVersion)
	}
	dead, err := New(Options{Host: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := dead.Ping(testContext(t)); err == nil {
		t.Error("ping of no engine: no error")
	}
}
