package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

var (
	two, four = 2, 4
	exit3     = 3
)

func shopAPIStatus() api.AppStatus {
	return api.AppStatus{
		Spec: api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Cmd: "./api --port $PORT0", CPUs: 0.5, Mem: 256,
			Ports: []api.PortSpec{{Name: "http"}}, Constraints: []api.Constraint{{"hostname", "UNIQUE"}}},
			Instances: &four, HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/health"}}},
		Version: 4, UpdatedAt: testNow.Add(-2 * time.Minute), Instances: 4,
		TasksStaged: 0, TasksRunning: 3, TasksHealthy: 2, TasksUnhealthy: 1,
		Deployments: []api.Deployment{{ID: "shop_api.v4", App: "/shop/api", Kind: api.DeployScale, Version: 4, FromVersion: 3,
			State: api.DeploymentRunning, Instances: 4, Started: testNow.Add(-2 * time.Minute),
			Progress: api.DeploymentProgress{New: 3, Healthy: 2},
			Waiting:  "1 instance cannot be placed: needs 256 MiB, 2 nodes have less; hostname UNIQUE excludes 1 node"}},
		Waiting: "1 instance cannot be placed: needs 256 MiB, 2 nodes have less; hostname UNIQUE excludes 1 node",
		LastFailure: &api.TaskFailure{Task: "shop_api.9a", Node: "web-2", State: api.TaskFailed, Reason: "exit code 3",
			Time: testNow.Add(-5 * time.Minute), Version: 3},
		Tasks: []api.Task{
			{ID: "shop_api.1a", App: "/shop/api", Node: "web-1", Ports: []int{31001}, State: api.TaskHealthy, Desired: api.DesiredRun,
				StartedAt: testNow.Add(-time.Hour), Health: []api.TaskHealth{{Alive: true}}},
			{ID: "shop_api.2b", App: "/shop/api", Node: "web-2", Ports: []int{31002, 31003}, State: api.TaskUnhealthy, Desired: api.DesiredRun,
				StartedAt: testNow.Add(-10 * time.Minute), Health: []api.TaskHealth{{Alive: false, ConsecutiveFailures: 2, LastFailureCause: "HTTP 500"}}},
			{ID: "shop_api.9a", App: "/shop/api", Node: "web-2", State: api.TaskFailed, ExitCode: &exit3, Reason: "exit code 3"},
		},
	}
}

func workerStatus() api.AppStatus {
	return api.AppStatus{
		Spec:    api.AppSpec{ID: "/ops/worker", RunSpec: api.RunSpec{Cmd: "./work"}, Instances: &two},
		Version: 1, UpdatedAt: testNow.Add(-time.Hour), Instances: 2, TasksRunning: 2, TasksHealthy: 2,
		LastFailure: &api.TaskFailure{Task: "ops_worker.x", State: api.TaskKilled, Reason: "OOM: exceeded 128 MiB", Time: testNow.Add(-3 * time.Hour)},
	}
}

