package cli

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

var exit0, exit2 = 0, 2

func backupJob() api.JobStatus {
	return api.JobStatus{
		Spec:    api.JobSpec{ID: "/ops/backup", RunSpec: api.RunSpec{Cmd: "./backup.sh", CPUs: 1, Mem: 128}, Schedule: "0 3 * * *", Timezone: "Europe/Berlin", Retries: 2},
		Version: 2, UpdatedAt: testNow.Add(-48 * time.Hour), NextRun: testNow.Add(15 * time.Hour),
		LastRun: &api.JobRun{ID: "r7", Job: "/ops/backup", State: api.RunFailed, Reason: "exit code 2", Attempts: 3, Node: "db-1",
			ExitCode: &exit2, Started: testNow.Add(-9 * time.Hour), Finished: testNow.Add(-9*time.Hour + 30*time.Second), Duration: 30},
	}
}

func TestJobLsShow(t *testing.T) {
	f, srv := newFakeAPI(t)
	once := api.JobStatus{Spec: api.JobSpec{ID: "/ops/migrate", RunSpec: api.RunSpec{Cmd: "./migrate"}}, Version: 1,
		Active: []api.JobRun{{ID: "r1", State: api.RunActive, Attempts: 1, Node: "web-1", Started: testNow.Add(-90 * time.Second)}}}
	f.json("GET /api/v1/jobs", 200, []api.JobStatus{backupJob(), once})
	f.json("GET /api/v1/jobs/ops/backup", 200, backupJob())
	f.json("GET /api/v1/jobs/ops/migrate", 200, once)

	r := runCLI(t, "", nil, "job", "ls", "--addr", srv.URL)
	got := lines(r.stdout)
	want := [][]string{
		{"ID", "SCHEDULE", "TZ", "NEXT", "RUN", "LAST", "RUN"},
		append(append([]string{"/ops/backup", "0", "3", "*", "*", "*", "Europe/Berlin", "in", "15h"}, strings.Fields("("+stamp(testNow.Add(15*time.Hour))+")")...),
			"failed,", "exit", "2,", "30s,", "9h", "ago"),
		{"/ops/migrate", "-", "UTC", "manual", "only", "1", "active;", "last:", "never"},
	}
	if r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("job ls: exit %d\n%s\ngot  %q\nwant %q\nstderr %s", r.code, r.stdout, got, want, r.stderr)
	}

	r = runCLI(t, "", nil, "job", "show", "ops/backup", "--addr", srv.URL)
	for _, w := range []string{"ID: /ops/backup\n", "Runs: ./backup.sh\n", "Schedule: 0 3 * * * (Europe/Berlin)\n", "Next run: in 15h",
		"Concurrency: ALLOW\n", "Retries: 2\n", "Last run: failed, exit 2, 30s, 9h ago\n", "Reason: exit code 2\n", "Active runs:\n (none)\n"} {
		if !strings.Contains(squash(r.stdout), w) {
			t.Errorf("job show lacks %q:\n%s", w, r.stdout)
		}
	}
	r = runCLI(t, "", nil, "job", "show", "/ops/migrate", "--addr", srv.URL)
	_, active, _ := strings.Cut(r.stdout, "Active runs:\n")
	wantRows := [][]string{{"RUN", "STARTED", "DURATION", "STATE", "EXIT", "ATTEMPTS", "NODE", "REASON"},
		append(append([]string{"r1"}, strings.Fields(stamp(testNow.Add(-90*time.Second)))...), "1m", "active", "-", "1", "web-1", "-")}
	if got := lines(active); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("active runs:\n%s\ngot %q", r.stdout, got)
	}
}

