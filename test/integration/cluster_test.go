package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
	"corral/internal/etcd/etcdtest"
)

// killUnder kills every process whose working directory or command line
// lies under dir: the tasks and supervisors an agent of the test left
// (tasks outlive their agent on purpose).
func killUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(cwd, dir) || strings.Contains(string(cmd), dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// startClusterAgent starts an agent with its own port range (agents of a
// test share one machine) and kills its leftover tasks when the test ends.
func startClusterAgent(t *testing.T, srv *Server, name string, labels ...string) (*Agent, int) {
	t.Helper()
	ports := portRange(t)
	a := StartAgent(t, srv, AgentOptions{Name: name, Labels: labels,
		Args: []string{"--port-range", fmt.Sprintf("%d-%d", ports, ports+99), "--checks=false", "--host-metrics-interval", "0", "--statsd-addr", ""}})
	t.Cleanup(func() { killUnder(filepath.Dir(a.Dir)) })
	a.WaitReady()
	return a, ports
}

func applyYAML(t *testing.T, srv *Server, yaml string) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"apply", "-f", f}, srv.CLIFlags(srv.AdminToken())...)...)
	if code != 0 {
		t.Fatalf("corral apply: exit %d\n%s%s", code, out, errOut)
	}
}

// appTasks returns the app's tasks that are not ended, by id.
func appTasks(ctx context.Context, c *client.Client, app string) (map[string]api.Task, error) {
	ts, err := c.AppTasks(ctx, app)
	if err != nil {
		return nil, err
	}
	out := map[string]api.Task{}
	for _, t := range ts {
		if !api.TaskTerminal(t.State) {
			out[t.ID] = t
		}
	}
	return out, nil
}

// waitHealthy waits until the app has n healthy tasks and nothing else
// alive, and returns them.
func waitHealthy(t *testing.T, c *client.Client, app string, n int, timeout time.Duration) map[string]api.Task {
	t.Helper()
	return waitTasks(t, c, app, n, api.TaskHealthy, timeout)
}

// waitTasks waits until the app has n tasks in state and nothing else
// alive, and returns them.
func waitTasks(t *testing.T, c *client.Client, app string, n int, state string, timeout time.Duration) map[string]api.Task {
	t.Helper()
	var got map[string]api.Task
	eventually(t, timeout, func() error {
		ts, err := appTasks(context.Background(), c, app)
		if err != nil {
			return err
		}
		in := 0
		for _, tk := range ts {
			if tk.State == state {
				in++
			}
		}
		if in != n || len(ts) != n {
			return fmt.Errorf("%s: %d %s of %d alive tasks, want %d: %s", app, in, state, len(ts), n, taskStates(ts))
		}
		got = ts
		return nil
	})
	return got
}