func TestAppLs(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/apps", 200, []api.AppStatus{shopAPIStatus(), workerStatus()})

	r := runCLI(t, "", nil, "app", "ls", "--addr", srv.URL)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := lines(r.stdout)
	want := [][]string{
		{"ID", "VERSION", "INSTANCES", "DEPLOYING", "WAITING/LAST", "FAILURE"},
		append([]string{"/shop/api", "4", "2/3/4", "shop_api.v4", "waiting:"}, strings.Fields("1 instance cannot be placed: needs 256 MiB, 2 nodes have le…")...),
		{"/ops/worker", "1", "2/2/2", "-", "killed", "3h", "ago:", "OOM:", "exceeded", "128", "MiB"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("app ls:\n%s\nwant rows %q", r.stdout, want)
	}

	r = runCLI(t, "", nil, "app", "ls", "--addr", srv.URL, "-o", "json")
	var apps []api.AppStatus
	if err := json.Unmarshal([]byte(r.stdout), &apps); err != nil || len(apps) != 2 || apps[1].Spec.ID != "/ops/worker" {
		t.Errorf("-o json: %v %v", apps, err)
	}
}

func TestAppShow(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/apps/shop/api", 200, shopAPIStatus())

	r := runCLI(t, "", nil, "app", "show", "shop/api", "--addr", srv.URL)
	if r.code != 0 || f.seen[0] != "GET /api/v1/apps/shop/api" {
		t.Fatalf("exit %d %v: %s", r.code, f.seen, r.stderr)
	}
	for _, want := range []string{
		"ID:            /shop/api\n",
		"Runs:          ./api --port $PORT0 (exec)\n",
		"Resources:     0.5 CPUs, 256 MiB\n",
		"Ports:         http dynamic\n",
		"Health check 0:  HTTP /health on port index 0\n",
		"Constraints:   hostname UNIQUE\n",
		"Instances:     4 target: 2 healthy, 3 running, 0 staged, 1 unhealthy\n",
		"Deployment:    shop_api.v4: scale v3 → v4, running for 2m\n",
		"  Progress:    2/4 healthy, 1 starting\n",
		"  Waiting:     1 instance cannot be placed: needs 256 MiB, 2 nodes have less; hostname UNIQUE excludes 1 node\n",
		"Last failure:  shop_api.9a on web-2 failed 5m ago (version 3): exit code 3\n",
	} {
		if !strings.Contains(squash(r.stdout), squash(want)) {
			t.Errorf("app show lacks %q:\n%s", want, r.stdout)
		}
	}
	// The app-level Waiting repeats the deployment's: shown once.
	if n := strings.Count(r.stdout, "cannot be placed"); n != 1 {
		t.Errorf("waiting shown %d times:\n%s", n, r.stdout)
	}
	_, table, _ := strings.Cut(r.stdout, "Tasks:\n")
	wantRows := [][]string{
		{"ID", "NODE", "STATE", "PORTS", "STARTED", "HEALTH", "REASON"},
		{"shop_api.1a", "web-1", "healthy", "31001", "1h", "ago", "ok", "-"},
		{"shop_api.2b", "web-2", "unhealthy", "31002,31003", "10m", "ago", "check", "0", "failing", "(2x):", "HTTP", "500", "-"},
		{"shop_api.9a", "web-2", "failed", "-", "-", "-", "exit", "code", "3"},
	}
	if got := lines(table); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("tasks table:\n%s\nwant %q", table, wantRows)
	}

	r = runCLI(t, "", nil, "app", "show", "/shop/api", "--addr", srv.URL, "-o", "yaml")
	for _, want := range []string{"spec:\n  id: /shop/api\n", "waiting: '1 instance cannot be placed", "last_failure:\n  task: shop_api.9a\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, r.stdout)
		}
	}

	checkAPIError(t, f, srv, "GET /api/v1/apps/nope", 404, `app "/nope" not found`, "app", "show", "nope")
}

func TestAppTasksAndVersions(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/apps/shop/api/tasks", 200, shopAPIStatus().Tasks[:1])
	f.json("GET /api/v1/apps/shop/api/versions", 200, []api.AppVersion{
		{Version: 4, Spec: shopAPIStatus().Spec, CreatedAt: testNow, By: "user:alice"},
		{Version: 3, Spec: api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Image: "shop/api:1.3", CPUs: 1, Mem: 128}, Instances: &two}, CreatedAt: testNow},
	})

	r := runCLI(t, "", nil, "app", "tasks", "/shop/api", "--addr", srv.URL)
	want := [][]string{{"ID", "NODE", "STATE", "PORTS", "STARTED", "HEALTH", "REASON"}, {"shop_api.1a", "web-1", "healthy", "31001", "1h", "ago", "ok", "-"}}
	if got := lines(r.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("app tasks:\n%s (stderr %s)", r.stdout, r.stderr)
	}

	r = runCLI(t, "", nil, "app", "versions", "/shop/api", "--addr", srv.URL)
	got := lines(r.stdout)
	if len(got) != 3 || !reflect.DeepEqual(got[0], []string{"VERSION", "CREATED", "BY", "INSTANCES", "RESOURCES", "RUNS"}) ||
		got[1][0] != "4" || got[1][3] != "user:alice" || got[1][4] != "4" || got[2][0] != "3" || got[2][3] != "-" || got[2][4] != "2" ||
		!strings.HasSuffix(squash(strings.Split(r.stdout, "\n")[2]), " 1 CPUs, 128 MiB image shop/api:1.3") {
		t.Errorf("app versions:\n%s", r.stdout)
	}
}

