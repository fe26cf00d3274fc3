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

func TestDeploymentLsShow(t *testing.T) {
	f, srv := newFakeAPI(t)
	ds := []api.Deployment{
		{ID: "shop_api.v5", App: "/shop/api", Kind: api.DeployUpgrade, Version: 5, FromVersion: 4, State: api.DeploymentRunning,
			Instances: 3, Started: testNow.Add(-4 * time.Minute), Progress: api.DeploymentProgress{New: 2, Healthy: 1, Old: 2},
			Waiting: "dependency /shop/db is not healthy", By: "user:alice"},
		{ID: "shop_api.v4", App: "/shop/api", Kind: api.DeployScale, Version: 4, FromVersion: 3, State: api.DeploymentSucceeded,
			Instances: 3, Started: testNow.Add(-2 * time.Hour), Finished: testNow.Add(-2*time.Hour + 45*time.Second),
			Progress: api.DeploymentProgress{New: 3, Healthy: 3}},
	}
	var queries []url.Values
	answerQuery(f, "GET /api/v1/deployments", ds, &queries)
	f.json("GET /api/v1/deployments/shop_api.v5", 200, ds[0])
	f.json("GET /api/v1/deployments/shop_api.v4", 200, ds[1])

	r := runCLI(t, "", nil, "deployment", "ls", "--all", "--app", "/shop/api", "--addr", srv.URL)
	want := [][]string{
		{"ID", "APP", "KIND", "VERSION", "STATE", "PROGRESS", "STARTED", "WAITING"},
		{"shop_api.v5", "/shop/api", "upgrade", "v4", "→", "v5", "running", "1/3", "healthy,", "1", "starting,", "2", "old", "4m", "ago",
			"dependency", "/shop/db", "is", "not", "healthy"},
		{"shop_api.v4", "/shop/api", "scale", "v3", "→", "v4", "succeeded", "3/3", "healthy", "2h", "ago", "-"},
	}
	if got := lines(r.stdout); r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("deployment ls: exit %d\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	wantQ := url.Values{"all": {"true"}, "app": {"/shop/api"}}
	if len(queries) != 1 || !reflect.DeepEqual(queries[0], wantQ) {
		t.Errorf("query %v, want %v", queries, wantQ)
	}

	r = runCLI(t, "", nil, "deployment", "show", "shop_api.v5", "--addr", srv.URL)
	for _, w := range []string{"ID: shop_api.v5\n", "Kind: upgrade v4 → v5\n", "State: running\n", "Started: ", "(4m ago)\n",
		"Progress: 1/3 healthy, 1 starting, 2 old (target 3 instances)\n", "Waiting: dependency /shop/db is not healthy\n", "By: user:alice\n"} {
		if !strings.Contains(squash(r.stdout), w) {
			t.Errorf("show lacks %q:\n%s", w, r.stdout)
		}
	}
	r = runCLI(t, "", nil, "deployment", "show", "shop_api.v4", "--addr", srv.URL)
	if !strings.Contains(squash(r.stdout), "(took 45s)") || strings.Contains(r.stdout, "Waiting") {
		t.Errorf("show finished:\n%s", r.stdout)
	}
	r = runCLI(t, "", nil, "deployment", "show", "shop_api.v4", "-o", "json", "--addr", srv.URL)
	var d api.Deployment
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || !reflect.DeepEqual(d, ds[1]) {
		t.Errorf("-o json: %v\n%s", err, r.stdout)
	}
}

func TestDeploymentCancel(t *testing.T) {
	f, srv := newFakeAPI(t)
	rollback := api.Deployment{ID: "shop_api.v6", App: "/shop/api", Kind: api.DeployRollback, Version: 6, FromVersion: 5,
		State: api.DeploymentRunning, Instances: 3, Started: testNow}
	f.json("DELETE /api/v1/deployments/shop_api.v5", 200, rollback)
	canceled := rollback
	canceled.State, canceled.Finished = api.DeploymentCanceled, testNow.Add(5*time.Second)
	answerSeq(f, "GET /api/v1/deployments/shop_api.v6", rollback, canceled)

	r := runCLI(t, "", nil, "deployment", "cancel", "shop_api.v5", "--addr", srv.URL)
	want := "deployment shop_api.v5 canceled; /shop/api rolls back: deployment shop_api.v6 started (rollback v5 → v6)\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("cancel: exit %d %q, want %q", r.code, r.stdout, want)
	}

	// --wait follows the rollback; one that is canceled in turn exits 1.
	r = runCLI(t, "", nil, "deployment", "cancel", "shop_api.v5", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	want += "  0/3 healthy\ndeployment shop_api.v6 canceled after 5s\n"
	if r.code != 1 || r.stdout != want || !strings.Contains(r.stderr, "Error: deployment shop_api.v6 was canceled") {
		t.Errorf("cancel --wait: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, want, r.stderr)
	}

	checkAPIError(t, f, srv, "DELETE /api/v1/deployments/nope", 404, `deployment "nope" not found`, "deployment", "cancel", "nope")
}

func TestDeploymentWaitUnknown(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/apps/shop/api/restart", 200, api.Deployment{ID: "shop_api.v4.r1", App: "/shop/api", Kind: api.DeployRestart, Version: 4, FromVersion: 4})
	f.json("GET /api/v1/deployments/shop_api.v4.r1", 404, api.Error{Message: `deployment "shop_api.v4.r1" does not exist`})

	r := runCLI(t, "", nil, "app", "restart", "/shop/api", "--wait", "--poll-interval", "1ms", "--addr", srv.URL)
	if r.code != 1 || r.stderr != "Error: deployment \"shop_api.v4.r1\" does not exist\n" {
		t.Errorf("exit %d %q", r.code, r.stderr)
	}
	if n := strings.Count(strings.Join(f.seen, "\n"), "GET /api/v1/deployments/shop_api.v4.r1"); n != maxUnknownPolls+1 {
		t.Errorf("polled %d times, want %d", n, maxUnknownPolls+1)
	}
	if strings.Count(r.stdout, "waiting for the scheduler") != 1 {
		t.Errorf("stdout %q", r.stdout)
	}
}
