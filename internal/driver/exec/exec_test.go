package exec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/driver"
	"corral/internal/driver/drivertest"
)

// TestMain turns the test binary into the supervisor when re-executed so.
func TestMain(m *testing.M) {
	if os.Getenv("CORRAL_TEST_SUPERVISOR") == "1" {
		os.Exit(SupervisorMain(os.Args[1:]))
	}
	if dir := os.Getenv("CORRAL_TEST_AGENT"); dir != "" {
		os.Exit(fakeAgent(dir))
	}
	os.Exit(m.Run())
}

// fakeAgent is an agent process for TestAgentKilled: it starts one task,
// says so on stdout, and waits to be killed.
func fakeAgent(dir string) int {
	d, err := New(testOptions(filepath.Join(dir, "state")))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	sb := filepath.Join(dir, "sandbox")
	os.Mkdir(sb, 0o755)
	_, err = d.Start(context.Background(), driver.Spec{ID: "orphan", Sandbox: sb,
		Cmd: "while [ ! -e go ]; do sleep 0.05; done; echo bye; exit 6"})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("started")
	time.Sleep(time.Hour)
	return 0
}

func testOptions(stateDir string) Options {
	return Options{
		SupervisorCommand: []string{os.Args[0]},
		SupervisorEnv:     []string{"CORRAL_TEST_SUPERVISOR=1"},
		StateDir:          stateDir,
		Poll:              50 * time.Millisecond,
	}
}

func newDriver(t testing.TB, stateDir string) *Driver {
	t.Helper()
	d, err := New(testOptions(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) driver.Driver {
		return newDriver(t, t.TempDir())
	}, drivertest.Caps{
		Reopen: func(t *testing.T, old driver.Driver) driver.Driver {
			return newDriver(t, old.(*Driver).opts.StateDir)
		},
	})
}

var taskSeq int

// start starts a task and stops and destroys it when the test ends.
func start(t *testing.T, d *Driver, spec driver.Spec) driver.Handle {
	t.Helper()
	taskSeq++
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("t%d-%d", os.Getpid(), taskSeq)
	}
	if spec.Sandbox == "" {
		spec.Sandbox = t.TempDir()
	}
	h, err := d.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d.Stop(ctx, h, 0)
		d.Destroy(ctx, h)
	})
	return h
}

