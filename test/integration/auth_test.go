package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// TestAPIErrors checks authentication, roles, limits and conflicts, and that
// every error answer has the API's one shape.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	const maxBody = 8 << 10
	srv := StartServer(t, ServerOptions{MaxBodyBytes: maxBody})
	admin := srv.AdminToken()
	viewer := srv.CreateToken(t, api.TokenRequest{Name: "viewer-1", Role: api.RoleViewer})
	expiring := srv.CreateToken(t, api.TokenRequest{Role: api.RoleAdmin, TTL: api.Duration(time.Second)})
	revoked := srv.CreateToken(t, api.TokenRequest{Role: api.RoleAdmin})

	// The viewer reads, straight after its token was created.
	if code, body := srv.HTTP(t, "GET", "/api/v1/nodes", viewer.Secret, nil); code != http.StatusOK {
		t.Fatalf("viewer GET /api/v1/nodes: %d %s", code, body)
	}
	if code, body := srv.HTTP(t, "GET", "/api/v1/whoami", revoked.Secret, nil); code != http.StatusOK {
		t.Fatalf("GET /api/v1/whoami before revoking: %d %s", code, body)
	}
	if err := srv.Admin(t).RevokeToken(testCtx(t), revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Admin(t).Apply(testCtx(t), api.ApplyRequest{Documents: []api.Document{
		{Body: map[string]any{"kind": "Secret", "name": "x", "value": "v1"}},
	}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(*expiring.ExpiresAt) + 100*time.Millisecond)

	secretDoc := func(name, value string) []byte {
		b, _ := json.Marshal(api.ApplyRequest{Documents: []api.Document{
			{Body: map[string]any{"kind": "Secret", "name": name, "value": value}}}})
		return b
	}
	cases := []struct {
		name          string
		method, path  string
		token         string
		body          []byte
		want          int
		wantInMessage string
		wantFields    []string
	}{
		{"no token", "GET", "/api/v1/nodes", "", nil, 401, "missing bearer token", nil},
		{"garbage token", "GET", "/api/v1/nodes", "not-a-token", nil, 401, "token", nil},
		{"revoked token", "GET", "/api/v1/nodes", revoked.Secret, nil, 401, "revoked", nil},
		{"expired token", "GET", "/api/v1/nodes", expiring.Secret, nil, 401, "expired", nil},
		{"viewer creates a token", "POST", "/api/v1/tokens", viewer.Secret, []byte(`{"role":"admin"}`), 403, "viewer", nil},
		{"viewer applies a secret", "POST", "/api/v1/apply", viewer.Secret, secretDoc("y", "v"), 403, "viewer", nil},
		{"viewer deletes a secret", "DELETE", "/api/v1/resources/Secret/x", viewer.Secret, nil, 403, "viewer", nil},
		{"viewer labels a node", "PATCH", "/api/v1/nodes/n1/labels", viewer.Secret, []byte(`{"set":{"a":"b"}}`), 403, "viewer", nil},
		{"viewer reveals a secret", "GET", "/api/v1/resources/Secret/x?reveal=true", viewer.Secret, nil, 403, "admin", nil},
		{"body over the limit", "POST", "/api/v1/apply", admin, secretDoc("big", strings.Repeat("a", 2*maxBody)), 413, "larger than", nil},
		{"unknown node", "GET", "/api/v1/nodes/nope", admin, nil, 404, "nope", nil},
		{"label an unknown node", "PATCH", "/api/v1/nodes/nope/labels", admin, []byte(`{"set":{"a":"b"}}`), 404, "nope", nil},
		{"remove an unknown node", "DELETE", "/api/v1/nodes/nope", admin, nil, 404, "nope", nil},
		{"unknown secret", "GET", "/api/v1/resources/Secret/nope", admin, nil, 404, "nope", nil},
		{"unknown kind", "GET", "/api/v1/resources/Nope", admin, nil, 404, "Nope", nil},
		{"unknown route", "GET", "/api/v1/nope", admin, nil, 404, "no route", nil},
		{"wrong method", "PUT", "/api/v1/nodes", admin, nil, 405, "not allowed", nil},
		{"delete at a stale version", "DELETE", "/api/v1/resources/Secret/x?version=99", admin, nil, 409, "version", nil},
		{"invalid secret", "POST", "/api/v1/apply", admin, secretDoc("-bad-", ""), 400, "nothing was applied", []string{"documents[0].name", "documents[0].value"}},
		{"invalid JSON", "POST", "/api/v1/apply", admin, []byte(`{"documents":`), 400, "invalid JSON", nil},
		{"unknown field", "POST", "/api/v1/tokens", admin, []byte(`{"role":"viewer","colour":"red"}`), 400, "colour", nil},
		{"invalid token request", "POST", "/api/v1/tokens", admin, []byte(`{"role":"king"}`), 400, "", []string{"role"}},
		{"revoke an unknown token", "DELETE", "/api/v1/tokens/0000000000000000", admin, nil, 404, "0000000000000000", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := srv.HTTP(t, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, code, tc.want, body)
			}
			e := errorBody(t, body)
			if !strings.Contains(e.Message, tc.wantInMessage) {
				t.Errorf("%s %s: error %q does not mention %q", tc.method, tc.path, e.Message, tc.wantInMessage)
			}
			for _, f := range tc.wantFields {
				if e.Fields[f] == "" {
					t.Errorf("%s %s: no field error for %s in %s", tc.method, tc.path, f, body)
				}
			}
		})
	}

	// The client gives the same errors as *api.Error.
	_, err := srv.Client(t, "").Nodes(testCtx(t))
	if api.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("client without a token: %v, want a 401", err)
	}
	_, err = srv.Client(t, viewer.Secret).CreateToken(testCtx(t), api.TokenRequest{Role: api.RoleAdmin})
	if api.StatusOf(err) != http.StatusForbidden {
		t.Errorf("client with a viewer token creating a token: %v, want a 403", err)
	}
	_, err = srv.Admin(t).Node(testCtx(t), "nope")
	if api.StatusOf(err) != http.StatusNotFound {
		t.Errorf("client asking for an unknown node: %v, want a 404", err)
	}

	// Nothing the refused calls tried happened; the right version deletes.
	toks, err := srv.Admin(t).Tokens(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 4 {
		t.Errorf("%d tokens, want 4 (admin, viewer, expiring, revoked): %+v", len(toks), toks)
	}
	if _, err := srv.Admin(t).Resource(testCtx(t), "Secret", "y", false); api.StatusOf(err) != http.StatusNotFound {
		t.Errorf("secret y applied by a viewer: %v", err)
	}
	if code, body := srv.HTTP(t, "DELETE", "/api/v1/resources/Secret/x?version=1", admin, nil); code != http.StatusNoContent {
		t.Errorf("DELETE secret x at its version: %d %s", code, body)
	}
}

