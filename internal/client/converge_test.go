package client

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"corral/internal/api"
)

func TestConvergeRequests(t *testing.T) {
	ctx := context.Background()
	started := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	dry, real := true, false
	tests := []struct {
		name   string
		answer string
		call   func(c *Client) (any, error)
		want   recorded
		result any
	}{
		{
			name:   "converge one node now",
			answer: `{"nonce":"n1","nodes":["web-1"]}`,
			call:   func(c *Client) (any, error) { return c.Converge(ctx, api.ConvergeTrigger{Node: "web-1"}) },
			want:   recorded{method: "POST", path: "/api/v1/converge", body: `{"node":"web-1"}`},
			result: api.ConvergeTriggered{Nonce: "n1", Nodes: []string{"web-1"}},
		},
		{
			name:   "dry run by selector",
			answer: `{"nonce":"n2","nodes":["web-1","web-2"]}`,
			call: func(c *Client) (any, error) {
				return c.Converge(ctx, api.ConvergeTrigger{Selector: "role=web,env=prod", DryRun: true})
			},
			want:   recorded{method: "POST", path: "/api/v1/converge", body: `{"selector":"role=web,env=prod","dry_run":true}`},
			result: api.ConvergeTriggered{Nonce: "n2", Nodes: []string{"web-1", "web-2"}},
		},
		{
			name:   "every node",
			answer: `{"nonce":"n3","nodes":[]}`,
			call:   func(c *Client) (any, error) { return c.Converge(ctx, api.ConvergeTrigger{}) },
			want:   recorded{method: "POST", path: "/api/v1/converge", body: `{}`},
			result: api.ConvergeTriggered{Nonce: "n3", Nodes: []string{}},
		},
		{
			name:   "reports unfiltered",
			answer: `[{"id":"web-1-2","node":"web-1","started":"2026-03-10T12:00:00Z","duration":1500000000,"resources":[],"totals":{"up_to_date":4,"changed":1,"failed":0,"skipped":0}}]`,
			call:   func(c *Client) (any, error) { return c.Reports(ctx, ReportQuery{}) },
			want:   recorded{method: "GET", path: "/api/v1/reports"},
			result: []api.ConvergeReport{{ID: "web-1-2", Node: "web-1", Started: started, Duration: 1500 * time.Millisecond,
				Resources: []api.ResourceResult{}, Totals: api.ConvergeTotals{UpToDate: 4, Changed: 1}}},
		},
		{
			name:   "reports, every filter",
			answer: `[]`,
			call: func(c *Client) (any, error) {
				return c.Reports(ctx, ReportQuery{Node: "web-1", Nonce: "n1", Status: ReportsFailed, DryRun: &real, Limit: 10, Before: "web-1-9"})
			},
			want:   recorded{method: "GET", path: "/api/v1/reports", query: "before=web-1-9&dry_run=false&limit=10&node=web-1&nonce=n1&status=failed"},
			result: []api.ConvergeReport{},
		},
		{
			name:   "dry-run reports that change",
			answer: `[]`,
			call:   func(c *Client) (any, error) { return c.Reports(ctx, ReportQuery{Status: ReportsChanged, DryRun: &dry}) },
			want:   recorded{method: "GET", path: "/api/v1/reports", query: "dry_run=true&status=changed"},
			result: []api.ConvergeReport{},
		},
		{
			name:   "one report, id escaped",
			answer: `{"id":"web 1-5","error":"file[/etc/motd]: permission denied","resources":[{"type":"file","name":"/etc/motd","status":"failed","duration":0}],"started":"2026-03-10T12:00:00Z","duration":0,"totals":{"up_to_date":0,"changed":0,"failed":1,"skipped":0}}`,
			call:   func(c *Client) (any, error) { return c.Report(ctx, "web 1-5") },
			want:   recorded{method: "GET", path: "/api/v1/reports/web%201-5"},
			result: api.ConvergeReport{ID: "web 1-5", Error: "file[/etc/motd]: permission denied", Started: started,
				Resources: []api.ResourceResult{{Type: "file", Name: "/etc/motd", Status: api.StatusFailed}}, Totals: api.ConvergeTotals{Failed: 1}},
		},
		{
			name:   "node roles",
			answer: `{"node":"web-1","roles":["base","web"],"environment":"production","attributes":{"log_level":"warn"},"matched_by":["role.web"],"resources":9}`,
			call:   func(c *Client) (any, error) { return c.NodeRoles(ctx, "web-1") },
			want:   recorded{method: "GET", path: "/api/v1/nodes/web-1/roles"},
			result: api.NodeRolesView{Node: "web-1", Roles: []string{"base", "web"}, Environment: "production",
				Attributes: map[string]any{"log_level": "warn"}, MatchedBy: []string{"role.web"}, Resources: 9},
		},
		{
			name:   "node catalog",
			answer: `{"node":"web-1","roles":["web"],"resources":[{"role":"web","resource":{"package":{"name":"nginx"}}}],"secrets":{"db-password":7},"hash":"abc"}`,
			call:   func(c *Client) (any, error) { return c.NodeCatalog(ctx, "web-1") },
			want:   recorded{method: "GET", path: "/api/v1/nodes/web-1/catalog"},
			result: api.Catalog{Node: "web-1", Roles: []string{"web"}, Hash: "abc", Secrets: map[string]int64{"db-password": 7},
				Resources: []api.CatalogResource{{Role: "web", Resource: map[string]json.RawMessage{"package": json.RawMessage(`{"name":"nginx"}`)}}}},
		},
		{
			name:   "versions",
			answer: `[{"version":3,"created_at":"2026-03-10T12:00:00Z","by":"alice","cause":"rollback to 1"},{"version":2,"created_at":"2026-03-10T12:00:00Z"}]`,
			call:   func(c *Client) (any, error) { return c.ResourceVersions(ctx, "Role", "web") },
			want:   recorded{method: "GET", path: "/api/v1/resources/Role/web/versions"},
			result: []api.ResourceVersion{{Version: 3, CreatedAt: started, By: "alice", Cause: "rollback to 1"}, {Version: 2, CreatedAt: started}},
		},
		{
			name:   "one version with its spec",
			answer: `{"version":2,"created_at":"2026-03-10T12:00:00Z","spec":{"name":"web","resources":[{"package":{"name":"nginx"}}]}}`,
			call:   func(c *Client) (any, error) { return c.ResourceVersion(ctx, "Role", "web", 2) },
			want:   recorded{method: "GET", path: "/api/v1/resources/Role/web/versions/2"},
			result: api.ResourceVersion{Version: 2, CreatedAt: started, Spec: map[string]any{"name": "web",
				"resources": []any{map[string]any{"package": map[string]any{"name": "nginx"}}}}},
		},
		{
			name:   "rollback to the previous version",
			answer: `{"version":4,"created_at":"2026-03-10T12:00:00Z","cause":"rollback to 2"}`,
			call:   func(c *Client) (any, error) { return c.RollbackResource(ctx, "Role", "web", 0) },
			want:   recorded{method: "POST", path: "/api/v1/resources/Role/web/rollback", body: `{}`},
			result: api.ResourceVersion{Version: 4, CreatedAt: started, Cause: "rollback to 2"},
		},
		{
			name:   "rollback to a version",
			answer: `{"version":5,"created_at":"2026-03-10T12:00:00Z","cause":"rollback to 1"}`,
			call:   func(c *Client) (any, error) { return c.RollbackResource(ctx, "Role", "web", 1) },
			want:   recorded{method: "POST", path: "/api/v1/resources/Role/web/rollback", body: `{"version":1}`},
			result: api.ResourceVersion{Version: 5, CreatedAt: started, Cause: "rollback to 1"},
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

func TestConvergeErrors(t *testing.T) {
	ctx := context.Background()
	c, seen := clusterServer(t, 404, `{"error":"node \"nope\" not found"}`)
	_, err := c.Converge(ctx, api.ConvergeTrigger{Node: "nope"})
	if api.StatusOf(err) != 404 || err.Error() != `node "nope" not found` {
		t.Errorf("converge: err %v (status %d)", err, api.StatusOf(err))
	}
	// A version below 1 is refused without asking the server.
	if _, err := c.ResourceVersion(ctx, "Role", "web", 0); err == nil {
		t.Error("version 0: no error")
	}
	if len(*seen) != 1 {
		t.Errorf("%d requests, want 1 (version 0 must not be asked for)", len(*seen))
	}
}
