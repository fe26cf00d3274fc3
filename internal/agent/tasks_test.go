package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/exec"
	"corral/internal/driver/mock"
)

// TestMain turns the test binary into the exec driver's supervisor when
// the driver re-executes it so.
func TestMain(m *testing.M) {
	if os.Getenv("CORRAL_TEST_SUPERVISOR") == "1" {
		os.Exit(exec.SupervisorMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// reports collects what the runner reports, as the spool would: JSON.
type reports struct {
	mu   sync.Mutex
	recs []struct {
		typ  string
		data []byte
	}
}

func (r *reports) add(typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.recs = append(r.recs, struct {
		typ  string
		data []byte
	}{typ, b})
	r.mu.Unlock()
	return nil
}

// statuses are the task statuses reported for task id, in order.
func (r *reports) statuses(t testing.TB, id string) []api.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []api.TaskStatus
	for _, rec := range r.recs {
		if rec.typ != "task" {
			continue
		}
		var sts []api.TaskStatus
		if err := json.Unmarshal(rec.data, &sts); err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			if s.ID == id {
				out = append(out, s)
			}
		}
	}
	return out
}

func (r *reports) states(t testing.TB, id string) []string {
	var out []string
	for _, s := range r.statuses(t, id) {
		out = append(out, s.State)
	}
	return out
}

// logs are the log entries reported, in order, and the sizes of the
// reports.
func (r *reports) logs(t testing.TB) (entries []api.LogEntry, sizes []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.typ != "log" {
			continue
		}
		var es []api.LogEntry
		if err := json.Unmarshal(rec.data, &es); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, es...)
		sizes = append(sizes, len(es))
	}
	return entries, sizes
}