func wait(t *testing.T, d *Driver, h driver.Handle) driver.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := d.Wait(ctx, h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func logs(t *testing.T, d *Driver, h driver.Handle) string {
	t.Helper()
	rc, err := d.Logs(context.Background(), h, false)
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

func TestEnv(t *testing.T) {
	d := newDriver(t, t.TempDir())
	sb := t.TempDir()
	h := start(t, d, driver.Spec{
		ID: "env-task", App: "/shop/api", Node: "node-7", Sandbox: sb,
		Cmd:   "env; pwd",
		Env:   map[string]string{"GREETING": "hi there", "PORT0": "overridden?"},
		Ports: []driver.Port{{Name: "http", Host: 31000}, {Name: "admin-ui", Host: 31001}, {Host: 31002}},
	})
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	out := logs(t, d, h)
	for _, want := range []string{
		"PORT0=31000", "PORT1=31001", "PORT2=31002", "PORT=31000", "PORTS=31000,31001,31002",
		"PORT_HTTP=31000", "PORT_ADMIN_UI=31001", "HOST=node-7",
		"CORRAL_APP_ID=/shop/api", "CORRAL_TASK_ID=env-task", "CORRAL_NODE=node-7",
		"CORRAL_SANDBOX=" + sb, "GREETING=hi there", "\n" + sb + "\n",
	} {
		if !strings.Contains("\n"+out, "\n"+strings.TrimPrefix(want, "\n")) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CORRAL_TEST_SUPERVISOR") {
		t.Errorf("the agent's environment leaked into the task:\n%s", out)
	}
}

func TestReasons(t *testing.T) {
	d := newDriver(t, t.TempDir())
	tests := []struct {
		name       string
		spec       driver.Spec
		startErr   string // substring of a Start error wrapping ErrStartFailed
		code       int
		signal     string
		wantReason string
	}{
		{"exit code", driver.Spec{Cmd: "exit 7"}, "", 7, "", "exit code 7"},
		{"success", driver.Spec{Cmd: "true"}, "", 0, "", ""},
		{"sh not found", driver.Spec{Cmd: "./no-such-api --port 1"}, "", 127, "", "command not found (exit code 127)"},
		{"sh not executable", driver.Spec{Cmd: "touch x; ./x"}, "", 126, "", "command not executable (exit code 126)"},
		{"signal", driver.Spec{Cmd: "kill -SEGV $$"}, "", 128 + 11, "SIGSEGV", "killed by SIGSEGV"},
		{"args missing relative", driver.Spec{Args: []string{"./api"}}, `exec: "./api": stat`, 0, "", ""},
		{"args missing absolute", driver.Spec{Args: []string{"/nonexistent/api"}}, "no such file or directory", 0, "", ""},
		{"args missing in PATH", driver.Spec{Args: []string{"no-such-program-xyz"}}, `"no-such-program-xyz": executable file not found in $PATH`, 0, "", ""},
		{"args ok", driver.Spec{Args: []string{"sh", "-c", "exit 4"}}, "", 4, "", "exit code 4"},
		{"no command", driver.Spec{}, "no command", 0, "", ""},
		{"unknown user", driver.Spec{Cmd: "true", User: "no-such-user-xyz"}, "no-such-user-xyz", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Sandbox = t.TempDir()
			if tt.startErr != "" {
				tt.spec.ID = fmt.Sprintf("fail-%d-%d", os.Getpid(), time.Now().UnixNano())
				_, err := d.Start(context.Background(), tt.spec)
				if !errors.Is(err, driver.ErrStartFailed) || !strings.Contains(err.Error(), tt.startErr) {
					t.Fatalf("Start err = %v, want ErrStartFailed with %q", err, tt.startErr)
				}
				if _, err := os.Stat(filepath.Join(d.opts.StateDir, tt.spec.ID)); !os.IsNotExist(err) {
					t.Errorf("a failed start left its state dir: %v", err)
				}
				return
			}
			st := wait(t, d, start(t, d, tt.spec))
			if st.State != driver.StateExited || st.ExitCode != tt.code || st.Signal != tt.signal || st.Reason != tt.wantReason {
				t.Errorf("status = %+v, want code %d signal %q reason %q", st, tt.code, tt.signal, tt.wantReason)
			}
		})
	}
}

// TestStopKillsGroup: a child of the task (in its process group) dies too.
func TestStopKillsGroup(t *testing.T) {
	d := newDriver(t, t.TempDir())
	sb := t.TempDir()
	h := start(t, d, driver.Spec{Sandbox: sb, Cmd: "sleep 600 & echo $! > child.pid; wait"})
	var child int
	for i := 0; i < 200 && child == 0; i++ {
		b, _ := os.ReadFile(filepath.Join(sb, "child.pid"))
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 || !alive(child) {
		t.Fatalf("child pid %d not running", child)
	}
	if err := d.Stop(context.Background(), h, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, d, h); !st.Stopped {
		t.Errorf("status %+v, want Stopped", st)
	}
	// The supervisor kills the group before writing the final status, but
	// the child may take a moment to become a zombie and be reaped by init.
	for i := 0; i < 100 && alive(child); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(child) {
		t.Errorf("child %d of the stopped task still runs", child)
	}
}

// TestChildOrphanKilledOnExit: when the task's main process exits, what it
// left in its group is killed too (as Mesos ends a container).
func TestChildOrphanKilledOnExit(t *testing.T) {
	d := newDriver(t, t.TempDir())
	sb := t.TempDir()
	h := start(t, d, driver.Spec{Sandbox: sb, Cmd: "sleep 600 >/dev/null 2>&1 & echo $! > child.pid"})
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	b, _ := os.ReadFile(filepath.Join(sb, "child.pid"))
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; i < 100 && alive(child); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if child == 0 || alive(child) {
		t.Errorf("orphan %d of the ended task still runs", child)
	}
}

// TestAgentRestart: the supervisor outlives the driver that started it; a
// new driver on the same state dir finds the task with the same pid and
// waits for its real exit.
func TestAgentRestart(t *testing.T) {
	state := t.TempDir()
	a := newDriver(t, state)
	sb := t.TempDir()
	h := start(t, a, driver.Spec{ID: "survivor", Sandbox: sb, Cmd: "while [ ! -e go ]; do sleep 0.05; done; exit 5"})
	before, err := a.Inspect(context.Background(), h)
	if err != nil || before.State != driver.StateRunning {
		t.Fatalf("Inspect = %+v, %v", before, err)
	}
	a = nil // the agent is gone; its supervisors are not its children any more in spirit

	b := newDriver(t, state)
	hs, err := b.Recover(context.Background())
	if err != nil || len(hs) != 1 || hs[0].TaskID != "survivor" {
		t.Fatalf("Recover = %+v, %v", hs, err)
	}
	st, err := b.Inspect(context.Background(), hs[0])
	if err != nil || st.State != driver.StateRunning || st.PID != before.PID || !alive(st.PID) {
		t.Fatalf("recovered Inspect = %+v, %v; want running pid %d", st, err, before.PID)
	}
	if err := os.WriteFile(filepath.Join(sb, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st = wait(t, b, hs[0])
	if st.ExitCode != 5 || st.Stopped || st.Reason != "exit code 5" {
		t.Errorf("status after restart = %+v, want exit code 5", st)
	}
	if err := b.Destroy(context.Background(), hs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "survivor")); !os.IsNotExist(err) {
		t.Errorf("state dir left after Destroy: %v", err)
	}
}

// TestSupervisorLost: a supervisor killed outright leaves the task unknown.
func TestSupervisorLost(t *testing.T) {
	d := newDriver(t, t.TempDir())
	h := start(t, d, driver.Spec{Cmd: "sleep 600"})
	st0, _ := readState(filepath.Join(d.opts.StateDir, h.TaskID))
	syscall.Kill(st0.SupervisorPID, syscall.SIGKILL)
	st := wait(t, d, h)
	if st.State != driver.StateUnknown || !strings.Contains(st.Reason, "lost") {
		t.Errorf("status = %+v, want unknown/lost", st)
	}
	// Stop still ends the orphaned task's group.
	if err := d.Stop(context.Background(), h, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && alive(st0.PID); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(st0.PID) {
		t.Errorf("task %d still runs after Stop of a lost task", st0.PID)
	}
}

func TestLogRotation(t *testing.T) {
	d := newDriver(t, t.TempDir())
	sb := t.TempDir()
	// 300 lines of 10 bytes = 3000 bytes on stdout with a 1000-byte cap.
	h := start(t, d, driver.Spec{Sandbox: sb, LogMaxBytes: 1000,
		Cmd: `i=0; while [ $i -lt 300 ]; do printf '%09d\n' $i; i=$((i+1)); done; echo oops >&2`})
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	cur, _ := os.ReadFile(filepath.Join(sb, "stdout"))
	old, _ := os.ReadFile(filepath.Join(sb, "stdout.1"))
	if len(cur) > 1000 || len(old) != 1000 {
		t.Fatalf("stdout %d bytes, stdout.1 %d bytes; want <= 1000 and 1000", len(cur), len(old))
	}
	// 3000 bytes: files of 1000 at offsets 0, 1000, 2000; the last two stay.
	var want strings.Builder
	for i := 100; i < 300; i++ {
		fmt.Fprintf(&want, "%09d\n", i)
	}
	if got := string(old) + string(cur); got != want.String() {
		t.Errorf("kept output = %q..., want lines 100-299", got[:40])
	}
	if err, _ := os.ReadFile(filepath.Join(sb, "stderr")); string(err) != "oops\n" {
		t.Errorf("stderr = %q", err)
	}
	if got := logs(t, d, h); got != want.String()+"oops\n" {
		t.Errorf("Logs gave %d bytes, want stdout then stderr (%d bytes)", len(got), want.Len()+5)
	}
}

func TestRotatingFileWrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	r, err := openRotating(p, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"ab", "cdefghij", "k"} {
		if n, err := r.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	r.Close()
	cur, _ := os.ReadFile(p)
	old, _ := os.ReadFile(p + ".1")
	if string(old) != "efgh" || string(cur) != "ijk" {
		t.Errorf("out.1 = %q, out = %q; want efgh, ijk", old, cur)
	}
}

func TestUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("switching users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	d := newDriver(t, t.TempDir())
	sb := t.TempDir()
	// The user must be able to reach its sandbox: open up the test's dirs.
	os.Chmod(filepath.Dir(sb), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(sb)), 0o755)
	h := start(t, d, driver.Spec{Sandbox: sb, Cmd: "id -u; id -g; touch mine", User: "nobody"})
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status %+v: %s", st, logs(t, d, h))
	}
	if got, want := logs(t, d, h), nobody.Uid+"\n"+nobody.Gid+"\n"; got != want {
		t.Errorf("id output = %q, want %q", got, want)
	}
	fi, err := os.Stat(filepath.Join(sb, "mine"))
	if err != nil || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != nobody.Uid {
		t.Errorf("file made by the task: %v, %v; want owned by %s", fi, err, nobody.Uid)
	}
}

func requireCgroups(t *testing.T, d *Driver) {
	t.Helper()
	if d.cgroups.Version == 0 {
		t.Skipf("cgroups not writable here (%s): run as root with the memory and cpu controllers mounted", d.cgroups.Why)
	}
}

func TestCPUShares(t *testing.T) {
	d := newDriver(t, t.TempDir())
	requireCgroups(t, d)
	h := start(t, d, driver.Spec{Cmd: "sleep 600", CPUs: 0.25})
	g := d.cgroups.forTask(h.TaskID)
	var checks map[string]string
	dir := g.paths[len(g.paths)-1]
	if d.cgroups.Version == 1 {
		checks = map[string]string{"cpu.shares": "256", "cpu.cfs_quota_us": "25000", "cpu.cfs_period_us": "100000"}
	} else {
		// runc's mapping: 1 + (256-2)*9999/262142 = 10.
		checks = map[string]string{"cpu.weight": "10", "cpu.max": "25000 100000"}
	}
	for f, want := range checks {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, %v; want %s", f, b, err, want)
		}
	}
	st, _ := d.Inspect(context.Background(), h)
	if !strings.Contains(string(mustRead(t, filepath.Join(dir, "cgroup.procs"))), strconv.Itoa(st.PID)) {
		t.Errorf("task %d not in %s", st.PID, dir)
	}
	// The supervisor itself stepped out again.
	st0, _ := readState(filepath.Join(d.opts.StateDir, h.TaskID))
	if strings.Contains(" "+strings.Join(strings.Fields(string(mustRead(t, filepath.Join(dir, "cgroup.procs")))), " ")+" ", " "+strconv.Itoa(st0.SupervisorPID)+" ") {
		t.Errorf("supervisor %d stayed in the task's cgroup", st0.SupervisorPID)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOOM(t *testing.T) {
	d := newDriver(t, t.TempDir())
	requireCgroups(t, d)
	if d.cgroups.forTask("x").mem == "" {
		t.Skip("no memory cgroup controller")
	}
	// 100 MB through a shell variable: well past 32 MiB.
	h := start(t, d, driver.Spec{MemMiB: 32, Cmd: `x=$(head -c 100000000 /dev/zero | tr '\0' x); echo survived ${#x}`})
	st := wait(t, d, h)
	if !st.OOM || st.Reason != "OOM: exceeded 32 MiB" || st.Signal != "SIGKILL" {
		t.Errorf("status = %+v, want OOM killed by SIGKILL with reason \"OOM: exceeded 32 MiB\"; logs %q", st, logs(t, d, h))
	}
	if _, err := os.Stat(d.cgroups.forTask(h.TaskID).mem); !os.IsNotExist(err) {
		t.Errorf("memory cgroup left after the task ended: %v", err)
	}
}

func TestReasonTable(t *testing.T) {
	tests := []struct {
		in   exitInfo
		want string
	}{
		{exitInfo{}, ""},
		{exitInfo{Code: 3}, "exit code 3"},
		{exitInfo{Code: 127}, "exit code 127"},
		{exitInfo{Code: 127, ViaShell: true}, "command not found (exit code 127)"},
		{exitInfo{Code: 137, Signal: "SIGKILL"}, "killed by SIGKILL"},
		{exitInfo{Code: 137, Signal: "SIGKILL", OOM: true, MemMiB: 128}, "OOM: exceeded 128 MiB"},
	}
	for _, tt := range tests {
		if got := reason(tt.in); got != tt.want {
			t.Errorf("reason(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if SignalName(syscall.SIGTERM) != "SIGTERM" || SignalName(syscall.Signal(40)) != "signal 40" {
		t.Error("SignalName")
	}
}

// TestPIDReuse: a live process that is not the task's supervisor (its pid
// was reused) makes the task lost, not running.
func TestPIDReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "task-1")
	os.Mkdir(dir, 0o755)
	if supervising(os.Getpid(), dir) {
		t.Error("the test process was taken for the task's supervisor")
	}
	if err := writeJSON(filepath.Join(dir, statusFile), state{
		Status: driver.Status{State: driver.StateRunning, PID: 1}, SupervisorPID: os.Getpid(),
	}); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, t.TempDir())
	st, err := d.Inspect(context.Background(), d.handle("task-1", dir, os.Getpid()))
	if err != nil || st.State != driver.StateUnknown {
		t.Errorf("Inspect = %+v, %v; want unknown", st, err)
	}
}

// TestCgroupV2Clone runs a task on a cgroup v2 hierarchy (the hybrid
// layout's /sys/fs/cgroup/unified here): it is cloned straight into its
// group.
func TestCgroupV2Clone(t *testing.T) {
	root := os.Getenv("CORRAL_TEST_CGROUP2")
	if root == "" {
		root = "/sys/fs/cgroup/unified"
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		t.Skipf("no cgroup v2 hierarchy at %s (set CORRAL_TEST_CGROUP2)", root)
	}
	o := testOptions(t.TempDir())
	o.CgroupRoot = root
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if d.CgroupVersion() != 2 {
		t.Skipf("cgroup v2 at %s not writable: %s", root, d.cgroups.Why)
	}
	h := start(t, d, driver.Spec{Cmd: "sleep 600", CPUs: 0.5})
	st, _ := d.Inspect(context.Background(), h)
	procs := string(mustRead(t, filepath.Join(root, cgroupParent, h.TaskID, "cgroup.procs")))
	// sh may fork sleep rather than exec it: the task's pid is there, and
	// not the supervisor's.
	sup, _ := readState(filepath.Join(d.opts.StateDir, h.TaskID))
	fields := " " + strings.Join(strings.Fields(procs), " ") + " "
	if !strings.Contains(fields, " "+strconv.Itoa(st.PID)+" ") || strings.Contains(fields, " "+strconv.Itoa(sup.SupervisorPID)+" ") {
		t.Errorf("cgroup.procs = %q, want the task %d and not the supervisor %d", procs, st.PID, sup.SupervisorPID)
	}
	if err := d.Stop(context.Background(), h, time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, d, h)
	if _, err := os.Stat(filepath.Join(root, cgroupParent, h.TaskID)); !os.IsNotExist(err) {
		t.Errorf("v2 group left after the task ended: %v", err)
	}
}

// TestFetchThenRun: fetched files land in the sandbox before the start.
func TestFetchThenRun(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\necho fetched $1\n"), 0o644)
	d := newDriver(t, t.TempDir())
	h := start(t, d, driver.Spec{Args: []string{"./run.sh", "ok"},
		Fetch: []driver.Fetch{{URI: "file://" + filepath.Join(src, "run.sh"), Executable: true}}})
	if st := wait(t, d, h); st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	if got := logs(t, d, h); got != "fetched ok\n" {
		t.Errorf("logs = %q", got)
	}
	_, err := d.Start(context.Background(), driver.Spec{ID: "bad-fetch", Sandbox: t.TempDir(), Cmd: "true",
		Fetch: []driver.Fetch{{URI: "file:///nonexistent/x.tgz"}}})
	if !errors.Is(err, driver.ErrStartFailed) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Start with a missing fetch URI = %v, want ErrStartFailed with the OS's reason", err)
	}
}

// TestStartCanceled: a supervisor that never reports does not hang Start
// past its context, and is killed.
func TestStartCanceled(t *testing.T) {
	o := testOptions(t.TempDir())
	marker := fmt.Sprintf("sleep\x00600.%d", os.Getpid()) // GNU sleep takes fractions
	o.SupervisorCommand = []string{"/bin/sh", "-c", "exec sleep 600." + strconv.Itoa(os.Getpid()), "sh"}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = d.Start(ctx, driver.Spec{ID: "hung", Sandbox: t.TempDir(), Cmd: "true"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want the context's deadline", err)
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, "hung")); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.HasPrefix(string(b), marker) {
			t.Errorf("hung supervisor %s still runs", p)
		}
	}
}