func taskStates(ts map[string]api.Task) string {
	var parts []string
	for id, tk := range ts {
		parts = append(parts, fmt.Sprintf("%s@%s=%s(%s)", id, tk.Node, tk.State, tk.Reason))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// get answers GET url with its status and body.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClusterApps runs an app with an HTTP health check on two agents:
// placement explains what it cannot place, tasks get their ports and
// environment, an agent restart and a server SIGKILL leave the tasks
// running untouched, and a node that dies has its tasks replaced on the
// other node.
func TestClusterApps(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed to serve the test app's health check (Debian package python3)")
	}
	t.Parallel()
	const ttl = 5 * time.Second
	srv := StartServer(t, ServerOptions{LeaseTTL: ttl, HeartbeatInterval: time.Second})
	admin := srv.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a long test
	defer cancel()
	a1, ports1 := startClusterAgent(t, srv, "web-1", "role=web")
	a2, ports2 := startClusterAgent(t, srv, "web-2", "role=web")
	inRange := func(node string, p int) bool {
		base := map[string]int{"web-1": ports1, "web-2": ports2}[node]
		return p >= base && p < base+100
	}

	// The app serves its sandbox over HTTP on $PORT0 and writes its
	// environment to a file there.
	applyYAML(t, srv, `kind: App
id: /shop/api
cmd: env > env.txt; exec python3 -m http.server --bind 127.0.0.1 $PORT0
instances: 3
cpus: 0.1
mem: 64
env: {RAILS_ENV: production}
ports: [{name: http}]
constraints: [[hostname, UNIQUE], [role, LIKE, "web|api"]]
health_checks:
  - {protocol: HTTP, path: /env.txt, port_index: 0, grace_period: 30s, interval: 1s, timeout: 1s, max_consecutive_failures: 3}
upgrade_strategy: {minimum_health_capacity: 0.5, maximum_over_capacity: 0.5}
`)
	// Two nodes, hostname UNIQUE: two run, the third is explained.
	tasks := waitHealthy(t, admin, "/shop/api", 2, 30*time.Second)
	var st api.AppStatus
	eventually(t, 10*time.Second, func() error {
		var err error
		st, err = admin.App(ctx, "/shop/api")
		if err != nil {
			return err
		}
		if !strings.Contains(st.Waiting, "hostname UNIQUE excludes 2 nodes") {
			return fmt.Errorf("waiting = %q", st.Waiting)
		}
		return nil
	})
	out, _, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"app", "show", "/shop/api"}, srv.CLIFlags(srv.AdminToken())...)...)
	if code != 0 || !strings.Contains(out, "hostname UNIQUE excludes 2 nodes") {
		t.Errorf("corral app show (exit %d) does not say why the third instance waits:\n%s", code, out)
	}
	for _, tk := range tasks {
		if len(tk.Ports) != 1 || !inRange(tk.Node, tk.Ports[0]) {
			t.Fatalf("task %s has ports %v, want one in its node's range", tk.ID, tk.Ports)
		}
		code, body := get(fmt.Sprintf("http://127.0.0.1:%d/env.txt", tk.Ports[0]))
		for _, want := range []string{"RAILS_ENV=production", fmt.Sprintf("PORT0=%d", tk.Ports[0]), fmt.Sprintf("PORT_HTTP=%d", tk.Ports[0]),
			"CORRAL_APP_ID=/shop/api", "CORRAL_TASK_ID=" + tk.ID, "CORRAL_NODE=" + tk.Node} {
			if code != 200 || !strings.Contains(body, want) {
				t.Errorf("task %s: env.txt (HTTP %d) lacks %s:\n%s", tk.ID, code, want, body)
			}
		}
	}

	// Scale to what fits: the deployment finishes.
	d, err := admin.ScaleApp(ctx, "/shop/api", 2)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		got, err := admin.Deployment(ctx, d.ID)
		if err != nil {
			return err
		}
		if got.State != api.DeploymentSucceeded {
			return fmt.Errorf("deployment %s: %s (%s)", d.ID, got.State, got.Waiting)
		}
		return nil
	})

	// An agent restart does not restart its tasks.
	a1.Kill()
	a1.Restart()
	a1.WaitReady()
	time.Sleep(2 * time.Second) // let it re-attach and report
	after := waitHealthy(t, admin, "/shop/api", 2, 20*time.Second)
	for id, tk := range tasks {
		if a, ok := after[id]; !ok || !a.StartedAt.Equal(tk.StartedAt) {
			t.Fatalf("task %s changed across the agent restart: before %+v after %+v", id, tk, after[id])
		}
	}

	// A server SIGKILL, down for longer than the lease TTL (the agents are
	// cut off): the tasks keep running and nothing starts twice.
	srv.Kill()
	time.Sleep(ttl + 2*time.Second)
	srv.Restart()
	time.Sleep(3 * time.Second)
	after = waitHealthy(t, admin, "/shop/api", 2, 20*time.Second)
	for id := range tasks {
		if _, ok := after[id]; !ok {
			t.Fatalf("task %s gone after the server restart: %s", id, taskStates(after))
		}
	}

	// Task output is searchable: python's request log of the health checks.
	eventually(t, 10*time.Second, func() error {
		out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"app", "logs", "/shop/api", "-n", "5"}, srv.CLIFlags(srv.AdminToken())...)...)
		if code != 0 || !strings.Contains(out, "GET /env.txt") {
			return fmt.Errorf("corral app logs (exit %d):\n%s%s", code, out, errOut)
		}
		return nil
	})

	// The Marathon API shows the app and takes a new one.
	code, body := srv.HTTP(t, "GET", "/v2/apps/shop/api", srv.AdminToken(), nil)
	if code != 200 || !strings.Contains(body2s(body), `"tasksHealthy":2`) || !strings.Contains(body2s(body), `"id":"/shop/api"`) {
		t.Errorf("GET /v2/apps/shop/api: %d %s", code, body)
	}
	code, body = srv.HTTP(t, "POST", "/v2/apps", srv.AdminToken(), []byte(`{"id": "/m/sleeper", "cmd": "sleep 600", "instances": 1, "cpus": 0.1, "mem": 16}`))
	if code != 201 {
		t.Errorf("POST /v2/apps: %d %s", code, body)
	}
	code, body = srv.HTTP(t, "POST", "/v2/apps", srv.AdminToken(), []byte(`{"id": "/m/other", "cmd": "sleep 600", "residency": {}}`))
	if code != 422 || !strings.Contains(body2s(body), "residency") {
		t.Errorf("POST /v2/apps with an unsupported field: %d %s", code, body)
	}
	eventually(t, 15*time.Second, func() error {
		code, body := srv.HTTP(t, "GET", "/v2/apps/m/sleeper/tasks", srv.AdminToken(), nil)
		if code != 200 || !strings.Contains(body2s(body), `"state":"TASK_RUNNING"`) {
			return fmt.Errorf("GET /v2/apps/m/sleeper/tasks: %d %s", code, body)
		}
		return nil
	})
	if code, body := srv.HTTP(t, "DELETE", "/v2/apps/m/sleeper", srv.AdminToken(), nil); code != 200 {
		t.Errorf("DELETE /v2/apps/m/sleeper: %d %s", code, body)
	}

	// A node that dies: its task is lost and replaced on the other node
	// (hostname UNIQUE is dropped so the replacement fits).
	applyYAML(t, srv, `kind: App
id: /shop/api
cmd: env > env.txt; exec python3 -m http.server --bind 127.0.0.1 $PORT0
instances: 2
cpus: 0.1
mem: 64
env: {RAILS_ENV: production}
ports: [{name: http}]
health_checks:
  - {protocol: HTTP, path: /env.txt, port_index: 0, grace_period: 30s, interval: 1s, timeout: 1s, max_consecutive_failures: 3}
upgrade_strategy: {minimum_health_capacity: 0.5, maximum_over_capacity: 0.5}
`)
	waitHealthy(t, admin, "/shop/api", 2, 30*time.Second)
	a2.Kill()
	killed := time.Now()
	var moved map[string]api.Task
	eventually(t, ttl+15*time.Second, func() error {
		ts, err := appTasks(ctx, admin, "/shop/api")
		if err != nil {
			return err
		}
		for _, tk := range ts {
			if tk.Node != "web-1" || tk.State != api.TaskHealthy {
				return fmt.Errorf("not all on web-1 and healthy: %s", taskStates(ts))
			}
		}
		if len(ts) != 2 {
			return fmt.Errorf("%d tasks: %s", len(ts), taskStates(ts))
		}
		moved = ts
		return nil
	})
	t.Logf("node killed → every instance healthy elsewhere in %s (lease TTL %s)", time.Since(killed).Round(100*time.Millisecond), ttl)
	all, err := admin.AppTasks(ctx, "/shop/api")
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, tk := range all {
		if tk.State == api.TaskLost && tk.Node == "web-2" {
			lost++
		}
	}
	if lost == 0 {
		t.Errorf("no task of web-2 is reported lost: %+v", all)
	}
	// The node comes back: its lost tasks are stopped, none is added.
	a2.Restart()
	a2.WaitReady()
	time.Sleep(3 * time.Second)
	back, err := appTasks(ctx, admin, "/shop/api")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 {
		t.Fatalf("after web-2 came back: %s", taskStates(back))
	}
	for id := range moved {
		if _, ok := back[id]; !ok {
			t.Fatalf("task %s replaced after web-2 came back: %s", id, taskStates(back))
		}
	}

	// Draining web-1 moves its tasks to web-2, new ones healthy first.
	if _, err := admin.DrainNode(ctx, "web-1", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, func() error {
		ts, err := appTasks(ctx, admin, "/shop/api")
		if err != nil {
			return err
		}
		for _, tk := range ts {
			if tk.Node != "web-2" || tk.State != api.TaskHealthy {
				return fmt.Errorf("not all healthy on web-2: %s", taskStates(ts))
			}
		}
		if len(ts) != 2 {
			return fmt.Errorf("%d tasks: %s", len(ts), taskStates(ts))
		}
		return nil
	})
}

