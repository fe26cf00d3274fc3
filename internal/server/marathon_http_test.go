package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/marathon"
	"corral/internal/store"
)

var v2Now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// fakeCluster is a marathonBackend over maps. Version v of an app is
// stored at v2Now + v minutes.
type fakeCluster struct {
	apps        map[string]api.AppStatus
	tasks       []api.Task
	deployments []api.Deployment
	puts        []fakePut
	calls       []string
}

type fakePut struct {
	spec       api.AppSpec
	caller     string
	mustCreate bool
}

func depID(app string, v int64) string {
	return strings.ReplaceAll(strings.Trim(app, "/"), "/", "_") + fmt.Sprintf(".v%d", v)
}

func (f *fakeCluster) AppStatuses(_ context.Context, withTasks bool) ([]api.AppStatus, error) {
	f.calls = append(f.calls, fmt.Sprintf("AppStatuses %v", withTasks))
	var out []api.AppStatus
	for _, st := range f.apps {
		if !withTasks {
			st.Tasks = nil
		}
		out = append(out, st)
	}
	return out, nil
}

func (f *fakeCluster) AppStatus(_ context.Context, id string) (api.AppStatus, error) {
	st, ok := f.apps[id]
	if !ok {
		return st, fmt.Errorf("app %s: %w", id, store.ErrNotFound)
	}
	return st, nil
}

func (f *fakeCluster) PutApp(_ context.Context, spec api.AppSpec, c httpapi.Caller, mustCreate bool) (int64, string, bool, error) {
	f.puts = append(f.puts, fakePut{spec, c.Subject, mustCreate})
	if err := spec.Validate().Err("invalid app"); err != nil {
		return 0, "", false, err
	}
	st, exists := f.apps[spec.ID]
	if exists && mustCreate {
		return 0, "", false, fmt.Errorf("app %s: %w", spec.ID, store.ErrExists)
	}
	st.Spec, st.Version = spec, st.Version+1
	st.UpdatedAt = v2Now.Add(time.Duration(st.Version) * time.Minute)
	st.Deployments = []api.Deployment{{ID: depID(spec.ID, st.Version), App: spec.ID, State: api.DeploymentRunning}}
	f.apps[spec.ID] = st
	return st.Version, depID(spec.ID, st.Version), !exists, nil
}

func (f *fakeCluster) DeleteApp(_ context.Context, id string, c httpapi.Caller) (string, error) {
	f.calls = append(f.calls, "DeleteApp "+id+" by "+c.Subject)
	st, ok := f.apps[id]
	if !ok {
		return "", api.NotFound("app", id)
	}
	delete(f.apps, id)
	return depID(id, st.Version+1), nil
}

func (f *fakeCluster) RestartApp(_ context.Context, id string, c httpapi.Caller) (api.Deployment, error) {
	f.calls = append(f.calls, "RestartApp "+id+" by "+c.Subject)
	st, ok := f.apps[id]
	if !ok {
		return api.Deployment{}, fmt.Errorf("app %s: %w", id, store.ErrNotFound)
	}
	return api.Deployment{ID: depID(id, st.Version) + ".r1", App: id, Kind: api.DeployRestart,
		State: api.DeploymentRunning, Started: v2Now.Add(time.Hour)}, nil
}

func (f *fakeCluster) Tasks(_ context.Context, app string) ([]api.Task, error) {
	f.calls = append(f.calls, "Tasks "+app)
	return f.tasks, nil
}

func (f *fakeCluster) Deployments(context.Context) ([]api.Deployment, error) {
	return f.deployments, nil
}

func (f *fakeCluster) CancelDeployment(_ context.Context, id string, c httpapi.Caller) (api.Deployment, error) {
	f.calls = append(f.calls, "CancelDeployment "+id+" by "+c.Subject)
	for _, d := range f.deployments {
		if d.ID == id {
			return api.Deployment{ID: depID(d.App, d.Version+1), App: d.App, Kind: api.DeployRollback,
				Started: v2Now.Add(2 * time.Hour)}, nil
		}
	}
	return api.Deployment{}, fmt.Errorf("deployment %s: %w", id, store.ErrNotFound)
}

// tokens authenticates "op" as an operator and "view" as a viewer.
type tokens struct{}