func TestAppScaleWait(t *testing.T) {
	f, srv := newFakeAPI(t)
	started := api.Deployment{ID: "shop_api.v5", App: "/shop/api", Kind: api.DeployScale, Version: 5, FromVersion: 4,
		State: api.DeploymentRunning, Instances: 6, Started: testNow}
	f.json("POST /api/v1/apps/shop/api/scale", 200, started)
	waiting := started
	waiting.Progress = api.DeploymentProgress{New: 5, Healthy: 4}
	waiting.Waiting = "1 instance cannot be placed: needs 256 MiB"
	placed := started
	placed.Progress = api.DeploymentProgress{New: 6, Healthy: 6}
	done := placed
	done.State, done.Finished = api.DeploymentSucceeded, testNow.Add(90*time.Second)
	answerSeq(f, "GET /api/v1/deployments/shop_api.v5", waiting, waiting, placed, done)
	seq := f.answers["GET /api/v1/deployments/shop_api.v5"]
	polls := 0
	f.answers["GET /api/v1/deployments/shop_api.v5"] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		polls++
		if polls == 1 { // not picked up by the scheduler yet
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.Error{Message: `deployment "shop_api.v5" does not exist`})
			return
		}
		seq(w, r, body)
	}

	r := runCLI(t, "", nil, "app", "scale", "/shop/api", "6", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	want := "app /shop/api scales to 6: deployment shop_api.v5 started (scale v4 → v5)\n" +
		"  waiting for the scheduler to start it\n" +
		"  4/6 healthy, 1 starting; waiting: 1 instance cannot be placed: needs 256 MiB\n" +
		"  6/6 healthy\n" +
		"deployment shop_api.v5 succeeded after 1m\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("scale --wait: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
	if b := string(f.bodies["POST /api/v1/apps/shop/api/scale"]); strings.TrimSpace(b) != `{"instances":6}` {
		t.Errorf("scale body %s", b)
	}
	if n := strings.Count(strings.Join(f.seen, "\n"), "GET /api/v1/deployments/shop_api.v5"); n != 5 {
		t.Errorf("polled %d times, want 5: %v", n, f.seen)
	}

	// A replaced deployment exits 1.
	replaced := started
	replaced.State = api.DeploymentReplaced
	answerSeq(f, "GET /api/v1/deployments/shop_api.v5", replaced)
	r = runCLI(t, "", nil, "app", "scale", "shop/api", "6", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "Error: deployment shop_api.v5 was replaced") {
		t.Errorf("replaced: exit %d %q", r.code, r.stderr)
	}

	// Without --wait: the deployment id, at once.
	r = runCLI(t, "", nil, "app", "scale", "/shop/api", "6", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "app /shop/api scales to 6: deployment shop_api.v5 started (scale v4 → v5)\n" {
		t.Errorf("scale: exit %d %q", r.code, r.stdout)
	}
	r = runCLI(t, "", nil, "app", "scale", "/shop/api", "many", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "INSTANCES must be a number of at least 0") {
		t.Errorf("scale -1: exit %d %q", r.code, r.stderr)
	}
}

func TestAppRestartRollbackRm(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/apps/shop/api/restart", 200, api.Deployment{ID: "shop_api.v4.r1", App: "/shop/api", Kind: api.DeployRestart, Version: 4, FromVersion: 4})
	f.json("POST /api/v1/apps/shop/api/rollback", 200, api.Deployment{ID: "shop_api.v5", App: "/shop/api", Kind: api.DeployRollback, Version: 5, FromVersion: 4})
	f.json("DELETE /api/v1/apps/shop/api", 204, nil)

	tests := []struct {
		args     []string
		key      string
		body     string
		wantOut  string
		wantJSON bool
	}{
		{args: []string{"app", "restart", "/shop/api"}, key: "POST /api/v1/apps/shop/api/restart",
			wantOut: "app /shop/api restarts: deployment shop_api.v4.r1 started (restart v4)\n"},
		{args: []string{"app", "rollback", "/shop/api"}, key: "POST /api/v1/apps/shop/api/rollback", body: `{}`,
			wantOut: "app /shop/api rolls back: deployment shop_api.v5 started (rollback v4 → v5)\n"},
		{args: []string{"app", "rollback", "/shop/api", "--to", "2"}, key: "POST /api/v1/apps/shop/api/rollback", body: `{"version":2}`,
			wantOut: "app /shop/api rolls back: deployment shop_api.v5 started (rollback v4 → v5)\n"},
		{args: []string{"app", "rollback", "/shop/api", "-o", "json"}, key: "POST /api/v1/apps/shop/api/rollback", body: `{}`, wantJSON: true},
		{args: []string{"app", "rm", "shop/api"}, key: "DELETE /api/v1/apps/shop/api",
			wantOut: "app /shop/api removed; its tasks are being killed\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f.seen = nil
			r := runCLI(t, "", nil, append(tt.args, "--addr", srv.URL)...)
			if r.code != 0 || len(f.seen) != 1 || f.seen[0] != tt.key {
				t.Fatalf("exit %d, requests %v, stderr %s", r.code, f.seen, r.stderr)
			}
			if got := strings.TrimSpace(string(f.bodies[tt.key])); tt.body != "" && got != tt.body {
				t.Errorf("body %s, want %s", got, tt.body)
			}
			if tt.wantJSON {
				var d api.Deployment
				if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.ID != "shop_api.v5" {
					t.Errorf("-o json: %v %q", err, r.stdout)
				}
			} else if r.stdout != tt.wantOut {
				t.Errorf("stdout %q, want %q", r.stdout, tt.wantOut)
			}
		})
	}
}