func body2s(b []byte) string { return string(b) }

// jobRuns returns a job's runs, newest first.
func jobRuns(ctx context.Context, c *client.Client, job string) ([]api.JobRun, error) {
	return c.JobRuns(ctx, job, 50)
}

// TestClusterJobs runs jobs on an agent: a one-off run on request, a
// failing job with retries, and a cron job; their history keeps exit codes
// and durations.
func TestClusterJobs(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	startClusterAgent(t, srv, "worker-1")
	applyYAML(t, srv, `kind: Job
id: /ops/hello
cmd: echo hello from $CORRAL_TASK_ID; sleep 0.3
cpus: 0.1
mem: 32
---
kind: Job
id: /ops/fail
cmd: exit 3
retries: 2
cpus: 0.1
mem: 32
---
kind: Job
id: /ops/tick
cmd: "true"
schedule: "@every 2s"
concurrency_policy: FORBID
cpus: 0.1
mem: 32
`)
	run, err := admin.RunJob(ctx, "/ops/hello")
	if err != nil {
		t.Fatal(err)
	}
	if run.State != api.RunActive {
		t.Fatalf("new run: %+v", run)
	}
	eventually(t, 20*time.Second, func() error {
		runs, err := jobRuns(ctx, admin, "/ops/hello")
		if err != nil {
			return err
		}
		if len(runs) != 1 || runs[0].ID != run.ID || runs[0].State != api.RunSucceeded {
			return fmt.Errorf("runs of /ops/hello: %+v", runs)
		}
		r := runs[0]
		if r.ExitCode == nil || *r.ExitCode != 0 || r.Attempts != 1 || r.Duration < 0.2 || r.Node != "worker-1" {
			return fmt.Errorf("succeeded run: %+v", r)
		}
		return nil
	})
	// The run's output, by run.
	eventually(t, 10*time.Second, func() error {
		out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"job", "logs", "/ops/hello", "--run", run.ID}, srv.CLIFlags(srv.AdminToken())...)...)
		if code != 0 || !strings.Contains(out, "hello from ops_hello.") {
			return fmt.Errorf("corral job logs --run (exit %d):\n%s%s", code, out, errOut)
		}
		return nil
	})

	if _, err := admin.RunJob(ctx, "/ops/fail"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		runs, err := jobRuns(ctx, admin, "/ops/fail")
		if err != nil {
			return err
		}
		if len(runs) != 1 || runs[0].State != api.RunFailed {
			return fmt.Errorf("runs of /ops/fail: %+v", runs)
		}
		if r := runs[0]; r.Attempts != 3 || r.ExitCode == nil || *r.ExitCode != 3 || !strings.Contains(r.Reason, "exit code 3") {
			return fmt.Errorf("failed run after 2 retries: %+v", r)
		}
		return nil
	})

	eventually(t, 20*time.Second, func() error {
		runs, err := jobRuns(ctx, admin, "/ops/tick")
		if err != nil {
			return err
		}
		var at []time.Time
		for _, r := range runs {
			if r.State == api.RunSucceeded && !r.Scheduled.IsZero() && !r.Manual {
				at = append(at, r.Scheduled)
			}
		}
		if len(at) < 2 {
			return fmt.Errorf("%d scheduled runs of /ops/tick succeeded: %+v", len(at), runs)
		}
		// Newest first, due every 2 s.
		if d := at[0].Sub(at[1]); d%(2*time.Second) != 0 || d <= 0 {
			return fmt.Errorf("scheduled times %v and %v are not 2 s apart", at[1], at[0])
		}
		return nil
	})
	st, err := admin.Job(ctx, "/ops/tick")
	if err != nil {
		t.Fatal(err)
	}
	if st.NextRun.IsZero() || st.LastRun == nil {
		t.Fatalf("job status: %+v", st)
	}
	if err := admin.DeleteJob(ctx, "/ops/tick"); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerFailover runs two servers on one etcd: one leads the
