package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"corral/internal/api"
)

// recorded is one request the test server saw.
type recorded struct {
	method, path, query, body string
}

func clusterServer(t *testing.T, status int, answer string) (*Client, *[]recorded) {
	t.Helper()
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

func TestClusterRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		answer string
		call   func(c *Client) (any, error)
		want   recorded
		result any
	}{
		{
			name:   "apps",
			answer: `[{"spec":{"id":"/shop/api"},"version":3,"instances":2}]`,
			call:   func(c *Client) (any, error) { return c.Apps(ctx) },
			want:   recorded{method: "GET", path: "/api/v1/apps"},
			result: []api.AppStatus{{Spec: api.AppSpec{ID: "/shop/api"}, Version: 3, Instances: 2}},
		},
		{
			name:   "app id is the path tail, segments escaped",
			answer: `{"spec":{"id":"/shop/api"},"version":3}`,
			call:   func(c *Client) (any, error) { return c.App(ctx, "/shop/my api") },
			want:   recorded{method: "GET", path: "/api/v1/apps/shop/my%20api"},
			result: api.AppStatus{Spec: api.AppSpec{ID: "/shop/api"}, Version: 3},
		},
		{
			name:   "app tasks",
			answer: `[{"id":"shop_api.1","state":"running"}]`,
			call:   func(c *Client) (any, error) { return c.AppTasks(ctx, "/shop/api") },
			want:   recorded{method: "GET", path: "/api/v1/apps/shop/api/tasks"},
			result: []api.Task{{ID: "shop_api.1", State: "running"}},
		},
		{
			name:   "app versions",
			answer: `[{"version":2},{"version":1}]`,
			call:   func(c *Client) (any, error) { return c.AppVersions(ctx, "shop/api") },
			want:   recorded{method: "GET", path: "/api/v1/apps/shop/api/versions"},
			result: []api.AppVersion{{Version: 2}, {Version: 1}},
		},
		{
			name:   "scale",
			answer: `{"id":"shop_api.v4","kind":"scale","version":4}`,
			call:   func(c *Client) (any, error) { return c.ScaleApp(ctx, "/shop/api", 5) },
			want:   recorded{method: "POST", path: "/api/v1/apps/shop/api/scale", body: `{"instances":5}`},
			result: api.Deployment{ID: "shop_api.v4", Kind: "scale", Version: 4},
		},
		{
			name:   "scale to zero sends zero",
			answer: `{"id":"shop_api.v5"}`,
			call:   func(c *Client) (any, error) { return c.ScaleApp(ctx, "/shop/api", 0) },
			want:   recorded{method: "POST", path: "/api/v1/apps/shop/api/scale", body: `{"instances":0}`},
			result: api.Deployment{ID: "shop_api.v5"},
		},
		{
			name:   "restart",
			answer: `{"id":"shop_api.v3.r1","kind":"restart"}`,
			call:   func(c *Client) (any, error) { return c.RestartApp(ctx, "/shop/api") },
			want:   recorded{method: "POST", path: "/api/v1/apps/shop/api/restart"},
			result: api.Deployment{ID: "shop_api.v3.r1", Kind: "restart"},
		},
		{
			name:   "rollback to the previous",
			answer: `{"id":"shop_api.v6"}`,
			call:   func(c *Client) (any, error) { return c.RollbackApp(ctx, "/shop/api", 0) },
			want:   recorded{method: "POST", path: "/api/v1/apps/shop/api/rollback", body: `{}`},
			result: api.Deployment{ID: "shop_api.v6"},
		},
		{
			name:   "rollback to a version",
			answer: `{"id":"shop_api.v7"}`,
			call:   func(c *Client) (any, error) { return c.RollbackApp(ctx, "/shop/api", 2) },
			want:   recorded{method: "POST", path: "/api/v1/apps/shop/api/rollback", body: `{"version":2}`},
			result: api.Deployment{ID: "shop_api.v7"},
		},
		{
			name:   "tasks filtered",
			answer: `[]`,
			call:   func(c *Client) (any, error) { return c.Tasks(ctx, TaskQuery{App: "/shop/api", State: "running"}) },
			want:   recorded{method: "GET", path: "/api/v1/tasks", query: "app=%2Fshop%2Fapi&state=running"},
			result: []api.Task{},
		},
		{
			name:   "deployments, all of one app",
			answer: `[{"id":"shop_api.v2","state":"succeeded"}]`,
			call: func(c *Client) (any, error) {
				return c.Deployments(ctx, DeploymentQuery{App: "/shop/api", All: true, Limit: 20})
			},
			want:   recorded{method: "GET", path: "/api/v1/deployments", query: "all=true&app=%2Fshop%2Fapi&limit=20"},
			result: []api.Deployment{{ID: "shop_api.v2", State: "succeeded"}},
		},
		{
			name:   "deployment",
			answer: `{"id":"shop_api.v3.r1","state":"running","waiting":"needs 128 MiB"}`,
			call:   func(c *Client) (any, error) { return c.Deployment(ctx, "shop_api.v3.r1") },
			want:   recorded{method: "GET", path: "/api/v1/deployments/shop_api.v3.r1"},
			result: api.Deployment{ID: "shop_api.v3.r1", State: "running", Waiting: "needs 128 MiB"},
		},
		{
			name:   "cancel deployment",
			answer: `{"id":"shop_api.v4","kind":"rollback"}`,
			call:   func(c *Client) (any, error) { return c.CancelDeployment(ctx, "shop_api.v3") },
			want:   recorded{method: "DELETE", path: "/api/v1/deployments/shop_api.v3"},
			result: api.Deployment{ID: "shop_api.v4", Kind: "rollback"},
		},
		{
			name:   "jobs",
			answer: `[{"spec":{"id":"/ops/backup","schedule":"0 3 * * *"},"version":1}]`,
			call:   func(c *Client) (any, error) { return c.Jobs(ctx) },
			want:   recorded{method: "GET", path: "/api/v1/jobs"},
			result: []api.JobStatus{{Spec: api.JobSpec{ID: "/ops/backup", Schedule: "0 3 * * *"}, Version: 1}},
		},
		{
			name:   "job",
			answer: `{"spec":{"id":"/ops/backup"},"version":2}`,
			call:   func(c *Client) (any, error) { return c.Job(ctx, "/ops/backup") },
			want:   recorded{method: "GET", path: "/api/v1/jobs/ops/backup"},
			result: api.JobStatus{Spec: api.JobSpec{ID: "/ops/backup"}, Version: 2},
		},
		{
			name:   "run job",
			answer: `{"id":"r1","job":"/ops/backup","state":"active","manual":true}`,
			call:   func(c *Client) (any, error) { return c.RunJob(ctx, "/ops/backup") },
			want:   recorded{method: "POST", path: "/api/v1/jobs/ops/backup/run"},
			result: api.JobRun{ID: "r1", Job: "/ops/backup", State: "active", Manual: true},
		},
		{
			name:   "job runs",
			answer: `[{"id":"r2"},{"id":"r1"}]`,
			call:   func(c *Client) (any, error) { return c.JobRuns(ctx, "/ops/backup", 5) },
			want:   recorded{method: "GET", path: "/api/v1/jobs/ops/backup/runs", query: "limit=5"},
			result: []api.JobRun{{ID: "r2"}, {ID: "r1"}},
		},
		{
			name:   "logs",
			answer: `[{"time":"2026-03-10T12:00:00Z","message":"hello"}]`,
			call: func(c *Client) (any, error) {
				return c.Logs(ctx, LogQuery{App: "/shop/api", Task: "shop_api.1", Since: "10m", Limit: 50})
			},
			want:   recorded{method: "GET", path: "/api/v1/logs", query: "app=%2Fshop%2Fapi&limit=50&since=10m&task=shop_api.1"},
			result: []api.LogEntry{{Time: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), Message: "hello"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := clusterServer(t, 200, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 1 {
				t.Fatalf("%d requests, want 1", len(*seen))
			}
			if (*seen)[0] != tt.want {
				t.Errorf("request %+v, want %+v", (*seen)[0], tt.want)
			}
			if !reflect.DeepEqual(got, tt.result) {
				t.Errorf("result %+v, want %+v", got, tt.result)
			}
		})
	}
}