func TestAppLogs(t *testing.T) {
	f, srv := newFakeAPI(t)
	entries := []api.LogEntry{
		{Time: testNow, App: "/shop/api", Task: "shop_api.1a", Stream: "stdout", Message: "listening on :31001"},
		{Time: testNow.Add(time.Second), App: "/shop/api", Task: "shop_api.1a", Stream: "stderr", Message: "GET /health 500"},
	}
	var queries []url.Values
	answerQuery(f, "GET /api/v1/logs", entries, &queries)

	r := runCLI(t, "", nil, "app", "logs", "/shop/api", "--task", "shop_api.1a", "--since", "10m", "-n", "5", "--addr", srv.URL)
	ts := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05.000") }
	want := ts(testNow) + " shop_api.1a stdout| listening on :31001\n" + ts(testNow.Add(time.Second)) + " shop_api.1a stderr| GET /health 500\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("app logs: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
	wantQ := url.Values{"app": {"/shop/api"}, "task": {"shop_api.1a"}, "since": {"10m"}, "limit": {"5"}}
	if len(queries) != 1 || !reflect.DeepEqual(queries[0], wantQ) {
		t.Errorf("queries %v, want %v", queries, wantQ)
	}

	r = runCLI(t, "", nil, "app", "logs", "/shop/api", "-o", "json", "--addr", srv.URL)
	var got []api.LogEntry
	for l := range strings.Lines(r.stdout) {
		var e api.LogEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, e)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("-o json lines %+v", got)
	}

	// -f follows the event stream.
	f.answers["GET /api/v1/logs"] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		queries = append(queries, r.URL.Query())
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range entries {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	}
	r = runCLI(t, "", nil, "app", "logs", "/shop/api", "-f", "--addr", srv.URL)
	if r.code != 0 || r.stdout != want {
		t.Errorf("app logs -f: exit %d\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if q := queries[len(queries)-1]; q.Get("follow") != "true" || q.Get("limit") != "100" {
		t.Errorf("follow query %v", q)
	}

	n := len(f.seen)
	r = runCLI(t, "", nil, "app", "logs", "/shop/api", "--since", "yesterday", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, `--since: want a duration (10m) or an RFC 3339 time, not "yesterday"`) || len(f.seen) != n {
		t.Errorf("bad --since: exit %d %q", r.code, r.stderr)
	}
}