// scheduler; when it is killed the other takes over within the election
// TTL and carries out the next change, and the tasks keep running.
func TestSchedulerFailover(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.StartCluster(t, 1)
	s1 := StartServer(t, ServerOptions{EtcdEndpoints: cluster.Endpoints()})
	s2 := StartServer(t, ServerOptions{EtcdEndpoints: cluster.Endpoints(), ShareFrom: s1.Dir})
	ctx := testCtx(t)
	fo := portRange(t)
	a := StartAgent(t, s1, AgentOptions{Name: "fo-1", Args: []string{"--server", s2.AgentAddr, "--port-range", fmt.Sprintf("%d-%d", fo, fo+99),
		"--checks=false", "--host-metrics-interval", "0", "--statsd-addr", ""}})
	t.Cleanup(func() { killUnder(filepath.Dir(a.Dir)) })
	a.WaitReady()

	leading := func(s *Server) (api.SchedulerStatus, error) {
		var st api.SchedulerStatus
		code, body := s.HTTP(t, "GET", "/api/v1/scheduler", s.AdminToken(), nil)
		if code != 200 {
			return st, fmt.Errorf("GET /api/v1/scheduler: %d %s", code, body)
		}
		return st, json.Unmarshal(body, &st)
	}
	var leader, other *Server
	eventually(t, 20*time.Second, func() error {
		st1, err := leading(s1)
		if err != nil {
			return err
		}
		st2, err := leading(s2)
		if err != nil {
			return err
		}
		switch {
		case st1.Leading && !st2.Leading:
			leader, other = s1, s2
		case st2.Leading && !st1.Leading:
			leader, other = s2, s1
		default:
			return fmt.Errorf("leading: s1 %v, s2 %v", st1.Leading, st2.Leading)
		}
		if st1.Leader == "" || st1.Leader != st2.Leader {
			return fmt.Errorf("leader names: %q %q", st1.Leader, st2.Leader)
		}
		return nil
	})
	applyYAML(t, other, `kind: App
id: /fo/sleeper
cmd: exec sleep 600
instances: 2
cpus: 0.1
mem: 16
`)
	admin := other.Admin(t)
	before := waitTasks(t, admin, "/fo/sleeper", 2, api.TaskRunning, 30*time.Second)

	leader.Kill()
	killed := time.Now()
	eventually(t, 20*time.Second, func() error {
		st, err := leading(other)
		if err != nil {
			return err
		}
		if !st.Leading {
			return fmt.Errorf("the surviving server does not lead yet (leader %q)", st.Leader)
		}
		return nil
	})
	took := time.Since(killed)
	t.Logf("the other server leads %s after the leader was killed", took.Round(100*time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("takeover took %s, want within 15s", took)
	}
	if _, err := admin.ScaleApp(ctx, "/fo/sleeper", 3); err != nil {
		t.Fatal(err)
	}
	after := waitTasks(t, admin, "/fo/sleeper", 3, api.TaskRunning, 30*time.Second)
	for id := range before {
		if _, ok := after[id]; !ok {
			t.Fatalf("task %s did not survive the failover: %s", id, taskStates(after))
		}
	}
}

// cgroupMemory reports whether this machine can limit a task's memory
// (cgroup v1 memory controller or cgroup v2 with memory enabled).
func cgroupMemory() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	return err == nil && strings.Contains(string(b), "memory")
}