func (tokens) Authenticate(_ context.Context, bearer string) (httpapi.Caller, error) {
	switch bearer {
	case "op":
		return httpapi.Caller{Subject: "user:op", Role: api.RoleOperator}, nil
	case "view":
		return httpapi.Caller{Subject: "user:view", Role: api.RoleViewer}, nil
	}
	return httpapi.Caller{}, &api.Error{Status: http.StatusUnauthorized, Message: "invalid token"}
}

var exitOne = 1

// shopAPI is an app with one healthy task, one staging task and an ended
// one, version 3 stored at v2Now.
func shopAPI() api.AppStatus {
	two := 2
	return api.AppStatus{
		Spec: api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Cmd: "./api --port $PORT0", CPUs: 0.5, Mem: 256,
			Ports: []api.PortSpec{{Name: "http"}}}, Instances: &two,
			HealthChecks: []api.HealthCheck{{Protocol: "HTTP", Path: "/health"}}},
		Version: 3, UpdatedAt: v2Now, Instances: 2,
		TasksStaged: 1, TasksRunning: 1, TasksHealthy: 1,
		Deployments: []api.Deployment{{ID: "shop_api.v3", App: "/shop/api", State: api.DeploymentRunning}},
		LastFailure: &api.TaskFailure{Task: "shop_api.old", Node: "web-2", State: api.TaskFailed, Reason: "exit code 3",
			Time: v2Now.Add(-time.Minute), Version: 3},
		Tasks: []api.Task{
			{ID: "shop_api.a", Kind: api.TaskKindApp, App: "/shop/api", Version: 3, Node: "web-1", Ports: []int{31005},
				State: api.TaskHealthy, StagedAt: v2Now.Add(time.Second), StartedAt: v2Now.Add(3 * time.Second),
				Health: []api.TaskHealth{{Alive: true, FirstSuccess: v2Now.Add(10 * time.Second), LastSuccess: v2Now.Add(70 * time.Second)}}},
			{ID: "shop_api.b", Kind: api.TaskKindApp, App: "/shop/api", Version: 2, Node: "web-2", State: api.TaskStaging,
				StagedAt: v2Now.Add(2 * time.Second)},
			{ID: "shop_api.old", Kind: api.TaskKindApp, App: "/shop/api", Version: 3, Node: "web-2", State: api.TaskFailed,
				ExitCode: &exitOne, Reason: "exit code 3"},
		},
	}
}

func newV2(t *testing.T) (*fakeCluster, *httptest.Server) {
	t.Helper()
	f := &fakeCluster{apps: map[string]api.AppStatus{"/shop/api": shopAPI()}}
	a := httpapi.New(httpapi.Options{Auth: tokens{}, Logger: slog.New(slog.DiscardHandler)})
	m := &marathonAPI{b: f, now: func() time.Time { return v2Now.Add(24 * time.Hour) }, info: func() marathon.InfoParams {
		return marathon.InfoParams{Version: "0.4.0", Elected: true, Leader: "corral-1:7700", FrameworkID: "c1", Hostname: "corral-1",
			HTTPPort: 7700, LocalPortMin: 31000, LocalPortMax: 32000}
	}}
	m.routes(a)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return f, srv
}

// call sends a request with token and returns the status, headers and
// decoded JSON answer.
func call(t *testing.T, srv *httptest.Server, token, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, b)
	}
	obj, ok := out.(map[string]any)
	if !ok {
		obj = map[string]any{"list": out}
	}
	return resp.StatusCode, resp.Header, obj
}

// get walks a decoded JSON value by keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// marathonUIApp is an app as the Marathon UI's JSON editor sends it, with
// fields Corral accepts and ignores (delaySeconds, cache, unreachable
// strategy, killSelection, executor, acceptedResourceRoles).
const marathonUIApp = `{
  "id": "/shop/web",
  "cmd": "python3 -m http.server $PORT0",
  "cpus": 0.1,
  "mem": 32,
  "disk": 0,
  "instances": 2,
  "executor": "",
  "acceptedResourceRoles": ["*"],
  "killSelection": "YOUNGEST_FIRST",
  "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
  "env": {"MODE": "prod"},
  "labels": {"team": "shop"},
  "constraints": [["hostname", "UNIQUE"]],
  "networks": [{"mode": "host"}],
  "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "http"}],
  "requirePorts": false,
  "healthChecks": [{"gracePeriodSeconds": 300, "intervalSeconds": 60, "maxConsecutiveFailures": 3,
    "portIndex": 0, "timeoutSeconds": 20, "delaySeconds": 15, "protocol": "HTTP", "path": "/health", "ignoreHttp1xx": false}],
  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
  "fetch": [{"uri": "https://example.com/site.tgz", "extract": true, "executable": false, "cache": false}],
  "backoffSeconds": 1,
  "backoffFactor": 1.15,
  "maxLaunchDelaySeconds": 3600
}`

