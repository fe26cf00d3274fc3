package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

// dryReport is web-1's answer to a dry run: one file would change.
func dryReport() api.ConvergeReport {
	return api.ConvergeReport{
		ID: "web-1-100", Node: "web-1", Trigger: "manual", Nonce: "n1", DryRun: true,
		Started: testNow, Duration: 42 * time.Millisecond,
		Resources: []api.ResourceResult{{Type: "file", Name: "/etc/motd", Status: api.StatusChanged,
			Diff: "--- /etc/motd\n+++ /etc/motd (new)\n@@ -1 +1 @@\n-hello\n+Managed by corral\n", Duration: 3 * time.Millisecond}},
		Totals: api.ConvergeTotals{Changed: 1, UpToDate: 4},
	}
}

func TestConvergeDryRunWaits(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/converge", 202, api.ConvergeTriggered{Nonce: "n1", Nodes: []string{"web-1"}})
	var queries []url.Values
	n := 0
	f.answers["GET /api/v1/reports"] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		queries = append(queries, r.URL.Query())
		n++
		var rs []api.ConvergeReport
		if n > 1 { // the node reports on the second poll
			rs = []api.ConvergeReport{dryReport()}
		}
		json.NewEncoder(w).Encode(rs)
	}

	r := runCLI(t, "", nil, "converge", "--dry-run", "--node", "web-1", "--poll-interval", "1ms", "--addr", srv.URL)
	var text strings.Builder
	rep := dryReport()
	if err := rep.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	want := "dry run requested on 1 node(s) (nonce n1): web-1\n" + text.String() + "\n" +
		"dry run: 1 of 1 node(s) reported: 1 would change, 0 up to date, 0 failed\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d\n%s\nwant\n%s\nstderr %q", r.code, r.stdout, want, r.stderr)
	}
	if !strings.Contains(r.stdout, "      +Managed by corral\n") {
		t.Errorf("the diff is not printed:\n%s", r.stdout)
	}
	var trig api.ConvergeTrigger
	if err := json.Unmarshal(f.bodies["POST /api/v1/converge"], &trig); err != nil || trig != (api.ConvergeTrigger{Node: "web-1", DryRun: true}) {
		t.Errorf("trigger %+v (%v), body %s", trig, err, f.bodies["POST /api/v1/converge"])
	}
	if len(queries) != 2 || queries[0].Get("nonce") != "n1" || queries[1].Get("nonce") != "n1" {
		t.Errorf("report queries %v", queries)
	}
}

func TestConvergeFailedAndMissing(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/converge", 202, api.ConvergeTriggered{Nonce: "n2", Nodes: []string{"web-1", "web-2", "web-3"}})
	ok := api.ConvergeReport{ID: "web-1-7", Node: "web-1", Nonce: "n2", Started: testNow, Totals: api.ConvergeTotals{UpToDate: 5}}
	bad := api.ConvergeReport{ID: "web-2-7", Node: "web-2", Nonce: "n2", Started: testNow,
		Resources: []api.ResourceResult{{Type: "template", Name: "/etc/nginx/nginx.conf", Status: api.StatusFailed, Error: "nginx.conf.tmpl:3: map has no entry for key \"port\""}},
		Totals:    api.ConvergeTotals{UpToDate: 2, Failed: 1, Skipped: 2}, Error: "template[/etc/nginx/nginx.conf] failed"}
	// A report of another node with the same nonce is not one of ours.
	stray := api.ConvergeReport{ID: "db-1-7", Node: "db-1", Nonce: "n2"}
	f.json("GET /api/v1/reports", 200, []api.ConvergeReport{bad, stray, ok})

	r := runCLI(t, "", nil, "converge", "--now", "--selector", "role=web", "--wait", "30ms", "--poll-interval", "1ms", "--addr", srv.URL)
	var okText, badText strings.Builder
	ok.WriteText(&okText, false)
	bad.WriteText(&badText, false)
	want := "converge requested on 3 node(s) (nonce n2): web-1, web-2, web-3\n" + okText.String() + "\n" + badText.String() + "\n" +
		"converge: 2 of 3 node(s) reported: 0 changed, 1 up to date, 1 failed (web-2); no report within 30ms from web-3\n"
	if r.code != 1 || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d\n%s\nwant\n%s\nstderr %q", r.code, r.stdout, want, r.stderr)
	}
	if got := string(f.bodies["POST /api/v1/converge"]); got != `{"selector":"role=web"}` {
		t.Errorf("trigger body %s", got)
	}

	// -o json: the reports and the missing nodes on stdout, progress on stderr.
	r = runCLI(t, "", nil, "converge", "--now", "--wait", "30ms", "--poll-interval", "1ms", "-o", "json", "--addr", srv.URL)
	var got convergeRun
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if r.code != 1 || got.Nonce != "n2" || len(got.Reports) != 2 || !reflect.DeepEqual(got.Missing, []string{"web-3"}) {
		t.Errorf("exit %d, %+v", r.code, got)
	}
	wantErr := "converge requested on 3 node(s) (nonce n2): web-1, web-2, web-3\nweb-1: up to date\nweb-2: failed: template[/etc/nginx/nginx.conf] failed\n"
	if r.stderr != wantErr {
		t.Errorf("stderr %q, want %q", r.stderr, wantErr)
	}
	if got := string(f.bodies["POST /api/v1/converge"]); got != `{}` {
		t.Errorf("every node: trigger body %s", got)
	}
}