// TestClusterTaskFailures checks that failing tasks say why: a missing
// program, a task over its memory limit (OOM) and a failing health check;
// failing apps back off between attempts.
func TestClusterTaskFailures(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the test tasks (Debian package python3)")
	}
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	startClusterAgent(t, srv, "fail-1")
	applyYAML(t, srv, `kind: App
id: /bad/missing
args: [./no-such-program]
cpus: 0.1
mem: 16
backoff: {initial: 2s, factor: 2}
---
kind: App
id: /bad/hog
args: [python3, -c, "import time; x = bytearray(256 << 20); time.sleep(60)"]
cpus: 0.1
mem: 32
---
kind: App
id: /bad/sick
cmd: exec python3 -m http.server --bind 127.0.0.1 $PORT0
ports: [{name: http}]
cpus: 0.1
mem: 64
health_checks:
  - {protocol: HTTP, path: /no-such-page, grace_period: 1s, interval: 1s, timeout: 1s, max_consecutive_failures: 2}
`)
	failure := func(app, want string) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			st, err := admin.App(ctx, app)
			if err != nil {
				return err
			}
			if st.LastFailure == nil || !strings.Contains(st.LastFailure.Reason, want) {
				return fmt.Errorf("%s: last failure %+v, want a reason with %q", app, st.LastFailure, want)
			}
			t.Logf("%s: %s: %s", app, st.LastFailure.State, st.LastFailure.Reason)
			return nil
		})
	}
	failure("/bad/missing", "no such file or directory")
	eventually(t, 20*time.Second, func() error {
		st, err := admin.App(ctx, "/bad/missing")
		if err != nil {
			return err
		}
		if !strings.Contains(st.Waiting, "back") {
			return fmt.Errorf("/bad/missing waiting = %q, want a backoff", st.Waiting)
		}
		return nil
	})
	failure("/bad/sick", "health check")
	if cgroupMemory() {
		failure("/bad/hog", "OOM")
	} else {
		t.Log("no cgroup memory controller here: the OOM case is not checked")
	}
}

// TestClusterLaunchTimeout: a task whose agent is up (its lease holds) but
// never starts it is failed after --task-launch-timeout and replaced.
func TestClusterLaunchTimeout(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{LeaseTTL: time.Minute, HeartbeatInterval: time.Second,
		Args: []string{"--task-launch-timeout", "2s"}})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	a, _ := startClusterAgent(t, srv, "frozen-1")
	a.proc.Signal(syscall.SIGSTOP) // alive for the lease, deaf to assignments
	t.Cleanup(func() { a.proc.Signal(syscall.SIGCONT) })
	applyYAML(t, srv, `kind: App
id: /slow/app
cmd: exec sleep 600
cpus: 0.1
mem: 16
`)
	eventually(t, 30*time.Second, func() error {
		st, err := admin.App(ctx, "/slow/app")
		if err != nil {
			return err
		}
		if st.LastFailure == nil || !strings.Contains(st.LastFailure.Reason, "launch timeout") {
			return fmt.Errorf("last failure %+v", st.LastFailure)
		}
		t.Logf("%s: %s", st.LastFailure.State, st.LastFailure.Reason)
		return nil
	})
}