func TestJobRunWait(t *testing.T) {
	f, srv := newFakeAPI(t)
	active := api.JobRun{ID: "r8", Job: "/ops/backup", State: api.RunActive, Manual: true, Attempts: 1, Started: testNow}
	f.json("POST /api/v1/jobs/ops/backup/run", 200, active)
	failed := active
	failed.State, failed.ExitCode, failed.Reason, failed.Attempts, failed.Node = api.RunFailed, &exit2, "exit code 2", 3, "db-1"
	failed.Finished, failed.Duration = testNow.Add(75*time.Second), 75
	other := api.JobRun{ID: "r7", State: api.RunSucceeded}
	answerSeq(f, "GET /api/v1/jobs/ops/backup/runs", []api.JobRun{active, other}, []api.JobRun{failed, other})

	r := runCLI(t, "", nil, "job", "run", "/ops/backup", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	want := "job /ops/backup: run r8 started\nrun r8 failed, exit 2 after 1m (3 attempts) on db-1: exit code 2\n"
	if r.code != 1 || r.stdout != want || r.stderr != "" {
		t.Errorf("run --wait (failing): exit %d\n%q\nwant\n%q\nstderr %q", r.code, r.stdout, want, r.stderr)
	}

	ok := active
	ok.State, ok.ExitCode, ok.Node, ok.Finished, ok.Duration = api.RunSucceeded, &exit0, "db-2", testNow.Add(12*time.Second), 12
	answerSeq(f, "GET /api/v1/jobs/ops/backup/runs", []api.JobRun{ok})
	r = runCLI(t, "", nil, "job", "run", "ops/backup", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	want = "job /ops/backup: run r8 started\nrun r8 succeeded, exit 0 after 12s on db-2\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("run --wait (succeeding): exit %d %q, want %q (stderr %s)", r.code, r.stdout, want, r.stderr)
	}

	r = runCLI(t, "", nil, "job", "run", "/ops/backup", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "job /ops/backup: run r8 started\n" {
		t.Errorf("run: exit %d %q", r.code, r.stdout)
	}
	r = runCLI(t, "", nil, "job", "run", "/ops/backup", "-o", "json", "--addr", srv.URL)
	var got api.JobRun
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != "r8" || !got.Manual {
		t.Errorf("run -o json: %v %q", err, r.stdout)
	}
}

func TestJobHistoryLogsRm(t *testing.T) {
	f, srv := newFakeAPI(t)
	var queries []url.Values
	runs := []api.JobRun{*backupJob().LastRun, {ID: "r6", State: api.RunMissed, Reason: "starting deadline passed", Scheduled: testNow.Add(-33 * time.Hour)}}
	answerQuery(f, "GET /api/v1/jobs/ops/backup/runs", runs, &queries)
	var logQueries []url.Values
	answerQuery(f, "GET /api/v1/logs", []api.LogEntry{{Time: testNow, App: "/ops/backup", Task: "ops_backup.x", Stream: "stdout", Message: "dumped 3 tables"}}, &logQueries)
	f.json("DELETE /api/v1/jobs/ops/backup", 204, nil)

	r := runCLI(t, "", nil, "job", "history", "/ops/backup", "-n", "2", "--addr", srv.URL)
	want := [][]string{
		{"RUN", "STARTED", "DURATION", "STATE", "EXIT", "ATTEMPTS", "NODE", "REASON"},
		append(append([]string{"r7"}, strings.Fields(stamp(runs[0].Started))...), "30s", "failed", "2", "3", "db-1", "exit", "code", "2"),
		{"r6", "-", "-", "missed", "-", "0", "-", "starting", "deadline", "passed"},
	}
	if got := lines(r.stdout); r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("history: exit %d\n%s\ngot %q", r.code, r.stdout, got)
	}
	if len(queries) != 1 || queries[0].Get("limit") != "2" {
		t.Errorf("history query %v", queries)
	}

	r = runCLI(t, "", nil, "job", "logs", "/ops/backup", "--run", "r7", "--addr", srv.URL)
	if r.code != 0 || !strings.HasSuffix(r.stdout, " ops_backup.x stdout| dumped 3 tables\n") {
		t.Errorf("logs: exit %d %q", r.code, r.stdout)
	}
	wantQ := url.Values{"app": {"/ops/backup"}, "run": {"r7"}, "limit": {"100"}}
	if len(logQueries) != 1 || !reflect.DeepEqual(logQueries[0], wantQ) {
		t.Errorf("logs query %v, want %v", logQueries, wantQ)
	}

	r = runCLI(t, "", nil, "job", "rm", "/ops/backup", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "job /ops/backup removed\n" || f.seen[len(f.seen)-1] != "DELETE /api/v1/jobs/ops/backup" {
		t.Errorf("rm: exit %d %q %v", r.code, r.stdout, f.seen)
	}
}

// TestJobRunWaitJSON checks that with -o json --wait the started line goes
// to stderr and stdout is the ended run alone.
func TestJobRunWaitJSON(t *testing.T) {
	f, srv := newFakeAPI(t)
	active := api.JobRun{ID: "r9", Job: "/ops/backup", State: api.RunActive, Attempts: 1, Started: testNow}
	f.json("POST /api/v1/jobs/ops/backup/run", 200, active)
	ended := active
	ended.State, ended.ExitCode, ended.Finished = api.RunFailed, &exit2, testNow.Add(3*time.Second)
	answerSeq(f, "GET /api/v1/jobs/ops/backup/runs", []api.JobRun{active}, []api.JobRun{ended})

	r := runCLI(t, "", nil, "job", "run", "/ops/backup", "--wait", "--poll-interval", "1ms", "-o", "json", "--addr", srv.URL)
	var got api.JobRun
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != "r9" || got.State != api.RunFailed {
		t.Errorf("stdout %q: %v", r.stdout, err)
	}
	if r.code != 1 || r.stderr != "job /ops/backup: run r9 started\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}

	answerSeq(f, "GET /api/v1/jobs/ops/backup/runs", []api.JobRun{{ID: "r1", State: api.RunSucceeded}})
	r = runCLI(t, "", nil, "job", "run", "/ops/backup", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	if want := "Error: run r9 of job /ops/backup is not in its history\n"; r.code != 1 || r.stderr != want {
		t.Errorf("run gone: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}
