package cli

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func TestSpan(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{45 * time.Second, "45s"},
		{12*time.Minute + 30*time.Second, "12m"},
		{time.Hour, "1h"},
		{time.Hour + 59*time.Minute + 59*time.Second, "1h59m"},
		{15*time.Hour + 5*time.Minute, "15h"},
		{50 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := span(tt.d); got != tt.want {
			t.Errorf("span(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWriteYAML(t *testing.T) {
	v := struct {
		Name   string         `json:"name"`
		Big    int64          `json:"big"`
		Ratio  float64        `json:"ratio"`
		Text   string         `json:"text"`
		Bool   string         `json:"bool_like"`
		Empty  []string       `json:"empty"`
		Nested map[string]any `json:"nested"`
	}{"a", 1 << 53, 0.5, "two\nlines\n", "true", []string{}, map[string]any{"z": nil, "a": true}}
	var b strings.Builder
	if err := writeYAML(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "name: a\nbig: 9007199254740992\nratio: 0.5\ntext: |\n  two\n  lines\nbool_like: \"true\"\nempty: []\nnested:\n  a: true\n  z: null\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// answerNull answers each key with a JSON null.
func answerNull(f *fakeAPI, keys ...string) {
	for _, k := range keys {
		f.answers[k] = func(w http.ResponseWriter, r *http.Request, body []byte) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "null")
		}
	}
}

// TestShowNilList checks that list commands print an empty list, not null,
// when the server answers null, and a table of the header alone.
func TestShowNilList(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		args   []string
		header string
	}{
		{"node ls", "GET /api/v1/nodes", []string{"node", "ls"}, "NAME STATUS IP CPUS MEM LABELS JOINED\n"},
		{"token ls", "GET /api/v1/tokens", []string{"token", "ls"}, "ID NAME ROLE STATUS CREATED CREATED-BY EXPIRES\n"},
		{"user ls", "GET /api/v1/users", []string{"user", "ls"}, "NAME ROLE CREATED\n"},
		{"audit ls", "GET /api/v1/audit", []string{"audit", "ls"}, "TIME ACTOR ACTION TARGET STATUS RESULT\n"},
		{"app ls", "GET /api/v1/apps", []string{"app", "ls"}, "ID VERSION INSTANCES DEPLOYING WAITING/LAST FAILURE\n"},
		{"app tasks", "GET /api/v1/apps/shop/api/tasks", []string{"app", "tasks", "/shop/api"}, "ID NODE STATE PORTS STARTED HEALTH REASON\n"},
		{"app versions", "GET /api/v1/apps/shop/api/versions", []string{"app", "versions", "shop/api"}, "VERSION CREATED BY INSTANCES RESOURCES RUNS\n"},
		{"deployment ls", "GET /api/v1/deployments", []string{"deployment", "ls"}, "ID APP KIND VERSION STATE PROGRESS STARTED WAITING\n"},
		{"job ls", "GET /api/v1/jobs", []string{"job", "ls"}, "ID SCHEDULE TZ NEXT RUN LAST RUN\n"},
		{"job history", "GET /api/v1/jobs/ops/backup/runs", []string{"job", "history", "/ops/backup"}, "RUN STARTED DURATION STATE EXIT ATTEMPTS NODE REASON\n"},
		{"event ls", "GET /api/v1/events", []string{"event", "ls"}, "ENTITY CHECK STATUS OCCURRENCES LAST RESULT OUTPUT\n"},
		{"silence ls", "GET /api/v1/resources/Silence", []string{"silence", "ls"}, "ID NODE CHECK SUBSCRIPTION BEGINS EXPIRES ON RESOLVE AUTHOR REASON\n"},
		{"handler ls", "GET /api/v1/resources/Handler", []string{"handler", "ls"}, "NAME TYPE TARGET FILTERS\n"},
		{"metrics find", "GET /metrics/find", []string{"metrics", "find", "x.*"}, "PATH TYPE\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAPI(t)
			answerNull(f, tt.key)
			for _, o := range []string{"json", "yaml"} {
				r := runCLI(t, "", nil, append(tt.args, "-o", o, "--addr", srv.URL)...)
				if r.code != 0 || r.stdout != "[]\n" {
					t.Errorf("-o %s: exit %d, stdout %q, stderr %q; want []", o, r.code, r.stdout, r.stderr)
				}
			}
			r := runCLI(t, "", nil, append(tt.args, "--addr", srv.URL)...)
			if got := strings.TrimRight(squash(r.stdout), " \n") + "\n"; r.code != 0 || got != tt.header {
				t.Errorf("table: exit %d, stdout %q, want %q (stderr %q)", r.code, r.stdout, tt.header, r.stderr)
			}
		})
	}
}

// TestOneLineCommands checks the line each change command prints, and
// that nothing is printed when the change fails.
func TestOneLineCommands(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/whoami", 200, api.Whoami{Subject: "user:alice", Role: api.RoleAdmin})
	f.json("PUT /api/v1/nodes/db-1/drain", 200, cannedNodes[1])
	f.json("POST /api/v1/users", 200, api.User{Name: "bob", Role: api.RoleViewer})
	f.json("POST /api/v1/events/web-1/disk/resolve", 200, api.Event{Entity: "web-1", Check: "disk", Status: 0})
	f.json("POST /api/v1/checks/disk/run", 200, map[string]any{"check": "disk", "nodes": []string{"web-1", "db-1"}})
	f.json("POST /api/v1/metrics", 200, api.MetricsIngestResult{Accepted: 1})
	for _, k := range []string{"DELETE /api/v1/nodes/web-1", "DELETE /api/v1/tokens/abc", "DELETE /api/v1/users/bob",
		"DELETE /api/v1/events/web-1/disk", "DELETE /api/v1/apps/shop/api", "DELETE /api/v1/jobs/ops/backup"} {
		f.json(k, 204, nil)
	}
	tests := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"whoami"}, "", "user:alice (admin) at " + srv.URL + "\n"},
		{[]string{"node", "drain", "db-1"}, "", "node db-1: drain on, status draining\n"},
		{[]string{"user", "add", "bob", "--role", "viewer", "--password-stdin"}, "long-enough-password\n", "user bob saved (viewer)\n"},
		{[]string{"event", "resolve", "web-1/disk"}, "", "event web-1/disk resolved: ok\n"},
		{[]string{"check", "run", "disk"}, "", "check disk: run requested on 2 node(s): web-1, db-1\n"},
		{[]string{"metrics", "send", "deploys.shop", "1"}, "", "stored deploys.shop = 1\n"},
		{[]string{"node", "rm", "web-1"}, "", "node web-1 removed\n"},
		{[]string{"token", "revoke", "abc"}, "", "token abc revoked\n"},
		{[]string{"user", "rm", "bob"}, "", "user bob removed\n"},
		{[]string{"event", "rm", "web-1", "disk"}, "", "event web-1/disk removed\n"},
		{[]string{"app", "rm", "shop/api"}, "", "app /shop/api removed; its tasks are being killed\n"},
		{[]string{"job", "rm", "/ops/backup"}, "", "job /ops/backup removed\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, tt.stdin, nil, append(tt.args, "--addr", srv.URL)...)
			if r.code != 0 || r.stdout != tt.want {
				t.Errorf("exit %d, stdout %q, want %q (stderr %q)", r.code, r.stdout, tt.want, r.stderr)
			}
		})
	}
	checkAPIError(t, f, srv, "DELETE /api/v1/tokens/nope", 404, `token "nope" not found`, "token", "revoke", "nope")
	checkAPIError(t, f, srv, "POST /api/v1/checks/nope/run", 404, `check "nope" not found`, "check", "run", "nope")
}
