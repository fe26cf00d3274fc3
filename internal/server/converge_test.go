package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
	"corral/internal/monitor/event"
	"corral/internal/store"
)

// testServer runs a whole server (embedded etcd, history store, plain HTTP
// on loopback) in a temporary directory.
type testServer struct {
	*Server
	t     testing.TB
	base  string
	token string
}

func startTestServer(t testing.TB) *testServer {
	t.Helper()
	dir := t.TempDir()
	srv, err := New(Config{
		DataDir: dir, HTTPAddr: "127.0.0.1:0", AgentAddr: "127.0.0.1:0", CarbonAddr: "127.0.0.1:0", PickleAddr: "127.0.0.1:0",
		EtcdClientAddr: "127.0.0.1:0", EtcdPeerAddr: "127.0.0.1:0", PlainHTTP: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("server still stopping 30s after its context ended; goroutines:\n%s", b.String())
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server not ready after 60s")
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{Server: srv, t: t, base: "http://" + srv.Addrs().HTTP, token: strings.TrimSpace(string(tok))}
}

// do sends a JSON request and decodes a JSON answer into out (when not
// nil); it returns the status and the raw body.
func (ts *testServer) do(method, path string, body, out any) (int, string) {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ts.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+ts.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			ts.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// agent calls an agent-channel handler as node.
func (ts *testServer) agent(h agentFunc, node string, body any) (int, string) {
	ts.t.Helper()
	b, _ := json.Marshal(body)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/agent/v1/x", bytes.NewReader(b))
	if err := h(rec, req, node); err != nil {
		ae, ok := mapStoreError(err).(*api.Error)
		if !ok {
			ts.t.Fatalf("agent handler: %v", err)
		}
		return ae.Status, ae.Error()
	}
	return rec.Code, rec.Body.String()
}

// catalog reads node's catalog assignment (ok false when it has none).
func (ts *testServer) catalog(node string) (api.Catalog, bool) {
	ts.t.Helper()
	resp, err := ts.store.Client().Get(context.Background(), store.AssignPrefix(node)+api.CatalogAssignKey)
	if err != nil {
		ts.t.Fatal(err)
	}
	var cat api.Catalog
	if len(resp.Kvs) == 0 {
		return cat, false
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &cat); err != nil {
		ts.t.Fatal(err)
	}
	return cat, true
}

// catalogNodes returns the names in the shared node list when its digest
// is the one a catalog names.
func (ts *testServer) catalogNodes(cat api.Catalog) []string {
	ts.t.Helper()
	resp, err := ts.store.Client().Get(context.Background(), store.AssignPrefix(store.SharedAssignNode)+api.CatalogNodesAssignKey)
	if err != nil {
		ts.t.Fatal(err)
	}
	var cn api.CatalogNodes
	if len(resp.Kvs) == 0 || cat.NodesDigest == "" {
		return nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &cn); err != nil {
		ts.t.Fatal(err)
	}
	if cn.Digest != cat.NodesDigest {
		return nil
	}
	var names []string
	for _, n := range cn.Nodes {
		names = append(names, n.Name)
	}
	return names
}

// waitFor polls cond for up to 15 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func doc(body map[string]any) api.Document { return api.Document{Body: body} }

// TestConvergeServer drives the server side of configuration management
// through the API and the agent-channel handlers: apply-time validation,
// catalogs written by the leader and kept up to date as nodes and specs
// change, secrets only for the nodes that use them, converge triggers,
// reports and their events, and role versions with rollback.
func TestConvergeServer(t *testing.T) {
	ts := startTestServer(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, n := range []store.NodeRecord{
		{Name: "n1", AgentLabels: map[string]string{"role": "web"}, Facts: api.Facts{Hostname: "h1", PrivateIP: "10.0.0.1"}, JoinedAt: now},
		{Name: "n2", AgentLabels: map[string]string{"role": "db"}, Facts: api.Facts{Hostname: "h2", PrivateIP: "10.0.0.2"}, JoinedAt: now},
	} {
		if err := ts.store.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	const secretValue = "s3cret-value"
	var outputs []string // every answer, searched for the secret at the end
	keep := func(code int, body string) (int, string) {
		outputs = append(outputs, body)
		return code, body
	}

	// A role that does not validate is refused, naming its fields.
	code, body := keep(ts.do("POST", "/api/v1/apply", api.ApplyRequest{Documents: []api.Document{doc(map[string]any{
		"kind": "Role", "name": "bad",
		"resources": []any{
			map[string]any{"file": map[string]any{"path": "/etc/x", "mode": "rw"}},
			map[string]any{"template": map[string]any{"path": "/etc/y", "source": "missing.tmpl"}},
			map[string]any{"template": map[string]any{"path": "/etc/z", "content": "a\n{{ end }}"}},
		},
	})}}, nil))
	for _, want := range []string{`documents[0].resources[0].file.mode`, `documents[0].resources[1].template.source`,
		`documents[0].resources[2].template.content`, `/etc/z:2`} {
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("apply of a bad role = %d %s; want 400 naming %s", code, body, want)
		}
	}

	apply := []api.Document{
		doc(map[string]any{"kind": "Secret", "name": "db-password", "value": secretValue}),
		doc(map[string]any{"kind": "Role", "name": "base", "attributes": map[string]any{"ntp_server": "pool.ntp.org"},
			"resources": []any{map[string]any{"hosts": map[string]any{}},
				map[string]any{"file": map[string]any{"path": "/etc/motd", "content": "Managed by corral\n"}}}}),
		doc(map[string]any{"kind": "Role", "name": "web",
			"resources": []any{map[string]any{"template": map[string]any{"path": "/etc/app.conf", "source": "app.conf.tmpl"}}},
			"files":     map[string]any{"app.conf.tmpl": "password={{ secret \"db-password\" }}\n"}}),
		doc(map[string]any{"kind": "Environment", "name": "production", "attributes": map[string]any{"log_level": "warn"}}),
		doc(map[string]any{"kind": "NodeRoles", "selector": map[string]any{"role": "web"}, "roles": []any{"base", "web", "later"},
			"environment": "production"}),
	}
	if code, body := keep(ts.do("POST", "/api/v1/apply", api.ApplyRequest{Documents: apply}, nil)); code != http.StatusOK {
		t.Fatalf("apply = %d %s", code, body)
	}

	// The leader writes n1's catalog; n2 holds no role and gets none.
	var cat api.Catalog
	waitFor(t, "the catalog of n1", func() bool { var ok bool; cat, ok = ts.catalog("n1"); return ok })
	if !slices.Equal(cat.Roles, []string{"base", "web"}) || cat.Environment != "production" ||
		cat.Secrets["db-password"] == 0 || len(cat.Secrets) != 1 || cat.Files["web/app.conf.tmpl"] == "" || len(ts.catalogNodes(cat)) != 2 {
		t.Errorf("catalog of n1 = %+v", cat)
	}
	if _, ok := ts.catalog("n2"); ok {
		t.Errorf("n2 holds no role but has a catalog")
	}

	var view api.NodeRolesView
	if code, body := keep(ts.do("GET", "/api/v1/nodes/n1/roles", nil, &view)); code != http.StatusOK {
		t.Fatalf("roles of n1 = %d %s", code, body)
	}
	if !slices.Equal(view.Roles, []string{"base", "web"}) || !slices.Equal(view.MatchedBy, []string{"role.web"}) ||
		view.Attributes["log_level"] != "warn" || view.Attributes["ntp_server"] != "pool.ntp.org" ||
		view.CatalogHash != cat.Hash || len(view.Errors) != 1 || !strings.Contains(view.Errors[0], `role "later" does not exist`) {
		t.Errorf("roles of n1 = %+v", view)
	}
	var got api.Catalog
	if code, body := keep(ts.do("GET", "/api/v1/nodes/n1/catalog", nil, &got)); code != http.StatusOK || got.Hash != cat.Hash {
		t.Errorf("GET catalog of n1 = %d %s; want hash %s", code, body, cat.Hash)
	}
	if code, body := keep(ts.do("GET", "/api/v1/nodes/n2/catalog", nil, nil)); code != http.StatusNotFound {
		t.Errorf("GET catalog of n2 = %d %s; want 404", code, body)
	}
	if code, _ := keep(ts.do("GET", "/api/v1/nodes/nope/roles", nil, nil)); code != http.StatusNotFound {
		t.Errorf("roles of an unknown node = %d; want 404", code)
	}

	// Secrets go only to nodes whose catalog uses them.
	code, body = ts.agent(ts.handleAgentSecrets, "n1", api.SecretsRequest{Names: []string{"db-password"}})
	var sr api.SecretsResponse
	json.Unmarshal([]byte(body), &sr)
	if code != http.StatusOK || sr.Values["db-password"] != secretValue {
		t.Errorf("secrets for n1 = %d %s", code, body)
	}
	for _, c := range []struct{ node, name string }{{"n2", "db-password"}, {"n1", "other"}} {
		code, body := keep(ts.agent(ts.handleAgentSecrets, c.node, api.SecretsRequest{Names: []string{c.name}}))
		if code != http.StatusForbidden || !strings.Contains(body, c.name) {
			t.Errorf("secret %s for %s = %d %s; want 403 naming it", c.name, c.node, code, body)
		}
	}

	// A label change gives n2 the roles; then removing n2 takes it out of
	// n1's hosts.
	if _, err := ts.store.UpdateNode(ctx, "n2", func(n *store.NodeRecord) error { n.Labels = map[string]string{"role": "web"}; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the catalog of n2", func() bool { _, ok := ts.catalog("n2"); return ok })
	if err := ts.store.DeleteNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1's catalog without n2", func() bool { c, _ := ts.catalog("n1"); return slices.Equal(ts.catalogNodes(c), []string{"n1"}) })

	// Triggers.
	var trig api.ConvergeTriggered
	if code, body := keep(ts.do("POST", "/api/v1/converge", api.ConvergeTrigger{Selector: "role=web", DryRun: true}, &trig)); code != http.StatusAccepted ||
		!slices.Equal(trig.Nodes, []string{"n1"}) || trig.Nonce == "" {
		t.Fatalf("converge trigger = %d %s", code, body)
	}
	resp, err := ts.store.Client().Get(ctx, store.AssignPrefix("n1")+api.ConvergeRunAssignKey)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("no run request for n1: %v", err)
	}
	var run api.ConvergeRequest
	json.Unmarshal(resp.Kvs[0].Value, &run)
	if run.Nonce != trig.Nonce || !run.DryRun || run.By == "" {
		t.Errorf("run request = %+v", run)
	}
	for _, c := range []struct {
		req  api.ConvergeTrigger
		want int
	}{{api.ConvergeTrigger{Node: "nope"}, 404}, {api.ConvergeTrigger{Selector: "=x"}, 400}, {api.ConvergeTrigger{Selector: "role=none"}, 404}} {
		if code, body := keep(ts.do("POST", "/api/v1/converge", c.req, nil)); code != c.want {
			t.Errorf("converge %+v = %d %s; want %d", c.req, code, body, c.want)
		}
	}

	// Reports: stored, listed with the resources that changed, and a
	// failed run is a critical "converge" event until a good run.
	started := time.Now().UTC().Truncate(time.Millisecond)
	failed := api.ConvergeReport{ID: "n1-1", Trigger: "manual", Nonce: trig.Nonce, Started: started, Duration: time.Second,
		Resources: []api.ResourceResult{{Type: "file", Name: "/etc/motd", Status: api.StatusUpToDate},
			{Type: "template", Name: "/etc/app.conf", Status: api.StatusFailed, Error: "app.conf.tmpl:1: boom"}},
		Totals: api.ConvergeTotals{UpToDate: 1, Failed: 1}, Error: "template[/etc/app.conf]: app.conf.tmpl:1: boom"}
	data, _ := json.Marshal(failed)
	if rej, err := ts.reportConverge(ctx, "n1", []api.Report{{Seq: 1, Type: "converge", Data: data}, {Seq: 2, Type: "converge", Data: []byte(`[1]`)}}); err != nil || len(rej) != 1 || rej[2] == "" {
		t.Fatalf("reportConverge = %v, %v", rej, err)
	}
	var list []api.ConvergeReport
	if code, body := keep(ts.do("GET", "/api/v1/reports?nonce="+trig.Nonce, nil, &list)); code != http.StatusOK || len(list) != 1 ||
		list[0].Node != "n1" || len(list[0].Resources) != 1 || list[0].Resources[0].Status != api.StatusFailed || list[0].Totals.UpToDate != 1 {
		t.Errorf("reports by nonce = %d %s", code, body)
	}
	var full api.ConvergeReport
	if code, body := keep(ts.do("GET", "/api/v1/reports/n1-1", nil, &full)); code != http.StatusOK || len(full.Resources) != 2 {
		t.Errorf("report n1-1 = %d %s", code, body)
	}
	if code, _ := keep(ts.do("GET", "/api/v1/reports?status=bogus", nil, nil)); code != http.StatusBadRequest {
		t.Errorf("status=bogus = %d; want 400", code)
	}
	eventStatus := func() int {
		evs := ts.mon.proc.List(event.Filter{Entity: "n1", Check: convergeCheck})
		if len(evs) != 1 {
			return -1
		}
		return evs[0].Status
	}
	waitFor(t, "a critical converge event", func() bool { return eventStatus() == 2 })
	good := api.ConvergeReport{ID: "n1-2", Started: started.Add(time.Minute), Totals: api.ConvergeTotals{Changed: 1, UpToDate: 1}}
	data, _ = json.Marshal(good)
	if _, err := ts.reportConverge(ctx, "n1", []api.Report{{Seq: 3, Type: "converge", Data: data}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the converge event resolved", func() bool { return eventStatus() == 0 })

	// Versions and rollback of a role.
	apply[2].Body["files"] = map[string]any{"app.conf.tmpl": "password={{ secret \"db-password\" }}\nv2\n"}
	if code, body := keep(ts.do("POST", "/api/v1/apply", api.ApplyRequest{Documents: apply[2:3]}, nil)); code != http.StatusOK {
		t.Fatalf("apply v2 = %d %s", code, body)
	}
	var versions []api.ResourceVersion
	if code, body := keep(ts.do("GET", "/api/v1/resources/Role/web/versions", nil, &versions)); code != http.StatusOK ||
		len(versions) != 2 || versions[0].Version != 2 || versions[1].Version != 1 || versions[0].Spec != nil {
		t.Fatalf("versions = %d %s", code, body)
	}
	var v1 api.ResourceVersion
	if code, body := keep(ts.do("GET", "/api/v1/resources/Role/web/versions/1", nil, &v1)); code != http.StatusOK ||
		!strings.Contains(string(mustJSON(v1.Spec)), `password={{ secret \"db-password\" }}\n"`) {
		t.Errorf("version 1 = %d %s", code, body)
	}
	var rb api.ResourceVersion
	if code, body := keep(ts.do("POST", "/api/v1/resources/Role/web/rollback", api.RollbackRequest{}, &rb)); code != http.StatusOK ||
		rb.Version != 3 || rb.Cause != "rollback to 1" {
		t.Fatalf("rollback = %d %s", code, body)
	}
	if code, _ := keep(ts.do("POST", "/api/v1/resources/Role/web/rollback", api.RollbackRequest{Version: 1}, nil)); code != http.StatusConflict {
		t.Errorf("rollback to the current spec = %d; want 409", code)
	}
	if code, _ := keep(ts.do("GET", "/api/v1/resources/Secret/db-password/versions", nil, nil)); code != http.StatusBadRequest {
		t.Errorf("versions of a Secret = %d; want 400", code)
	}
	// The rollback is a change like any other: the catalog follows.
	waitFor(t, "the catalog after the rollback", func() bool {
		c, _ := ts.catalog("n1")
		return c.Files["web/app.conf.tmpl"] == "password={{ secret \"db-password\" }}\n"
	})

	for _, out := range outputs {
		if strings.Contains(out, secretValue) {
			t.Errorf("an API answer shows the secret value: %s", out)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// BenchmarkCatalogFanout measures how long after a role change the
// catalogs of every node are all written (the leader's debounce, build and
// parallel writes): 2,000 nodes holding a role of 20 files, and 500 nodes
// holding one with a hosts resource too (every catalog lists every node).
func BenchmarkCatalogFanout(b *testing.B) {
	b.Run("files-2000", func(b *testing.B) { benchFanout(b, 2000, false) })
	b.Run("hosts-500", func(b *testing.B) { benchFanout(b, 500, true) })
}

func benchFanout(b *testing.B, nodes int, hosts bool) {
	ts := startTestServer(b)
	ctx := context.Background()
	var groups [][]store.Op
	now := time.Now().UTC()
	for i := range nodes {
		name := fmt.Sprintf("node-%04d", i)
		groups = append(groups, []store.Op{store.Put(store.NodeKey(name), store.NodeRecord{Name: name,
			AgentLabels: map[string]string{"role": "web"}, Facts: api.Facts{Hostname: name, PrivateIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)}, JoinedAt: now})})
	}
	if _, err := ts.store.Batch(ctx, groups); err != nil {
		b.Fatal(err)
	}
	var res []any
	for i := range 20 {
		res = append(res, map[string]any{"file": map[string]any{"path": fmt.Sprintf("/etc/f%d", i), "content": "x\n"}})
	}
	if hosts {
		res = append(res, map[string]any{"hosts": map[string]any{}})
	}
	roleDoc := func(v int) api.Document {
		return doc(map[string]any{"kind": "Role", "name": "base", "attributes": map[string]any{"v": v}, "resources": res})
	}
	nr := doc(map[string]any{"kind": "NodeRoles", "selector": map[string]any{"role": "web"}, "roles": []any{"base"}})
	prefix := store.Prefix + "assign/"
	fresh := func(rev int64) int {
		resp, err := ts.store.Client().Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, kv := range resp.Kvs {
			if strings.HasSuffix(string(kv.Key), "/"+api.CatalogAssignKey) && kv.ModRevision > rev {
				n++
			}
		}
		return n
	}
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		docs := []api.Document{roleDoc(i)}
		if i == 0 {
			docs = append(docs, nr)
		}
		if code, body := ts.do("POST", "/api/v1/apply", api.ApplyRequest{Documents: docs}, nil); code != http.StatusOK {
			b.Fatalf("apply = %d %s", code, body)
		}
		resp, err := ts.store.Client().Get(ctx, "x")
		if err != nil {
			b.Fatal(err)
		}
		rev := resp.Header.Revision
		start := time.Now()
		waitFor(b, "every catalog", func() bool { return fresh(rev) == nodes })
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-all-catalogs")
}