// TestAgentKilled: the agent process is SIGKILLed (with its process group);
// the task runs on and a new driver in another process waits for it.
func TestAgentKilled(t *testing.T) {
	dir := t.TempDir()
	agent := osexec.Command(os.Args[0], "-test.run=^$")
	agent.Env = append(os.Environ(), "CORRAL_TEST_AGENT="+dir)
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "started\n" {
		agent.Process.Kill()
		agent.Wait()
		t.Fatalf("fake agent said %q", line)
	}
	syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
	agent.Wait()

	d := newDriver(t, filepath.Join(dir, "state"))
	hs, err := d.Recover(context.Background())
	if err != nil || len(hs) != 1 {
		t.Fatalf("Recover = %v, %v", hs, err)
	}
	t.Cleanup(func() { d.Stop(context.Background(), hs[0], 0); d.Destroy(context.Background(), hs[0]) })
	st, err := d.Inspect(context.Background(), hs[0])
	if err != nil || st.State != driver.StateRunning || !alive(st.PID) {
		t.Fatalf("task after the agent died: %+v, %v", st, err)
	}
	os.WriteFile(filepath.Join(dir, "sandbox", "go"), nil, 0o644)
	st = wait(t, d, hs[0])
	if st.ExitCode != 6 || st.Reason != "exit code 6" {
		t.Errorf("status = %+v, want exit code 6", st)
	}
	if got := logs(t, d, hs[0]); got != "bye\n" {
		t.Errorf("logs = %q", got)
	}
}