// TestAuditHealthMetrics makes a few mutations and finds them in the audit
// log, and checks /healthz, /readyz and /metrics.
func TestAuditHealthMetrics(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	a := StartAgent(t, srv, AgentOptions{Name: "audited-1"})
	a.WaitReady()

	viewer, err := admin.CreateToken(ctx, api.TokenRequest{Name: "auditor", Role: api.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client(t, viewer.Secret).CreateToken(ctx, api.TokenRequest{Role: api.RoleAdmin}); api.StatusOf(err) != http.StatusForbidden {
		t.Fatalf("viewer created a token: %v", err)
	}
	if _, err := admin.Apply(ctx, api.ApplyRequest{Documents: []api.Document{
		{Body: map[string]any{"kind": "Secret", "name": "audited", "value": "s3cret"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.LabelNode(ctx, "audited-1", api.LabelRequest{Set: map[string]string{"tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteResource(ctx, "Secret", "audited"); err != nil {
		t.Fatal(err)
	}

	entries, err := admin.Audit(ctx, client.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	adminID := strings.TrimPrefix(strings.SplitN(srv.AdminToken(), ".", 2)[0], "crl_")
	adminActor := "token:" + adminID + " (admin)"
	viewerActor := "token:" + viewer.ID + " (auditor)"
	want := []struct {
		actor, action, target string
		status                int
	}{
		{adminActor, "POST /api/v1/tokens", "/api/v1/tokens", http.StatusCreated},
		{viewerActor, "POST /api/v1/tokens", "/api/v1/tokens", http.StatusForbidden},
		{adminActor, "POST /api/v1/apply", "/api/v1/apply", http.StatusOK},
		{adminActor, "PATCH /api/v1/nodes/{name}/labels", "/api/v1/nodes/audited-1/labels", http.StatusOK},
		{adminActor, "DELETE /api/v1/resources/{kind}/{name}", "/api/v1/resources/Secret/audited", http.StatusNoContent},
	}
	// The agent's join is audited too, with the join token as the actor.
	joined := false
	for _, e := range entries {
		if e.Action == "POST /agent/v1/join" && e.Target == "node/audited-1" && e.Status == http.StatusOK && strings.HasPrefix(e.Actor, "token:") {
			joined = true
		}
	}
	if !joined {
		t.Errorf("no audit entry for the join of audited-1 in:\n%s", auditTable(entries))
	}
	for _, w := range want {
		found := false
		for _, e := range entries {
			if e.Actor == w.actor && e.Action == w.action && e.Target == w.target && e.Status == w.status {
				found = true
				if e.Time.IsZero() || e.Result == "" {
					t.Errorf("audit entry without time or result: %+v", e)
				}
				if w.status < 300 && e.Result != "ok" {
					t.Errorf("audit entry of a success has result %q: %+v", e.Result, e)
				}
			}
		}
		if !found {
			t.Errorf("no audit entry %s %s %s %d in:\n%s", w.actor, w.action, w.target, w.status, auditTable(entries))
		}
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "GET ") {
			t.Errorf("audit has a read: %+v", e)
		}
	}
	if es, err := admin.Audit(ctx, client.AuditQuery{Actor: viewerActor}); err != nil || len(es) != 1 {
		t.Errorf("audit of actor %s: %d entries, %v; want 1", viewerActor, len(es), err)
	}
	if _, err := srv.Client(t, viewer.Secret).Audit(ctx, client.AuditQuery{}); api.StatusOf(err) != http.StatusForbidden {
		t.Errorf("viewer read the audit log: %v", err)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := srv.HTTP(t, "GET", path, "", nil); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	eventually(t, 10*time.Second, func() error {
		code, body := srv.HTTP(t, "GET", "/metrics", "", nil)
		if code != http.StatusOK {
			return fmt.Errorf("GET /metrics: %d", code)
		}
		for _, m := range []string{"corral_http_requests_total{", "corral_agents_connected 1\n"} {
			if !strings.Contains(string(body), m) {
				return fmt.Errorf("/metrics has no %q", strings.TrimSpace(m))
			}
		}
		return nil
	})
}

func auditTable(es []api.AuditEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %s | %s | %s | %d | %s\n", e.Actor, e.Action, e.Target, e.Status, e.Result)
	}
	return b.String()
}