func TestV2CreateApp(t *testing.T) {
	f, srv := newV2(t)
	status, hdr, body := call(t, srv, "op", "POST", "/v2/apps", marathonUIApp)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, body)
	}
	if hdr.Get("Location") != "/v2/apps/shop/web" {
		t.Errorf("Location %q", hdr.Get("Location"))
	}
	if len(f.puts) != 1 || !f.puts[0].mustCreate || f.puts[0].caller != "user:op" {
		t.Fatalf("PutApp calls %+v", f.puts)
	}
	s := f.puts[0].spec
	checks := map[string][2]any{
		"id":           {s.ID, "/shop/web"},
		"cmd":          {s.Cmd, "python3 -m http.server $PORT0"},
		"cpus":         {s.CPUs, 0.1},
		"mem":          {s.Mem, int64(32)},
		"instances":    {s.Count(), 2},
		"env":          {s.Env["MODE"], "prod"},
		"label":        {s.Labels["team"], "shop"},
		"constraint":   {strings.Join(s.Constraints[0], " "), "hostname UNIQUE"},
		"port":         {s.Ports[0], api.PortSpec{Name: "http", Protocol: "tcp"}}, // requirePorts false: dynamic
		"check path":   {s.HealthChecks[0].Path, "/health"},
		"check grace":  {s.HealthChecks[0].GracePeriod, api.Duration(300 * time.Second)},
		"min capacity": {*s.UpgradeStrategy.MinimumHealthCapacity, 0.5},
		"fetch":        {s.Fetch[0].URI, "https://example.com/site.tgz"},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("spec %s = %#v, want %#v", name, c[0], c[1])
		}
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"id"}, "/shop/web"},
		{[]any{"instances"}, 2.0},
		{[]any{"version"}, "2026-03-10T12:01:00.000Z"},
		{[]any{"versionInfo", "corralVersion"}, 1.0},
		{[]any{"deployments", 0, "id"}, "shop_web.v1"},
		{[]any{"portDefinitions", 0, "name"}, "http"},
		{[]any{"healthChecks", 0, "path"}, "/health"},
		{[]any{"tasksRunning"}, 0.0},
	} {
		if got := get(body, c.path...); got != c.want {
			t.Errorf("answer %v = %#v, want %#v", c.path, got, c.want)
		}
	}

	// The same id again is a conflict.
	status, _, body = call(t, srv, "op", "POST", "/v2/apps", `{"id": "/shop/api", "cmd": "sleep 1"}`)
	if status != http.StatusConflict || body["message"] != "An app with id [/shop/api] already exists." {
		t.Errorf("existing app: %d %v", status, body)
	}
}

func TestV2InvalidApps(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantPath   string
		wantError  string
	}{
		{name: "not JSON", body: `{"id": `, wantStatus: 400, wantPath: "/"},
		{name: "unsupported field", body: `{"id": "/x", "cmd": "sleep 1", "residency": {"taskLostBehavior": "WAIT_FOREVER"}}`,
			wantStatus: 422, wantPath: "/residency", wantError: `unsupported field "residency"`},
		{name: "no command", body: `{"id": "/x", "instances": 1}`, wantStatus: 422, wantPath: "/cmd", wantError: "is required for driver exec (or args)"},
		{name: "bad id", body: `{"id": "/Bad_Name", "cmd": "sleep 1"}`, wantStatus: 422, wantPath: "/id"},
		{name: "bad grace period", body: `{"id": "/x", "cmd": "sleep 1", "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": -1}]}`,
			wantStatus: 422, wantPath: "/healthChecks(0)/gracePeriodSeconds", wantError: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newV2(t)
			status, _, body := call(t, srv, "op", "POST", "/v2/apps", tt.body)
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d: %v", status, tt.wantStatus, body)
			}
			if got := get(body, "details", 0, "path"); got != tt.wantPath {
				t.Errorf("details[0].path = %v, want %s (%v)", got, tt.wantPath, body)
			}
			if got, _ := get(body, "details", 0, "errors", 0).(string); tt.wantError != "" && got != tt.wantError {
				t.Errorf("details[0].errors[0] = %q, want %q", got, tt.wantError)
			}
			if len(f.puts) != 0 {
				t.Errorf("an invalid app was stored: %+v", f.puts)
			}
		})
	}
}