func TestClusterDeletes(t *testing.T) {
	ctx := context.Background()
	c, seen := clusterServer(t, 204, "")
	if err := c.DeleteApp(ctx, "/shop/api"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteJob(ctx, "/ops/backup"); err != nil {
		t.Fatal(err)
	}
	want := []recorded{{method: "DELETE", path: "/api/v1/apps/shop/api"}, {method: "DELETE", path: "/api/v1/jobs/ops/backup"}}
	if !reflect.DeepEqual(*seen, want) {
		t.Errorf("requests %+v, want %+v", *seen, want)
	}
}

func TestClusterNotFound(t *testing.T) {
	c, _ := clusterServer(t, 404, `{"error":"app \"/x\" not found"}`)
	_, err := c.App(context.Background(), "/x")
	if api.StatusOf(err) != 404 || err.Error() != `app "/x" not found` {
		t.Errorf("err %v (status %d)", err, api.StatusOf(err))
	}
}

func TestFollowLogs(t *testing.T) {
	entries := []api.LogEntry{
		{Time: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), App: "/shop/api", Task: "shop_api.1", Stream: "stdout", Message: "listening on :8080"},
		{Time: time.Date(2026, 3, 10, 12, 0, 1, 0, time.UTC), App: "/shop/api", Task: "shop_api.1", Stream: "stderr", Message: "GET /health 200"},
	}
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": connected\n\n")
		for _, e := range entries {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	var got []api.LogEntry
	err = c.FollowLogs(context.Background(), LogQuery{App: "/shop/api", Limit: 10}, func(e api.LogEntry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Errorf("got %+v\nwant %+v", got, entries)
	}
	if query != "app=%2Fshop%2Fapi&follow=true&limit=10" {
		t.Errorf("query %q", query)
	}

	// fn's error stops the stream and is returned.
	stop := errors.New("enough")
	n := 0
	err = c.FollowLogs(context.Background(), LogQuery{}, func(api.LogEntry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d entries, want %v after 1", err, n, stop)
	}
}