func TestConvergeNoWait(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/converge", 202, api.ConvergeTriggered{Nonce: "n3", Nodes: []string{"a", "b"}})
	r := runCLI(t, "", nil, "converge", "--now", "--wait", "0", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "converge requested on 2 node(s) (nonce n3): a, b\n" {
		t.Errorf("exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", nil, "converge", "--now", "--wait", "0", "-o", "json", "--addr", srv.URL)
	var got api.ConvergeTriggered
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Nonce != "n3" || len(got.Nodes) != 2 {
		t.Errorf("-o json: %q %v", r.stdout, err)
	}
	for _, s := range f.seen {
		if s == "GET /api/v1/reports" {
			t.Errorf("--wait 0 asked for reports: %v", f.seen)
		}
	}
}

func TestConvergeUsageAndErrors(t *testing.T) {
	f, srv := newFakeAPI(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither now nor dry run", []string{"converge"}, "Error: give --now to converge the nodes, or --dry-run to see what converging would change\nRun 'corral converge --help' for usage.\n"},
		{"node and selector", []string{"converge", "--now", "--node", "a", "--selector", "x=y"}, "Run 'corral converge --help' for usage.\n"},
		{"an argument", []string{"converge", "--now", "web-1"}, "Error: converge takes no arguments (got \"web-1\"): select nodes with --node or --selector\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", nil, append(tt.args, "--addr", srv.URL)...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q, want it to contain %q", r.code, r.stderr, tt.want)
			}
		})
	}
	if len(f.seen) != 0 {
		t.Errorf("usage errors sent requests: %v", f.seen)
	}

	checkAPIError(t, f, srv, "POST /api/v1/converge", 404, `node "nope" not found`, "converge", "--now", "--node", "nope")
	checkAPIError(t, f, srv, "POST /api/v1/converge", 400, `selector "role": want key=value`, "converge", "--now", "--selector", "role")

	f.json("POST /api/v1/converge", 202, api.ConvergeTriggered{Nonce: "n4", Nodes: []string{}})
	r := runCLI(t, "", nil, "converge", "--dry-run", "--selector", "role=nope", "--addr", srv.URL)
	if want := "Error: no node to converge: no node's labels match role=nope\n"; r.code != 1 || r.stderr != want {
		t.Errorf("no nodes: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

func TestReportLsShow(t *testing.T) {
	f, srv := newFakeAPI(t)
	bad := api.ConvergeReport{ID: "web-2-7", Node: "web-2", Trigger: "interval", Started: testNow, Duration: 2345 * time.Millisecond,
		Totals: api.ConvergeTotals{UpToDate: 2, Failed: 1, Skipped: 2}, Error: "package[nginx] failed\nexit status 100"}
	dry := dryReport()
	var queries []url.Values
	answerQuery(f, "GET /api/v1/reports", []api.ConvergeReport{bad, dry}, &queries)

	r := runCLI(t, "", nil, "report", "ls", "--node", "web-2", "--failed", "-n", "5", "--addr", srv.URL)
	want := [][]string{
		{"ID", "NODE", "STARTED", "TRIGGER", "DRY", "CHANGED/UP-TO-DATE/FAILED/SKIPPED", "DURATION", "ERROR"},
		append(append([]string{"web-2-7", "web-2"}, strings.Fields(stamp(testNow))...), "interval", "-", "0/2/1/2", "2.3s", "package[nginx]", "failed"),
		append(append([]string{"web-1-100", "web-1"}, strings.Fields(stamp(testNow))...), "manual", "yes", "1/4/0/0", "42ms", "-"),
	}
	if got := lines(r.stdout); r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("report ls: exit %d\n%s\ngot  %q\nwant %q\n%s", r.code, r.stdout, got, want, r.stderr)
	}
	wantQ := url.Values{"node": {"web-2"}, "status": {"failed"}, "limit": {"5"}}
	if len(queries) != 1 || !reflect.DeepEqual(queries[0], wantQ) {
		t.Errorf("query %v, want %v", queries, wantQ)
	}
	r = runCLI(t, "", nil, "report", "ls", "--changed", "--nonce", "n1", "--addr", srv.URL)
	wantQ = url.Values{"status": {"changed"}, "nonce": {"n1"}, "limit": {"50"}}
	if r.code != 0 || len(queries) != 2 || !reflect.DeepEqual(queries[1], wantQ) {
		t.Errorf("exit %d, query %v, want %v", r.code, queries, wantQ)
	}
	r = runCLI(t, "", nil, "report", "ls", "--changed", "--failed", "--addr", srv.URL)
	if r.code != 1 || len(queries) != 2 {
		t.Errorf("--changed --failed: exit %d, %d queries", r.code, len(queries))
	}

	full := dry
	full.Roles, full.CatalogHash = []string{"base", "web"}, "c0ffee"
	full.Resources = append(full.Resources, api.ResourceResult{Type: "package", Name: "curl", Status: api.StatusUpToDate, Duration: time.Millisecond})
	f.json("GET /api/v1/reports/web-1-100", 200, full)
	for _, verbose := range []bool{false, true} {
		args := []string{"report", "show", "web-1-100", "--addr", srv.URL}
		if verbose {
			args = append(args, "-v")
		}
		r = runCLI(t, "", nil, args...)
		var text strings.Builder
		full.WriteText(&text, verbose)
		want := "report web-1-100: trigger manual; roles base, web; nonce n1; catalog c0ffee\n" + text.String()
		if r.code != 0 || r.stdout != want {
			t.Errorf("show (verbose %v): exit %d\n%s\nwant\n%s", verbose, r.code, r.stdout, want)
		}
		if got := strings.Contains(r.stdout, "package[curl]"); got != verbose {
			t.Errorf("show (verbose %v) lists the up-to-date package: %v", verbose, got)
		}
	}
	r = runCLI(t, "", nil, "report", "show", "web-1-100", "-o", "json", "--addr", srv.URL)
	var got api.ConvergeReport
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || !reflect.DeepEqual(got, full) {
		t.Errorf("-o json: %v\n%s", err, r.stdout)
	}
	checkAPIError(t, f, srv, "GET /api/v1/reports/nope", 404, `report "nope" not found`, "report", "show", "nope")
}

func TestNodeRoles(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("GET /api/v1/nodes/web-1/roles", 200, api.NodeRolesView{
		Node: "web-1", Roles: []string{"base", "web"}, Environment: "production",
		Attributes: map[string]any{"ntp_server": "pool.ntp.org", "log_level": "warn", "nginx": map[string]any{"workers": 4}},
		MatchedBy:  []string{"role.web"}, Resources: 9, Secrets: []string{"db-password"}, CatalogHash: "c0ffee",
		Errors: []string{`role "db" does not exist`},
	})
	f.json("GET /api/v1/nodes/db-1/roles", 200, api.NodeRolesView{Node: "db-1"})

	// Labels are padded to one column; the YAML keeps its indentation.
	unpad := func(s string) string { return regexp.MustCompile(`(?m)^(\S[^:\n]*:) +`).ReplaceAllString(s, "$1 ") }
	r := runCLI(t, "", nil, "node", "roles", "web-1", "--addr", srv.URL)
	want := "Node: web-1\nRun list: base, web\nEnvironment: production\nMatched by: role.web\nResources: 9\n" +
		"Secrets used: db-password\nCatalog: c0ffee\nAttributes:\n  log_level: warn\n  nginx:\n    workers: 4\n  ntp_server: pool.ntp.org\n" +
		"Errors:\n  role \"db\" does not exist\n"
	if r.code != 0 || unpad(r.stdout) != want {
		t.Errorf("exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	r = runCLI(t, "", nil, "node", "roles", "db-1", "--addr", srv.URL)
	want = "Node: db-1\nRun list: (empty: no NodeRoles matches this node)\nEnvironment: (none)\nMatched by: -\nResources: 0\n" +
		"Secrets used: -\nCatalog: -\nAttributes:\n  (none)\n"
	if r.code != 0 || unpad(r.stdout) != want {
		t.Errorf("exit %d\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	r = runCLI(t, "", nil, "node", "roles", "web-1", "-o", "yaml", "--addr", srv.URL)
	for _, w := range []string{"roles:\n  - base\n  - web\n", "matched_by:\n  - role.web\n"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("-o yaml lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestRoleHistoryDiffRollback(t *testing.T) {
	f, srv := newFakeAPI(t)
	at := testNow.Add(-time.Hour)
	f.json("GET /api/v1/resources/Role/web/versions", 200, []api.ResourceVersion{
		{Version: 3, CreatedAt: testNow, By: "alice", Cause: "rollback to 1"},
		{Version: 2, CreatedAt: at, By: "bob"},
		{Version: 1, CreatedAt: at},
	})
	v1 := map[string]any{"name": "web", "resources": []any{map[string]any{"package": map[string]any{"name": "nginx"}}}}
	v2 := map[string]any{"name": "web", "attributes": map[string]any{"port": 8080},
		"resources": []any{
			map[string]any{"package": map[string]any{"name": "nginx"}},
			map[string]any{"template": map[string]any{"path": "/etc/nginx/nginx.conf", "source": "nginx.conf.tmpl"}},
		},
		"files": map[string]any{"nginx.conf.tmpl": "worker_processes 4;\nlisten {{ .Attributes.port }};\n"}}
	f.json("GET /api/v1/resources/Role/web/versions/1", 200, api.ResourceVersion{Version: 1, Spec: v1})
	f.json("GET /api/v1/resources/Role/web/versions/2", 200, api.ResourceVersion{Version: 2, Spec: v2})
	f.json("GET /api/v1/resources/Role/web/versions/3", 200, api.ResourceVersion{Version: 3, Spec: v1})

	r := runCLI(t, "", nil, "role", "history", "web", "--addr", srv.URL)
	want := [][]string{
		{"VERSION", "CREATED", "BY", "CAUSE"},
		append(append([]string{"3", "(current)"}, strings.Fields(stamp(testNow))...), "alice", "rollback", "to", "1"),
		append(append([]string{"2"}, strings.Fields(stamp(at))...), "bob", "apply"),
		append(append([]string{"1"}, strings.Fields(stamp(at))...), "-", "apply"),
	}
	if got := lines(r.stdout); r.code != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("history: exit %d\ngot  %q\nwant %q", r.code, got, want)
	}

	// Default: the previous version against the current one (2 → 3).
	r = runCLI(t, "", nil, "role", "diff", "web", "--addr", srv.URL)
	wantDiff := `--- role/web version 2
+++ role/web version 3
@@ -1,13 +1,4 @@
-attributes:
-  port: 8080
-files:
-  nginx.conf.tmpl: |
-    worker_processes 4;
-    listen {{ .Attributes.port }};
 name: web
 resources:
   - package:
       name: nginx
-  - template:
-      path: /etc/nginx/nginx.conf
-      source: nginx.conf.tmpl
`
	if r.code != 0 || r.stdout != wantDiff {
		t.Errorf("diff: exit %d\n%s\nwant\n%s\nstderr %s", r.code, r.stdout, wantDiff, r.stderr)
	}
	// A only: A against the current one.
	r = runCLI(t, "", nil, "role", "diff", "web", "1", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "versions 1 and 3 of role web are the same\n" {
		t.Errorf("diff 1: exit %d %q", r.code, r.stdout)
	}
	// A and B: no need for the list.
	seen := len(f.seen)
	r = runCLI(t, "", nil, "role", "diff", "web", "1", "2", "-o", "json", "--addr", srv.URL)
	var d roleDiff
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.From != 1 || d.To != 2 || !strings.Contains(d.Diff, "+    listen {{ .Attributes.port }};\n") {
		t.Errorf("diff 1 2 -o json: %v %+v", err, d)
	}
	if got := f.seen[seen:]; !reflect.DeepEqual(got, []string{"GET /api/v1/resources/Role/web/versions/1", "GET /api/v1/resources/Role/web/versions/2"}) {
		t.Errorf("diff 1 2 asked %v", got)
	}
	r = runCLI(t, "", nil, "role", "diff", "web", "x", "--addr", srv.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "versions are numbers from 1") {
		t.Errorf("diff x: exit %d %q", r.code, r.stderr)
	}

	f.json("GET /api/v1/resources/Role/new/versions", 200, []api.ResourceVersion{{Version: 1}})
	r = runCLI(t, "", nil, "role", "diff", "new", "--addr", srv.URL)
	if want := "Error: role new has only version 1: nothing to compare it with\n"; r.code != 1 || r.stderr != want {
		t.Errorf("diff of a new role: exit %d %q", r.code, r.stderr)
	}

	// show: the current version (3, the same spec as 1) as a document to apply.
	r = runCLI(t, "", nil, "role", "show", "web", "--addr", srv.URL)
	wantDoc := "# role web version 3, stored " + stamp(time.Time{}) + " by - (apply)\n" +
		"kind: Role\nname: web\nresources:\n  - package:\n      name: nginx\n"
	if r.code != 0 || r.stdout != wantDoc {
		t.Errorf("show: exit %d\n%s\nwant\n%s\n%s", r.code, r.stdout, wantDoc, r.stderr)
	}
	r = runCLI(t, "", nil, "role", "show", "web", "2", "-o", "json", "--addr", srv.URL)
	var v api.ResourceVersion
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != 2 || v.Spec["files"] == nil {
		t.Errorf("show 2 -o json: %v %+v", err, v)
	}

	f.json("POST /api/v1/resources/Role/web/rollback", 200, api.ResourceVersion{Version: 4, CreatedAt: testNow, Cause: "rollback to 2"})
	r = runCLI(t, "", nil, "role", "rollback", "web", "--to", "2", "--addr", srv.URL)
	if r.code != 0 || r.stdout != "role web is now version 4 (rollback to 2)\n" || string(f.bodies["POST /api/v1/resources/Role/web/rollback"]) != `{"version":2}` {
		t.Errorf("rollback: exit %d %q, body %s", r.code, r.stdout, f.bodies["POST /api/v1/resources/Role/web/rollback"])
	}
	r = runCLI(t, "", nil, "role", "rollback", "web", "--addr", srv.URL)
	if r.code != 0 || string(f.bodies["POST /api/v1/resources/Role/web/rollback"]) != `{}` {
		t.Errorf("rollback to the previous: exit %d, body %s", r.code, f.bodies["POST /api/v1/resources/Role/web/rollback"])
	}
	checkAPIError(t, f, srv, "GET /api/v1/resources/Role/nope/versions", 404, `role "nope" not found`, "role", "history", "nope")
}

// TestConvergeWaitPages waits for more nodes than the server gives
// reports in one answer: the command pages back with before.
func TestConvergeWaitPages(t *testing.T) {
	f, srv := newFakeAPI(t)
	var nodes []string
	var all []api.ConvergeReport // newest first
	for i := range 120 {
		n := fmt.Sprintf("n%03d", i)
		nodes = append(nodes, n)
		all = append(all, api.ConvergeReport{ID: n + "-1", Node: n, Nonce: "n5", Started: testNow, Totals: api.ConvergeTotals{UpToDate: 1}})
	}
	f.json("POST /api/v1/converge", 202, api.ConvergeTriggered{Nonce: "n5", Nodes: nodes})
	var queries []url.Values
	f.answers["GET /api/v1/reports"] = func(w http.ResponseWriter, r *http.Request, body []byte) {
		q := r.URL.Query()
		queries = append(queries, q)
		from := 0
		if b := q.Get("before"); b != "" {
			from = slices.IndexFunc(all, func(x api.ConvergeReport) bool { return x.ID == b }) + 1
		}
		json.NewEncoder(w).Encode(all[from:min(from+100, len(all))]) // this server gives at most 100
	}
	r := runCLI(t, "", nil, "converge", "--now", "--poll-interval", "1ms", "-o", "json", "--addr", srv.URL)
	var got convergeRun
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if r.code != 0 || len(got.Reports) != 120 || len(got.Missing) != 0 {
		t.Errorf("exit %d, %d reports, missing %v (stderr %q)", r.code, len(got.Reports), got.Missing, r.stderr)
	}
	want := []url.Values{{"nonce": {"n5"}, "limit": {"500"}}, {"nonce": {"n5"}, "limit": {"500"}, "before": {"n099-1"}}}
	if !reflect.DeepEqual(queries, want) {
		t.Errorf("queries %v, want %v", queries, want)
	}
}