func TestV2PutApp(t *testing.T) {
	f, srv := newV2(t)

	// A partial update (a scale, as scripts do it) keeps the rest.
	status, _, body := call(t, srv, "op", "PUT", "/v2/apps/shop/api", `{"instances": 5}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	want := map[string]any{"version": "2026-03-10T12:04:00.000Z", "deploymentId": "shop_api.v4"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("answer %v, want %v", body, want)
	}
	s := f.puts[0].spec
	if s.Count() != 5 || s.Cmd != "./api --port $PORT0" || s.Mem != 256 || len(s.HealthChecks) != 1 ||
		len(s.Ports) != 1 || s.Ports[0].Name != "http" || f.puts[0].mustCreate {
		t.Errorf("stored %+v", f.puts[0])
	}

	// args replace cmd in a partial update.
	status, _, body = call(t, srv, "op", "PUT", "/v2/apps/shop/api", `{"args": ["./api", "--v2"], "cmd": null}`)
	if s := f.apps["/shop/api"].Spec; status != 200 || s.Cmd != "" || !reflect.DeepEqual(s.Args, []string{"./api", "--v2"}) || s.Count() != 5 {
		t.Errorf("args update: %d %v; spec %+v", status, body, s)
	}

	// partialUpdate=false replaces the whole app: the health check goes.
	status, _, _ = call(t, srv, "op", "PUT", "/v2/apps/shop/api?partialUpdate=false", `{"cmd": "./api"}`)
	if s := f.apps["/shop/api"].Spec; status != 200 || len(s.HealthChecks) != 0 || s.Count() != 1 {
		t.Errorf("full update: %d; spec %+v", status, s)
	}

	// An absent app is created from the body; its id comes from the URL.
	status, hdr, body := call(t, srv, "op", "PUT", "/v2/apps/ops/worker", `{"cmd": "./work", "instances": 3}`)
	if status != http.StatusCreated || body["deploymentId"] != "ops_worker.v1" || hdr.Get("Location") != "/v2/apps/ops/worker" {
		t.Errorf("create by PUT: %d %v %v", status, body, hdr)
	}
	if s := f.apps["/ops/worker"].Spec; s.ID != "/ops/worker" || s.Count() != 3 {
		t.Errorf("created %+v", s)
	}

	// A body naming another app is refused.
	n := len(f.puts)
	status, _, body = call(t, srv, "op", "PUT", "/v2/apps/shop/api", `{"id": "/shop/other", "instances": 1}`)
	if status != 422 || get(body, "details", 0, "path") != "/id" || len(f.puts) != n {
		t.Errorf("other id: %d %v", status, body)
	}

	// PATCH is a partial update too; an invalid result is 422.
	status, _, body = call(t, srv, "op", "PATCH", "/v2/apps/shop/api", `{"mem": -5}`)
	if status != 422 || get(body, "details", 0, "path") != "/mem" {
		t.Errorf("patch mem -5: %d %v", status, body)
	}
}

func TestV2GetApps(t *testing.T) {
	f, srv := newV2(t)
	f.apps["/ops/worker"] = api.AppStatus{Spec: api.AppSpec{ID: "/ops/worker", RunSpec: api.RunSpec{Cmd: "./work"}}, Version: 1, UpdatedAt: v2Now}

	status, _, body := call(t, srv, "view", "GET", "/v2/apps/shop/api", "")
	if status != 200 {
		t.Fatalf("status %d %v", status, body)
	}
	app := body["app"]
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"id"}, "/shop/api"},
		{[]any{"version"}, "2026-03-10T12:00:00.000Z"},
		{[]any{"versionInfo", "lastConfigChangeAt"}, "2026-03-10T12:00:00.000Z"},
		{[]any{"versionInfo", "corralVersion"}, 3.0},
		{[]any{"tasksRunning"}, 1.0},
		{[]any{"tasksHealthy"}, 1.0},
		{[]any{"tasksStaged"}, 1.0},
		{[]any{"tasksUnhealthy"}, 0.0},
		{[]any{"deployments", 0, "id"}, "shop_api.v3"},
		{[]any{"tasks"}, nil}, // not asked for
		{[]any{"lastTaskFailure"}, nil},
	} {
		if got := get(app, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("app %v = %#v, want %#v", c.path, got, c.want)
		}
	}

	_, _, body = call(t, srv, "view", "GET", "/v2/apps/shop/api?embed=app.tasks&embed=app.lastTaskFailure", "")
	app = body["app"]
	tasks, _ := get(app, "tasks").([]any)
	if len(tasks) != 2 {
		t.Fatalf("embedded tasks %v, want the 2 not ended", get(app, "tasks"))
	}
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{0, "id"}, "shop_api.a"},
		{[]any{0, "appId"}, "/shop/api"},
		{[]any{0, "host"}, "web-1"},
		{[]any{0, "state"}, "TASK_RUNNING"},
		{[]any{0, "ports"}, []any{31005.0}},
		{[]any{0, "stagedAt"}, "2026-03-10T12:00:01.000Z"},
		{[]any{0, "startedAt"}, "2026-03-10T12:00:03.000Z"},
		{[]any{0, "version"}, "2026-03-10T12:00:00.000Z"},
		{[]any{0, "healthCheckResults", 0, "alive"}, true},
		{[]any{0, "healthCheckResults", 0, "taskId"}, "shop_api.a"},
		{[]any{0, "healthCheckResults", 0, "lastSuccess"}, "2026-03-10T12:01:10.000Z"},
		{[]any{0, "healthCheckResults", 0, "lastFailure"}, nil},
		{[]any{1, "state"}, "TASK_STAGING"},
		{[]any{1, "ports"}, []any{}},
		{[]any{1, "startedAt"}, nil},
		{[]any{1, "version"}, nil}, // version 2's time is not known
	} {
		if got := get(tasks, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("tasks %v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if got := get(app, "lastTaskFailure", "message"); got != "exit code 3" {
		t.Errorf("lastTaskFailure.message = %v", got)
	}
	if got := get(app, "lastTaskFailure", "state"); got != "TASK_FAILED" {
		t.Errorf("lastTaskFailure.state = %v", got)
	}

	// The list, filtered by id, with tasks: [] when an app has none.
	status, _, body = call(t, srv, "view", "GET", "/v2/apps?embed=apps.tasks&id=WORK", "")
	apps, _ := body["apps"].([]any)
	if status != 200 || len(apps) != 1 || get(apps, 0, "id") != "/ops/worker" || !reflect.DeepEqual(get(apps, 0, "tasks"), []any{}) {
		t.Errorf("filtered list: %d %v", status, body)
	}
	_, _, body = call(t, srv, "view", "GET", "/v2/apps", "")
	apps, _ = body["apps"].([]any)
	if len(apps) != 2 || get(apps, 0, "id") != "/ops/worker" || get(apps, 1, "id") != "/shop/api" || get(apps, 1, "tasks") != nil {
		t.Errorf("list: %v", body)
	}
	if f.calls[len(f.calls)-1] != "AppStatuses false" || f.calls[len(f.calls)-2] != "AppStatuses true" {
		t.Errorf("calls %v: tasks asked for only with the embed", f.calls)
	}

	status, _, body = call(t, srv, "view", "GET", "/v2/apps/shop/api/tasks", "")
	tasks, _ = body["tasks"].([]any)
	if status != 200 || len(tasks) != 2 || get(tasks, 1, "id") != "shop_api.b" {
		t.Errorf("app tasks: %d %v", status, body)
	}

	status, _, body = call(t, srv, "view", "GET", "/v2/apps/nope", "")
	if status != 404 || !reflect.DeepEqual(body, map[string]any{"message": "App '/nope' does not exist"}) {
		t.Errorf("unknown app: %d %v", status, body)
	}
	status, _, body = call(t, srv, "view", "GET", "/v2/apps/nope/tasks", "")
	if status != 404 || body["message"] != "App '/nope' does not exist" {
		t.Errorf("tasks of an unknown app: %d %v", status, body)
	}
}

func TestV2Changes(t *testing.T) {
	f, srv := newV2(t)

	status, _, body := call(t, srv, "op", "POST", "/v2/apps/shop/api/restart", "")
	want := map[string]any{"version": "2026-03-10T13:00:00.000Z", "deploymentId": "shop_api.v3.r1"}
	if status != 200 || !reflect.DeepEqual(body, want) {
		t.Errorf("restart: %d %v, want %v", status, body, want)
	}
	status, _, body = call(t, srv, "op", "POST", "/v2/apps/nope/restart", "")
	if status != 404 || body["message"] != "App '/nope' does not exist" {
		t.Errorf("restart unknown: %d %v", status, body)
	}

	// Deleting tasks is not deleting an app named ".../tasks".
	status, _, _ = call(t, srv, "op", "DELETE", "/v2/apps/shop/api/tasks", "")
	if status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE .../tasks: %d", status)
	}

	status, _, body = call(t, srv, "op", "DELETE", "/v2/apps/shop/api", "")
	want = map[string]any{"version": "2026-03-11T12:00:00.000Z", "deploymentId": "shop_api.v4"}
	if status != 200 || !reflect.DeepEqual(body, want) {
		t.Errorf("delete: %d %v, want %v", status, body, want)
	}
	status, _, body = call(t, srv, "op", "DELETE", "/v2/apps/shop/api", "")
	if status != 404 || body["message"] != "App '/shop/api' does not exist" {
		t.Errorf("delete again: %d %v", status, body)
	}
	wantCalls := []string{"RestartApp /shop/api by user:op", "RestartApp /nope by user:op", "DeleteApp /shop/api by user:op", "DeleteApp /shop/api by user:op"}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Errorf("calls %v, want %v", f.calls, wantCalls)
	}
}

func TestV2TasksAndDeployments(t *testing.T) {
	f, srv := newV2(t)
	f.tasks = append(shopAPI().Tasks, api.Task{ID: "ops_backup.1", Kind: api.TaskKindJob, App: "/ops/backup", State: api.TaskRunning})
	f.deployments = []api.Deployment{
		{ID: "shop_api.v3", App: "/shop/api", Kind: api.DeployUpgrade, Version: 3, FromVersion: 2, State: api.DeploymentRunning,
			Started: v2Now, Progress: api.DeploymentProgress{New: 1, Old: 1}},
		{ID: "ops_worker.v1", App: "/ops/worker", Kind: api.DeployStart, Version: 1, State: api.DeploymentRunning,
			Started: v2Now.Add(time.Minute), Progress: api.DeploymentProgress{New: 1}},
	}

	status, _, body := call(t, srv, "view", "GET", "/v2/tasks", "")
	tasks, _ := body["tasks"].([]any)
	if status != 200 || len(tasks) != 2 || get(tasks, 0, "id") != "shop_api.a" || get(tasks, 0, "version") != "2026-03-10T12:00:00.000Z" {
		t.Errorf("tasks (no ended tasks, no job tasks): %d %v", status, body)
	}
	_, _, body = call(t, srv, "view", "GET", "/v2/tasks?status=staging", "")
	tasks, _ = body["tasks"].([]any)
	if len(tasks) != 1 || get(tasks, 0, "id") != "shop_api.b" {
		t.Errorf("tasks?status=staging: %v", body)
	}

	status, _, body = call(t, srv, "view", "GET", "/v2/deployments", "")
	var got []marathon.Deployment
	b, _ := json.Marshal(body["list"])
	if err := json.Unmarshal(b, &got); err != nil || status != 200 {
		t.Fatalf("deployments: %d %v %v", status, err, body)
	}
	want := []marathon.Deployment{
		{ID: "shop_api.v3", Version: "2026-03-10T12:00:00.000Z", AffectedApps: []string{"/shop/api"}, AffectedPods: []string{},
			Steps:          []marathon.Step{{Actions: []marathon.Action{{Action: "RestartApplication", App: "/shop/api"}}}},
			CurrentActions: []marathon.Action{{Action: "RestartApplication", App: "/shop/api"}}, CurrentStep: 1, TotalSteps: 1},
		{ID: "ops_worker.v1", Version: "2026-03-10T12:01:00.000Z", AffectedApps: []string{"/ops/worker"}, AffectedPods: []string{},
			Steps: []marathon.Step{{Actions: []marathon.Action{{Action: "StartApplication", App: "/ops/worker"}}},
				{Actions: []marathon.Action{{Action: "ScaleApplication", App: "/ops/worker"}}}},
			CurrentActions: []marathon.Action{{Action: "ScaleApplication", App: "/ops/worker"}}, CurrentStep: 2, TotalSteps: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deployments\n%+v\nwant\n%+v", got, want)
	}

	status, _, body = call(t, srv, "op", "DELETE", "/v2/deployments/shop_api.v3", "")
	if status != 200 || !reflect.DeepEqual(body, map[string]any{"version": "2026-03-10T14:00:00.000Z", "deploymentId": "shop_api.v4"}) {
		t.Errorf("cancel: %d %v", status, body)
	}
	status, _, body = call(t, srv, "op", "DELETE", "/v2/deployments/nope", "")
	if status != 404 || body["message"] != "DeploymentPlan nope does not exist" {
		t.Errorf("cancel unknown: %d %v", status, body)
	}
}

func TestV2InfoAndAuth(t *testing.T) {
	f, srv := newV2(t)
	status, _, body := call(t, srv, "view", "GET", "/v2/info", "")
	if status != 200 || body["name"] != "corral" || body["version"] != "0.4.0" || body["leader"] != "corral-1:7700" ||
		get(body, "marathon_config", "local_port_min") != 31000.0 || get(body, "http_config", "http_port") != 7700.0 {
		t.Errorf("info: %d %v", status, body)
	}

	status, _, body = call(t, srv, "view", "GET", "/v2/leader", "")
	if status != 200 || !reflect.DeepEqual(body, map[string]any{"leader": "corral-1:7700"}) {
		t.Errorf("leader: %d %v", status, body)
	}

	tests := []struct {
		token, method, path, body string
		want                      int
	}{
		{"", "GET", "/v2/apps", "", http.StatusUnauthorized},
		{"bad", "GET", "/v2/info", "", http.StatusUnauthorized},
		{"view", "POST", "/v2/apps", `{"id": "/x", "cmd": "sleep 1"}`, http.StatusForbidden},
		{"view", "PUT", "/v2/apps/shop/api", `{"instances": 0}`, http.StatusForbidden},
		{"view", "DELETE", "/v2/apps/shop/api", "", http.StatusForbidden},
		{"view", "POST", "/v2/apps/shop/api/restart", "", http.StatusForbidden},
		{"view", "DELETE", "/v2/deployments/shop_api.v3", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		status, _, _ := call(t, srv, tt.token, tt.method, tt.path, tt.body)
		if status != tt.want {
			t.Errorf("%s %s with %q: %d, want %d", tt.method, tt.path, tt.token, status, tt.want)
		}
	}
	if len(f.puts) != 0 || len(f.calls) != 0 {
		t.Errorf("refused calls reached the cluster: %v %v", f.puts, f.calls)
	}
}

func TestV2AppAction(t *testing.T) {
	tests := []struct{ tail, id, action string }{
		{"shop/api", "/shop/api", ""},
		{"shop/api/", "/shop/api", ""},
		{"shop/api/tasks", "/shop/api", "tasks"},
		{"api/restart", "/api", "restart"},
		{"api/versions", "/api", "versions"},
		{"tasks", "/tasks", ""}, // an app named tasks at the top
		{"", "", ""},
	}
	for _, tt := range tests {
		id, action := v2AppAction(tt.tail)
		if id != tt.id || action != tt.action {
			t.Errorf("v2AppAction(%q) = %q, %q; want %q, %q", tt.tail, id, action, tt.id, tt.action)
		}
	}
}

// The cluster core serves the /v2 API.
var _ marathonBackend = (*Server)(nil)

func TestV2MergeApp(t *testing.T) {
	one := 1
	docker := api.AppSpec{ID: "/shop/web", RunSpec: api.RunSpec{Driver: api.DriverDocker, Image: "shop/web:1", Network: api.NetworkHost,
		Ports: []api.PortSpec{{Name: "http", Port: 8080}}}, Instances: &one}
	bridge := api.AppSpec{ID: "/shop/web", RunSpec: api.RunSpec{Driver: api.DriverDocker, Image: "shop/web:1", Network: api.NetworkBridge,
		Ports: []api.PortSpec{{Name: "http", ContainerPort: 80}}}, Instances: &one}
	exec := api.AppSpec{ID: "/shop/api", RunSpec: api.RunSpec{Cmd: "./api", Fetch: []api.FetchSpec{{URI: "https://example.com/a.tgz"}},
		Ports: []api.PortSpec{{Name: "http"}}}, Instances: &one}
	tests := []struct {
		name  string
		cur   api.AppSpec
		patch string
		check func(s api.AppSpec) bool
	}{
		{"a new image keeps the fixed port", docker, `{"container": {"type": "DOCKER", "docker": {"image": "shop/web:2"}}}`,
			func(s api.AppSpec) bool {
				return s.Image == "shop/web:2" && len(s.Ports) == 1 && s.Ports[0].Port == 8080 && s.Ports[0].Name == "http"
			}},
		{"a switch to bridge drops the port definitions", docker,
			`{"container": {"type": "DOCKER", "docker": {"image": "shop/web:2", "network": "BRIDGE", "portMappings": [{"containerPort": 80, "hostPort": 0}]}}}`,
			func(s api.AppSpec) bool {
				return s.Network == api.NetworkBridge && len(s.Ports) == 1 && s.Ports[0].ContainerPort == 80
			}},
		{"a bridged app scales", bridge, `{"instances": 3}`,
			func(s api.AppSpec) bool {
				return s.Count() == 3 && s.Network == api.NetworkBridge && len(s.Ports) == 1 && s.Ports[0].ContainerPort == 80
			}},
		{"the older ports replace port definitions", exec, `{"ports": [0, 0], "requirePorts": false}`,
			func(s api.AppSpec) bool { return len(s.Ports) == 2 && s.Ports[0].Name == "" }},
		{"the older uris replace fetch", exec, `{"uris": ["https://example.com/b.tgz"]}`,
			func(s api.AppSpec) bool { return len(s.Fetch) == 1 && s.Fetch[0].URI == "https://example.com/b.tgz" }},
		{"null keeps the field", exec, `{"cmd": null, "mem": 64}`,
			func(s api.AppSpec) bool { return s.Cmd == "./api" && s.Mem == 64 && len(s.Fetch) == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := v2Spec(v2MergeApp(tt.cur, []byte(tt.patch)))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(spec) {
				t.Errorf("merged spec %+v", spec)
			}
		})
	}
	if got := string(v2MergeApp(exec, []byte(`[1]`))); got != `[1]` {
		t.Errorf("a body that is not an object is kept: %s", got)
	}
}

func TestV2TasksText(t *testing.T) {
	f, srv := newV2(t)
	f.tasks = shopAPI().Tasks
	worker := api.AppStatus{Spec: api.AppSpec{ID: "/ops/worker", RunSpec: api.RunSpec{Cmd: "./work",
		Ports: []api.PortSpec{{Port: 9000}, {Name: "metrics"}}}}, Version: 1, UpdatedAt: v2Now}
	f.apps["/ops/worker"] = worker
	f.tasks = append(f.tasks, api.Task{ID: "ops_worker.1", Kind: api.TaskKindApp, App: "/ops/worker", Version: 1, Node: "db-1",
		Ports: []int{9000, 31077}, State: api.TaskRunning})
	for _, tt := range []struct{ path, want string }{
		{"/v2/tasks", "ops_worker\t9000\tdb-1:9000\nops_worker\t0\tdb-1:31077\nshop_api\t0\tweb-1:31005\n"},
		{"/v2/apps/shop/api/tasks", "shop_api\t0\tweb-1:31005\n"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer view")
		req.Header.Set("Accept", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != tt.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s as text: %d %q\n%q, want\n%q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.want)
		}
	}
}