// last is the last status of task id, or the zero status.
func (r *reports) last(t testing.TB, id string) api.TaskStatus {
	sts := r.statuses(t, id)
	if len(sts) == 0 {
		return api.TaskStatus{}
	}
	return sts[len(sts)-1]
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitState waits until task id's last reported state is state.
func (r *reports) waitState(t testing.TB, id, state string) api.TaskStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.last(t, id).State != state {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for task %s %s (reported: %v)", id, state, r.states(t, id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.last(t, id)
}

// testNode is one simulated node: a data dir, a mock node and the exec
// driver's state, shared by the runners started on it (agent restarts).
type testNode struct {
	dir  string
	mock *mock.Node
	rep  *reports
	// drivers, when set, replaces the default driver set.
	drivers func(t testing.TB) *taskDrivers
	// skew moves the runners' clock ahead of the real one (ns).
	skew atomic.Int64
}

func newTestNode(t testing.TB) *testNode {
	return &testNode{dir: t.TempDir(), mock: mock.NewNode(), rep: &reports{}}
}

func (n *testNode) execDriver(t testing.TB) *exec.Driver {
	d, err := exec.New(exec.Options{
		SupervisorCommand: []string{os.Args[0]},
		SupervisorEnv:     []string{"CORRAL_TEST_SUPERVISOR=1"},
		StateDir:          filepath.Join(n.dir, "tasks-exec"),
		Poll:              20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runner starts a runner on the node; stop ends it as an agent stops (the
// tasks keep running).
func (n *testNode) runner(t testing.TB) (r *taskRunner, stop func()) {
	t.Helper()
	var drivers *taskDrivers
	if n.drivers != nil {
		drivers = n.drivers(t)
	} else {
		drivers = newTaskDrivers(map[string]driver.Driver{
			mock.Name: mock.New(mock.Options{Node: n.mock}),
			exec.Name: n.execDriver(t),
		}, nil)
	}
	now := func() time.Time { return time.Now().Add(time.Duration(n.skew.Load())) }
	r = newTaskRunner(taskRunnerConfig{Dir: filepath.Join(n.dir, "tasks"), Node: "node-1", Drivers: drivers, Report: n.rep.add, Now: now})
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.start(ctx); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); r.wait() }) }
	t.Cleanup(stop)
	return r, stop
}

// cleanupTasks kills what the exec driver still runs when the test ends.
func (n *testNode) cleanupTasks(t testing.TB) {
	t.Cleanup(func() {
		d := n.execDriver(t)
		hs, _ := d.Recover(context.Background())
		for _, h := range hs {
			d.Stop(context.Background(), h, 0)
			d.Destroy(context.Background(), h)
		}
	})
}

func mockTask(id, script string) api.TaskAssignment {
	return api.TaskAssignment{ID: id, Kind: api.TaskKindApp, App: "/shop/api", Version: 1, Desired: api.DesiredRun,
		Run: api.RunSpec{Driver: mock.Name, Cmd: script}}
}

func execTask(id, cmd string) api.TaskAssignment {
	return api.TaskAssignment{ID: id, Kind: api.TaskKindJob, App: "/batch/job", Version: 1, Desired: api.DesiredRun,
		Run: api.RunSpec{Driver: api.DriverExec, Cmd: cmd, KillGracePeriod: api.Duration(2 * time.Second)}}
}

func assigned(as ...api.TaskAssignment) map[string]api.TaskAssignment {
	m := map[string]api.TaskAssignment{}
	for _, a := range as {
		m[a.ID] = a
	}
	return m
}

func TestTaskStartedOnceAndReportedRunning(t *testing.T) {
	n := newTestNode(t)
	r, _ := n.runner(t)
	as := mockTask("shop_api.1", "forever")
	r.apply(assigned(as), false)
	st := n.rep.waitState(t, as.ID, api.TaskRunning)
	if st.PID == 0 || st.StartedAt.IsZero() || st.App != "/shop/api" || st.Node != "node-1" || st.Time.IsZero() {
		t.Errorf("running status = %+v, want PID, StartedAt, App, Node and Time", st)
	}
	// The same assignment again, synced or not, starts nothing.
	r.apply(assigned(as), false)
	r.apply(assigned(as), true)
	hs, _ := mock.New(mock.Options{Node: n.mock}).Recover(context.Background())
	if len(hs) != 1 {
		t.Errorf("the mock node runs %d tasks, want 1", len(hs))
	}
	if got, want := n.rep.states(t, as.ID), []string{api.TaskStarting, api.TaskRunning}; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	b, err := os.ReadFile(filepath.Join(n.dir, "tasks", as.ID, taskRecordFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec taskRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Handle == nil || rec.Handle.Driver != mock.Name {
		t.Errorf("record = %s (%v), want the mock handle", b, err)
	}
}

func TestTaskAgentRestart(t *testing.T) {
	n := newTestNode(t)
	n.cleanupTasks(t)
	r1, stop1 := n.runner(t)
	running := mockTask("shop_api.run", "print mocked; forever")
	gate, gate2 := filepath.Join(n.dir, "gate"), filepath.Join(n.dir, "gate2")
	ending := execTask("batch_job.end", fmt.Sprintf("while [ ! -e %s ]; do sleep 0.02; done; exit 3", gate2))
	execRunning := execTask("batch_job.exec", fmt.Sprintf("echo before; while [ ! -e %s ]; do sleep 0.02; done; echo after", gate))
	all := assigned(running, ending, execRunning)
	r1.apply(all, true)
	for _, id := range []string{running.ID, ending.ID, execRunning.ID} {
		n.rep.waitState(t, id, api.TaskRunning)
	}
	eventually(t, "the first output lines", func() bool { es, _ := n.rep.logs(t); return len(es) == 2 })
	stop1()
	// ending ends while no agent runs.
	os.WriteFile(gate2, nil, 0o644)
	ed := n.execDriver(t)
	eventually(t, "the exec task to end", func() bool {
		hs, _ := ed.Recover(context.Background())
		for _, h := range hs {
			if st, _ := ed.Inspect(context.Background(), h); h.TaskID == ending.ID && st.State == driver.StateExited {
				return true
			}
		}
		return false
	})
	md := mock.New(mock.Options{Node: n.mock})
	before := map[string]int{}
	for _, id := range []string{running.ID, ending.ID, execRunning.ID} {
		before[id] = len(n.rep.statuses(t, id))
	}

	r2, _ := n.runner(t)
	r2.apply(all, false)
	r2.apply(all, true)
	st := n.rep.waitState(t, ending.ID, api.TaskFailed)
	if st.Reason != "exit code 3" || st.ExitCode == nil || *st.ExitCode != 3 {
		t.Errorf("ended while away: %+v, want failed with exit code 3", st)
	}
	for _, id := range []string{running.ID, execRunning.ID} {
		st := n.rep.waitState(t, id, api.TaskRunning)
		if st.PID == 0 {
			t.Errorf("%s re-reported without its pid: %+v", id, st)
		}
		if got := n.rep.states(t, id)[before[id]:]; slices.Contains(got, api.TaskStarting) {
			t.Errorf("%s: states after the restart %v: started again", id, got)
		}
	}
	if slices.Contains(n.rep.states(t, ending.ID)[:before[ending.ID]], api.TaskFailed) {
		t.Errorf("%s ended before the restart", ending.ID)
	}
	if hs, _ := md.Recover(context.Background()); len(hs) != 1 {
		t.Errorf("mock tasks after the restart: %v, want %s", hs, running.ID)
	}
	// The exec task outlived the first runner and still ends normally; its
	// output is sent once (position kept over the restart).
	os.WriteFile(gate, nil, 0o644)
	n.rep.waitState(t, execRunning.ID, api.TaskFinished)
	es, _ := n.rep.logs(t)
	var msgs []string
	for _, e := range es {
		msgs = append(msgs, e.Message)
	}
	slices.Sort(msgs)
	if want := []string{"after", "before", "mocked"}; !slices.Equal(msgs, want) {
		t.Errorf("output = %q, want %q", msgs, want)
	}
}

func TestTaskKill(t *testing.T) {
	n := newTestNode(t)
	r, _ := n.runner(t)
	a := mockTask("shop_api.a", "term 50ms; forever") // exits 0 50ms after SIGTERM
	b := mockTask("shop_api.b", "term ignore; forever")
	b.Run.KillGracePeriod = api.Duration(50 * time.Millisecond)
	r.apply(assigned(a, b), true)
	n.rep.waitState(t, a.ID, api.TaskRunning)
	n.rep.waitState(t, b.ID, api.TaskRunning)
	a.Desired, a.KillReason = api.DesiredKill, "scaled down to 0 instances"
	b.Desired = api.DesiredKill
	r.apply(assigned(a, b), true)
	st := n.rep.waitState(t, a.ID, api.TaskKilled)
	if st.Reason != "scaled down to 0 instances" || st.ExitCode == nil || *st.ExitCode != 0 {
		t.Errorf("a: %+v, want killed with the server's reason and exit code 0", st)
	}
	if got, want := n.rep.states(t, a.ID), []string{api.TaskStarting, api.TaskRunning, api.TaskKilling, api.TaskKilled}; !slices.Equal(got, want) {
		t.Errorf("a: states %v, want %v", got, want)
	}
	st = n.rep.waitState(t, b.ID, api.TaskKilled)
	if st.Reason != reasonKilled || st.Signal != "SIGKILL" {
		t.Errorf("b: %+v, want killed by SIGKILL after the grace period, reason %q", st, reasonKilled)
	}
	// A kill of a task never started here is reported, once.
	c := mockTask("shop_api.c", "forever")
	c.Desired, c.KillReason = api.DesiredKill, "deployment canceled"
	r.apply(assigned(a, b, c), true)
	r.apply(assigned(a, b, c), true)
	st = n.rep.waitState(t, c.ID, api.TaskKilled)
	if got := n.rep.states(t, c.ID); st.Reason != "deployment canceled" || len(got) != 1 {
		t.Errorf("c: %v, last %+v; want one killed report with the reason", got, st)
	}
	// Sandboxes stay until the assignment is deleted.
	if _, err := os.Stat(filepath.Join(n.dir, "tasks", a.ID, taskSandboxDir)); err != nil {
		t.Errorf("sandbox of an ended, assigned task: %v", err)
	}
	r.apply(assigned(b), true)
	eventually(t, "the task dir of a deleted assignment to go", func() bool {
		_, err := os.Stat(filepath.Join(n.dir, "tasks", a.ID))
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestTaskEnds(t *testing.T) {
	n := newTestNode(t)
	n.cleanupTasks(t)
	r, _ := n.runner(t)
	oom := mockTask("shop_api.oom", "oom")
	oom.Run.Mem = 128
	tests := []struct {
		name   string
		as     api.TaskAssignment
		state  string
		reason string // whole, or a prefix when it ends in "*"
		code   *int
	}{
		{"exit 3", execTask("exit3", "exit 3"), api.TaskFailed, "exit code 3", ptr(3)},
		{"exit 0", execTask("exit0", "true"), api.TaskFinished, "", ptr(0)},
		{"signal", execTask("segv", "kill -SEGV $$"), api.TaskFailed, "killed by SIGSEGV", ptr(128 + 11)},
		{"missing program", api.TaskAssignment{ID: "missing", App: "/shop/api", Desired: api.DesiredRun,
			Run: api.RunSpec{Args: []string{"./api", "--port", "1"}}}, api.TaskFailed, `exec: "./api": stat *`, nil},
		{"missing program in PATH", api.TaskAssignment{ID: "missing-path", App: "/shop/api", Desired: api.DesiredRun,
			Run: api.RunSpec{Args: []string{"no-such-program-xyz"}}}, api.TaskFailed, `exec: "no-such-program-xyz": executable file not found in $PATH`, nil},
		{"oom", oom, api.TaskFailed, "OOM: exceeded 128 MiB", ptr(128 + 9)},
		{"mock start failure", mockTask("img", "fail image shop/api:1.4 not found"), api.TaskFailed, "image shop/api:1.4 not found", nil},
		{"unknown driver", api.TaskAssignment{ID: "lxc", App: "/shop/api", Desired: api.DesiredRun, Run: api.RunSpec{Driver: "lxc", Cmd: "x"}},
			api.TaskFailed, `driver "lxc": no such driver on this node`, nil},
	}
	all := map[string]api.TaskAssignment{}
	for _, tt := range tests {
		all[tt.as.ID] = tt.as
	}
	r.apply(all, true)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := n.rep.waitState(t, tt.as.ID, tt.state)
			if p, ok := strings.CutSuffix(tt.reason, "*"); ok && !strings.HasPrefix(st.Reason, p) || !ok && st.Reason != tt.reason {
				t.Errorf("reason %q, want %q", st.Reason, tt.reason)
			}
			if (st.ExitCode == nil) != (tt.code == nil) || st.ExitCode != nil && *st.ExitCode != *tt.code {
				t.Errorf("exit code %v, want %v", st.ExitCode, tt.code)
			}
			if st.FinishedAt.IsZero() {
				t.Errorf("no FinishedAt: %+v", st)
			}
		})
	}
	if t.Failed() {
		return
	}
	// Ended exec tasks are destroyed in the driver (after their report).
	d := n.execDriver(t)
	eventually(t, "the exec driver to let go of ended tasks", func() bool {
		hs, _ := d.Recover(context.Background())
		return len(hs) == 0
	})
}

func ptr[T any](v T) *T { return &v }

func TestTaskDockerUnavailable(t *testing.T) {
	n := newTestNode(t)
	n.drivers = func(t testing.TB) *taskDrivers {
		return newTaskDrivers(map[string]driver.Driver{"docker": mock.New(mock.Options{Node: n.mock})},
			map[string]func(context.Context) error{"docker": func(context.Context) error {
				return errors.New(reasonDockerDownPref + "ping docker engine at unix:///var/run/docker.sock: connection refused")
			}})
	}
	r, _ := n.runner(t)
	as := api.TaskAssignment{ID: "web.1", App: "/web", Desired: api.DesiredRun, Run: api.RunSpec{Driver: api.DriverDocker, Image: "nginx"}}
	r.apply(assigned(as), true)
	st := n.rep.waitState(t, as.ID, api.TaskFailed)
	if !strings.HasPrefix(st.Reason, "docker engine not available: ") {
		t.Errorf("reason %q", st.Reason)
	}
}

// freePort is a TCP port nothing listens on (most likely).
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

func TestTaskHealth(t *testing.T) {
	n := newTestNode(t)
	r, _ := n.runner(t)
	var mu sync.Mutex
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if req.URL.Path != "/health" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	check := func(proto string, fails int) api.HealthCheck {
		return api.HealthCheck{Protocol: proto, Path: "/health", GracePeriod: api.Duration(time.Millisecond),
			Interval: api.Duration(200 * time.Millisecond), Timeout: api.Duration(200 * time.Millisecond), MaxConsecutiveFailures: fails}
	}
	web := mockTask("web.1", "forever")
	web.Ports = []int{port}
	web.Run.Ports = []api.PortSpec{{Name: "http"}}
	web.HealthChecks = []api.HealthCheck{check(api.ProtocolHTTP, 2)}
	dead := mockTask("dead.1", "forever")
	dead.Ports = []int{freePort(t)}
	dead.HealthChecks = []api.HealthCheck{check(api.ProtocolTCP, 3)}
	r.apply(assigned(web, dead), true)

	st := n.rep.waitState(t, web.ID, api.TaskHealthy)
	if len(st.Health) != 1 || !st.Health[0].Alive || st.Health[0].FirstSuccess.IsZero() || st.Health[0].LastSuccess.IsZero() {
		t.Errorf("healthy status %+v", st)
	}
	mu.Lock()
	code = http.StatusServiceUnavailable
	mu.Unlock()
	st = n.rep.waitState(t, web.ID, api.TaskFailed)
	if st.Reason != "health check HTTP /health failed 2 times: status 503" {
		t.Errorf("reason %q", st.Reason)
	}
	got := n.rep.states(t, web.ID)
	if want := []string{api.TaskStarting, api.TaskRunning, api.TaskHealthy, api.TaskUnhealthy, api.TaskKilling, api.TaskFailed}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	if sts := n.rep.statuses(t, web.ID); len(sts) >= 4 && (len(sts[3].Health) != 1 || sts[3].Health[0].Alive || sts[3].Health[0].ConsecutiveFailures != 1 || sts[3].Health[0].LastFailureCause != "status 503") {
		t.Errorf("unhealthy status %+v", sts[3])
	}
	st = n.rep.waitState(t, dead.ID, api.TaskFailed)
	if !strings.HasPrefix(st.Reason, "health check TCP failed 3 times: ") {
		t.Errorf("reason %q", st.Reason)
	}
}

func TestTaskUnassigned(t *testing.T) {
	n := newTestNode(t)
	// A task the driver runs but no record knows (its agent lost its data).
	stray := mock.New(mock.Options{Node: n.mock})
	h, err := stray.Start(context.Background(), driver.Spec{ID: "stray.1", Cmd: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	adoptee, err := stray.Start(context.Background(), driver.Spec{ID: "adopt.1", Cmd: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := n.runner(t)
	as := mockTask("shop_api.1", "forever")
	adopt := mockTask("adopt.1", "forever")
	r.apply(assigned(as), false)
	n.rep.waitState(t, as.ID, api.TaskRunning)
	// Before the sync the assignments are not complete: nothing is stopped.
	r.apply(map[string]api.TaskAssignment{}, false)
	if st, _ := stray.Inspect(context.Background(), h); st.State != driver.StateRunning {
		t.Fatalf("stray stopped before the sync: %+v", st)
	}
	r.apply(assigned(adopt), true)
	st := n.rep.waitState(t, as.ID, api.TaskKilled)
	if st.Reason != reasonUnassigned {
		t.Errorf("reason %q", st.Reason)
	}
	st = n.rep.waitState(t, "stray.1", api.TaskKilled)
	if st.Reason != reasonUnassigned {
		t.Errorf("stray: %+v", st)
	}
	eventually(t, "the stray destroyed", func() bool {
		hs, _ := stray.Recover(context.Background())
		return len(hs) == 1 && hs[0].TaskID == adoptee.TaskID
	})
	n.rep.waitState(t, adopt.ID, api.TaskRunning)
	if got := n.rep.states(t, adopt.ID); slices.Contains(got, api.TaskStarting) {
		t.Errorf("adopted task started again: %v", got)
	}
	eventually(t, "the unassigned task's dir removed", func() bool {
		_, err := os.Stat(filepath.Join(n.dir, "tasks", as.ID))
		return errors.Is(err, os.ErrNotExist)
	})
}

func TestSupervisorCommand(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "corral")
	if got := supervisorCommand(self); !slices.Equal(got, []string{self, "supervise"}) {
		t.Errorf("without corral-supervisor: %q", got)
	}
	small := filepath.Join(dir, "corral-supervisor")
	os.WriteFile(small, []byte("#!/bin/sh\n"), 0o644)
	if got := supervisorCommand(self); !slices.Equal(got, []string{self, "supervise"}) {
		t.Errorf("with a corral-supervisor that is not executable: %q", got)
	}
	os.Chmod(small, 0o755)
	if got := supervisorCommand(self); !slices.Equal(got, []string{small}) {
		t.Errorf("with corral-supervisor: %q", got)
	}
}

// TestTaskKillWhileStarting kills a task whose start waits on a fetch.
func TestTaskKillWhileStarting(t *testing.T) {
	n := newTestNode(t)
	n.cleanupTasks(t)
	asked := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		asked <- struct{}{}
		<-req.Context().Done() // never answers
	}))
	defer srv.Close()
	defer srv.CloseClientConnections()
	r, _ := n.runner(t)
	as := execTask("slow.1", "true")
	as.Run.Fetch = []api.FetchSpec{{URI: srv.URL + "/app.tgz"}}
	r.apply(assigned(as), true)
	<-asked
	as.Desired, as.KillReason = api.DesiredKill, "deployment canceled"
	r.apply(assigned(as), true)
	st := n.rep.waitState(t, as.ID, api.TaskKilled)
	if st.Reason != "deployment canceled" || st.ExitCode != nil {
		t.Errorf("status %+v, want killed before it ran", st)
	}
	if got, want := n.rep.states(t, as.ID), []string{api.TaskStarting, api.TaskKilled}; !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

// TestTaskInterruptedStart: the agent stopped after recording a task and
// before its driver handle was saved.
func TestTaskInterruptedStart(t *testing.T) {
	n := newTestNode(t)
	md := mock.New(mock.Options{Node: n.mock})
	started := mockTask("started.1", "forever") // the driver got to start it
	lost := mockTask("lost.1", "forever")       // it did not
	for _, as := range []api.TaskAssignment{started, lost} {
		d := filepath.Join(n.dir, "tasks", as.ID)
		os.MkdirAll(d, 0o755)
		b, _ := json.Marshal(taskRecord{Assignment: as})
		os.WriteFile(filepath.Join(d, taskRecordFile), b, 0o600)
	}
	if _, err := md.Start(context.Background(), driver.Spec{ID: started.ID, Cmd: "forever"}); err != nil {
		t.Fatal(err)
	}
	r, _ := n.runner(t)
	r.apply(assigned(started, lost), true)
	n.rep.waitState(t, started.ID, api.TaskRunning)
	st := n.rep.waitState(t, lost.ID, api.TaskFailed)
	if st.Reason != reasonInterrupted {
		t.Errorf("lost: %+v", st)
	}
	for _, id := range []string{started.ID, lost.ID} {
		if slices.Contains(n.rep.states(t, id), api.TaskStarting) {
			t.Errorf("%s started again: %v", id, n.rep.states(t, id))
		}
	}
	if hs, _ := md.Recover(context.Background()); len(hs) != 1 {
		t.Errorf("mock tasks %v, want only %s", hs, started.ID)
	}
}

// TestTaskSandboxKept: an ended task's sandbox stays while its assignment
// does, for taskSandboxTTL; its record stays until the assignment goes.
func TestTaskSandboxKept(t *testing.T) {
	n := newTestNode(t)
	r, _ := n.runner(t)
	as := mockTask("once.1", "print done")
	r.apply(assigned(as), true)
	n.rep.waitState(t, as.ID, api.TaskFinished)
	dir := filepath.Join(n.dir, "tasks", as.ID)
	r.apply(assigned(as), true)
	if _, err := os.Stat(filepath.Join(dir, taskSandboxDir)); err != nil {
		t.Fatalf("sandbox of a task ended just now: %v", err)
	}
	n.skew.Store(int64(taskSandboxTTL + time.Minute))
	eventually(t, "the sandbox of a task ended a day ago to go", func() bool {
		r.apply(assigned(as), true)
		_, err := os.Stat(filepath.Join(dir, taskSandboxDir))
		return errors.Is(err, os.ErrNotExist)
	})
	if _, err := os.Stat(filepath.Join(dir, taskRecordFile)); err != nil {
		t.Errorf("record of an assigned task: %v", err)
	}
	if got := n.rep.states(t, as.ID); !slices.Equal(got, []string{api.TaskStarting, api.TaskRunning, api.TaskFinished}) {
		t.Errorf("states %v", got)
	}
}

// TestNodeDrivers checks the agent's driver map: exec always, mock only on
// request, docker failing with the engine's reason while it is away.
func TestNodeDrivers(t *testing.T) {
	for _, withMock := range []bool{false, true} {
		a := &Agent{cfg: Config{DataDir: t.TempDir(), MockDriver: withMock,
			DockerHost: "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")}, id: &identity{node: "node-1"}}
		d, closeDrivers, err := a.nodeDrivers()
		if err != nil {
			t.Fatal(err)
		}
		defer closeDrivers()
		if _, err := d.get(context.Background(), exec.Name); err != nil {
			t.Errorf("exec: %v", err)
		}
		if _, err := d.get(context.Background(), mock.Name); (err == nil) != withMock {
			t.Errorf("mock with MockDriver %v: %v", withMock, err)
		}
		_, err = d.get(context.Background(), api.DriverDocker)
		if err == nil || !strings.HasPrefix(err.Error(), "docker engine not available: ") {
			t.Errorf("docker without an engine: %v", err)
		}
	}
}
