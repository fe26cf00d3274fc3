package integration

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// TestServerRestartKeepsState kills the server with SIGKILL while it is
// taking writes and starts it again: tokens, secrets, nodes and the audit log
// are all there, every acknowledged write is kept, and the node does not go
// down in between, because its liveness lease lives in etcd.
func TestServerRestartKeepsState(t *testing.T) {
	t.Parallel()
	const ttl = 5 * time.Second
	srv := StartServer(t, ServerOptions{LeaseTTL: ttl, HeartbeatInterval: time.Second})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	a := StartAgent(t, srv, AgentOptions{Name: "survivor-1", Labels: []string{"role=web"}})
	a.WaitReady()
	if _, err := admin.LabelNode(ctx, "survivor-1", api.LabelRequest{Set: map[string]string{"tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	before, err := admin.Node(ctx, "survivor-1")
	if err != nil {
		t.Fatal(err)
	}
	viewer := srv.CreateToken(t, api.TokenRequest{Name: "viewer-1", Role: api.RoleViewer})
	revoked := srv.CreateToken(t, api.TokenRequest{Name: "revoked-1", Role: api.RoleAdmin})
	if err := admin.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	laterJoin := srv.JoinToken(t) // used after the restart

	// Apply secrets one after another and kill the server in the middle.
	var mu sync.Mutex
	var acked []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			name := fmt.Sprintf("acked-%04d", i)
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := admin.Apply(actx, api.ApplyRequest{Documents: []api.Document{
				{Body: map[string]any{"kind": "Secret", "name": name, "value": "value of " + name}}}})
			cancel()
			if err != nil {
				return // the server is gone
			}
			mu.Lock()
			acked = append(acked, name)
			mu.Unlock()
		}
	}()
	eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 20 {
			return fmt.Errorf("%d secrets applied, want 20 before the kill", len(acked))
		}
		return nil
	})
	srv.Kill()
	killed := time.Now()
	<-done
	mu.Lock()
	ackedNames := append([]string{}, acked...)
	mu.Unlock()

	srv.Restart()
	back := time.Since(killed)
	t.Logf("server back %s after SIGKILL; %d secrets acknowledged before", back.Round(10*time.Millisecond), len(ackedNames))

	// The node stays ready across the restart.
	stayReady(t, srv, []string{"survivor-1"}, killed, ttl, back < ttl/2)

	// Nodes.
	after, err := admin.Node(ctx, "survivor-1")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after.Labels, before.Labels) || !after.JoinedAt.Equal(before.JoinedAt) {
		t.Errorf("node after restart: labels %v joined %v, want %v joined %v", after.Labels, after.JoinedAt, before.Labels, before.JoinedAt)
	}

	// Tokens.
	if w, err := srv.Client(t, viewer.Secret).Whoami(ctx); err != nil || w.Role != api.RoleViewer {
		t.Errorf("viewer token after restart: %+v, %v", w, err)
	}
	if _, err := srv.Client(t, revoked.Secret).Whoami(ctx); api.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("revoked token after restart: %v, want a 401", err)
	}
	toks, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 5 {
		t.Errorf("%d tokens after restart, want 5 (admin, agent, viewer, revoked, later join): %+v", len(toks), toks)
	}

	// Secrets: every acknowledged one is there, with its value.
	rs, err := admin.Resources(ctx, "Secret")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, r := range rs {
		stored[r.Name] = true
	}
	for _, name := range ackedNames {
		if !stored[name] {
			t.Errorf("secret %s was acknowledged before the kill and is gone after the restart", name)
		}
	}
	last := ackedNames[len(ackedNames)-1]
	r, err := admin.Resource(ctx, "Secret", last, true)
	if err != nil || string(r.Spec) != fmt.Sprintf(`{"name":%q,"value":"value of %s"}`, last, last) {
		t.Errorf("secret %s after restart: %s, %v", last, r.Spec, err)
	}

	// The audit log kept the calls before the kill.
	es, err := admin.Audit(ctx, client.AuditQuery{Action: "PATCH /api/v1/nodes/{name}/labels"})
	if err != nil || len(es) != 1 {
		t.Errorf("audit of the label change before the kill: %d entries, %v", len(es), err)
	}

	// The CA and a join token made before the kill let a new node join.
	b := StartAgent(t, srv, AgentOptions{Name: "newcomer-1", JoinToken: laterJoin})
	b.WaitReady()

	// A longer outage, in which heartbeats fail and the agent reconnects:
	// two seconds is still well within the lease TTL.
	srv.Kill()
	killed = time.Now()
	time.Sleep(2 * time.Second)
	srv.Restart()
	back = time.Since(killed)
	t.Logf("server back %s after the second SIGKILL", back.Round(10*time.Millisecond))
	stayReady(t, srv, []string{"survivor-1", "newcomer-1"}, killed, ttl, back < ttl/2+2*time.Second)
}

// stayReady watches nodes after the server was killed at killed and started
// again, until each node's agent talks to the new server (its heartbeats set
// last_seen) and a lease TTL more has passed. When strict, the nodes must
// stay ready throughout; else they must only end ready.
func stayReady(t *testing.T, srv *Server, nodes []string, killed time.Time, ttl time.Duration, strict bool) {
	t.Helper()
	seenAt := map[string]time.Time{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		settled := 0
		for _, name := range nodes {
			n, err := srv.Node(t, name)
			if err != nil {
				t.Fatalf("node %s after restart: %v", name, err)
			}
			if n.Status != api.NodeReady {
				if strict {
					t.Fatalf("node %s %s %s after the server was killed: its lease should have survived the quick restart",
						n.Name, n.Status, time.Since(killed).Round(10*time.Millisecond))
				}
				t.Logf("node %s %s; the restart was not quick", n.Name, n.Status)
			}
			if seenAt[name].IsZero() && n.LastSeen != nil && n.LastSeen.After(killed) {
				seenAt[name] = time.Now()
				t.Logf("node %s: agent back %s after the kill", name, n.LastSeen.Sub(killed).Round(10*time.Millisecond))
			}
			if !seenAt[name].IsZero() && time.Since(seenAt[name]) > ttl+time.Second && n.Status == api.NodeReady {
				settled++
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent of %s not back within 30s (node %s, last seen %v)", name, n.Status, n.LastSeen)
			}
		}
		if settled == len(nodes) {
			return
		}
		time.Sleep(pollInterval)
	}
}
