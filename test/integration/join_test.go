package integration

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

// TestTwoAgentsJoin joins two agents and finds their facts and labels
// through the API and `corral node ls`.
func TestTwoAgentsJoin(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	agents := []struct {
		agent  *Agent
		labels map[string]string
	}{
		{StartAgent(t, srv, AgentOptions{Name: "web-1", Labels: []string{"role=web", "zone=a"}}), map[string]string{"role": "web", "zone": "a"}},
		{StartAgent(t, srv, AgentOptions{Name: "db-1", Labels: []string{"role=db"}}), map[string]string{"role": "db"}},
	}
	for _, a := range agents {
		n := a.agent.WaitReady()
		if !maps.Equal(n.Labels, a.labels) {
			t.Errorf("node %s labels = %v, want %v", n.Name, n.Labels, a.labels)
		}
		f := n.Facts
		if f.Hostname == "" || f.OS != "linux" || f.CPUs < 1 || f.MemoryBytes == 0 || f.CorralVersion == "" {
			t.Errorf("node %s facts incomplete: %+v", n.Name, f)
		}
		if n.Resources.CPUs <= 0 || n.Resources.MemMB <= 0 || n.Resources.PortFrom == 0 {
			t.Errorf("node %s resources incomplete: %+v", n.Name, n.Resources)
		}
		if n.JoinedAt.IsZero() || n.CertExpires == nil || !n.CertExpires.After(time.Now()) {
			t.Errorf("node %s: joined_at %v, cert_expires %v", n.Name, n.JoinedAt, n.CertExpires)
		}
	}

	nodes, err := srv.Admin(t).Nodes(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != "db-1" || nodes[1].Name != "web-1" {
		t.Fatalf("nodes = %+v, want db-1 and web-1", nodes)
	}

	env := CLIEnv{Home: srv.Home}
	out, _, code := RunCLI(t, env, append([]string{"node", "ls"}, srv.CLIFlags(srv.AdminToken())...)...)
	if code != 0 {
		t.Fatalf("corral node ls: exit %d", code)
	}
	for _, name := range []string{"web-1", "db-1"} {
		if st := tableStatus(out, name); st != api.NodeReady {
			t.Errorf("corral node ls: %s has status %q, want ready:\n%s", name, st, out)
		}
	}
	if !strings.Contains(out, "role=web") || !strings.Contains(out, "role=db") {
		t.Errorf("corral node ls does not show the labels:\n%s", out)
	}

	out, _, code = RunCLI(t, env, append([]string{"node", "ls", "-o", "json"}, srv.CLIFlags(srv.AdminToken())...)...)
	var listed []api.Node
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil {
		t.Fatalf("corral node ls -o json: exit %d, %v", code, err)
	}
	if len(listed) != 2 {
		t.Fatalf("corral node ls -o json: %d nodes, want 2", len(listed))
	}
	for _, n := range listed {
		if n.Status != api.NodeReady {
			t.Errorf("corral node ls -o json: %s is %s", n.Name, n.Status)
		}
	}

	_, stderr, code := RunCLI(t, env, append([]string{"node", "show", "nope"}, srv.CLIFlags(srv.AdminToken())...)...)
	if code == 0 || !strings.Contains(stderr, `node "nope" not found`) {
		t.Errorf("corral node show nope: exit %d, stderr:\n%s", code, stderr)
	}

	// A third agent may not take the name of a live node.
	dup := StartAgent(t, srv, AgentOptions{Name: "web-1"})
	if code := dup.Wait(); code == 0 || !strings.Contains(dup.Stderr(), "already joined") {
		t.Errorf("agent joining as live node web-1: exit %d: %s", code, lastLine(dup.Stderr()))
	}
	if n, err := srv.Node(t, "web-1"); err != nil || n.Status != api.NodeReady || !maps.Equal(n.Labels, agents[0].labels) {
		t.Errorf("web-1 after a refused join under its name: %+v, %v", n, err)
	}
}

// tableStatus returns the STATUS column of the row of name in a `node ls`
// table, or "".
func tableStatus(table, name string) string {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}

// TestJoinRejected checks that every kind of bad credential makes the agent
// exit non-zero with a clear message, and registers no node.
func TestJoinRejected(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	other := StartServer(t, ServerOptions{})
	good := srv.JoinToken(t)
	fingerprint, tokenPart, ok := strings.Cut(strings.TrimPrefix(good, "K1"), "::")
	if !ok || !strings.HasPrefix(good, "K1") {
		t.Fatalf("join token %q is not K1<fingerprint>::<token>", good)
	}
	otherFingerprint, _, _ := strings.Cut(strings.TrimPrefix(other.JoinToken(t), "K1"), "::")

	// An agent of the other cluster, with a certificate of the other CA.
	foreign := StartAgent(t, other, AgentOptions{Name: "foreign-1"})
	foreign.WaitReady()
	foreign.Kill()

	cases := []struct {
		name string
		// opts returns the agent's options; it may prepare its data dir.
		opts func(t *testing.T) AgentOptions
		want []string // in the agent's stderr
	}{
		{
			name: "wrong secret",
			opts: func(t *testing.T) AgentOptions {
				return AgentOptions{JoinToken: flipLast(good)}
			},
			want: []string{"join token rejected", "invalid or unknown token"},
		},
		{
			name: "unknown token",
			opts: func(t *testing.T) AgentOptions {
				id, secret, _ := strings.Cut(tokenPart, ".")
				return AgentOptions{JoinToken: "K1" + fingerprint + "::" + flipLast(id) + "." + secret}
			},
			want: []string{"join token rejected", "invalid or unknown token"},
		},
		{
			name: "expired token",
			opts: func(t *testing.T) AgentOptions {
				nt := srv.CreateToken(t, api.TokenRequest{Role: api.RoleAgent, TTL: api.Duration(time.Second)})
				time.Sleep(time.Until(*nt.ExpiresAt) + 100*time.Millisecond)
				return AgentOptions{JoinToken: nt.Secret}
			},
			want: []string{"join token rejected", "expired"},
		},
		{
			name: "revoked token",
			opts: func(t *testing.T) AgentOptions {
				nt := srv.CreateToken(t, api.TokenRequest{Role: api.RoleAgent})
				if err := srv.Admin(t).RevokeToken(testCtx(t), nt.ID); err != nil {
					t.Fatal(err)
				}
				return AgentOptions{JoinToken: nt.Secret}
			},
			want: []string{"join token rejected", "revoked"},
		},
		{
			name: "viewer token",
			opts: func(t *testing.T) AgentOptions {
				nt := srv.CreateToken(t, api.TokenRequest{Role: api.RoleViewer})
				return AgentOptions{JoinToken: "K1" + fingerprint + "::" + nt.Secret}
			},
			want: []string{"join token rejected", "viewer"},
		},
		{
			name: "token of another cluster's CA",
			opts: func(t *testing.T) AgentOptions {
				return AgentOptions{JoinToken: "K1" + otherFingerprint + "::" + tokenPart}
			},
			want: []string{"CA"},
		},
		{
			name: "certificate of another CA",
			opts: func(t *testing.T) AgentOptions {
				return AgentOptions{Dir: copyDir(t, foreign.Dir), NoToken: true}
			},
			want: []string{"certificate"},
		},
		{
			name: "certificate of another CA, trusting this server",
			opts: func(t *testing.T) AgentOptions {
				dir := copyDir(t, foreign.Dir)
				// The agent trusts this cluster's CA but presents the
				// other's certificate: the server must refuse it.
				ca, err := os.ReadFile(srv.CAFile())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644); err != nil {
					t.Fatal(err)
				}
				return AgentOptions{Dir: dir, NoToken: true}
			},
			want: []string{"certificate"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts(t)
			opts.Name = "rejected-1"
			a := StartAgent(t, srv, opts)
			code := a.Wait()
			stderr := a.Stderr()
			t.Logf("agent exit %d: %s", code, lastLine(stderr))
			if code == 0 {
				t.Errorf("agent exited with code 0, want non-zero")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("agent stderr does not say %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(lastLine(stderr), "join token rejected"); n > 1 {
				t.Errorf("agent error says \"join token rejected\" %d times: %s", n, lastLine(stderr))
			}
			nodes, err := srv.Admin(t).Nodes(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 0 {
				t.Errorf("nodes registered after a refused join: %+v", nodes)
			}
		})
	}

	// Refused joins must not change what the API says about a bad token.
	bogus := strings.TrimPrefix(tokenPart, "crl_")
	status, body := srv.HTTP(t, "GET", "/api/v1/whoami", "crl_"+flipLast(bogus), nil)
	if status != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/whoami with a wrong token: %d, want 401", status)
	}
	if e := errorBody(t, body); strings.Contains(e.Message, "join") {
		t.Errorf("API 401 after refused joins says %q: the join error leaked into the API's error", e.Message)
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// flipLast changes the last character of s.
func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('a')
	if last == 'a' {
		repl = 'b'
	}
	return s[:len(s)-1] + string(repl)
}

// copyDir copies the files of dir (not recursive) to a new temp dir.
func copyDir(t testing.TB, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestAgentKilledGoesDownAndComesBack kills an agent with SIGKILL: its node
// is down within the lease TTL + 2 s, and the restarted agent makes it ready
// again without a join token.
func TestAgentKilledGoesDownAndComesBack(t *testing.T) {
	t.Parallel()
	const ttl = 5 * time.Second
	srv := StartServer(t, ServerOptions{LeaseTTL: ttl, HeartbeatInterval: time.Second})
	a := StartAgent(t, srv, AgentOptions{Name: "n1", Labels: []string{"role=web"}})
	before := a.WaitReady()

	killed := time.Now()
	a.Kill()
	down := srv.WaitNodeStatus(t, "n1", api.NodeDown, ttl+15*time.Second)
	if elapsed := time.Since(killed); elapsed > ttl+2*time.Second {
		t.Errorf("node down %s after SIGKILL, want within TTL + 2s = %s", elapsed.Round(10*time.Millisecond), ttl+2*time.Second)
	} else {
		t.Logf("node down %s after SIGKILL", elapsed.Round(10*time.Millisecond))
	}
	if !maps.Equal(down.Labels, before.Labels) {
		t.Errorf("down node lost its labels: %v, was %v", down.Labels, before.Labels)
	}

	a.Restart() // no --join-token
	after := a.WaitReady()
	if !after.JoinedAt.Equal(before.JoinedAt) {
		t.Errorf("restarted node joined_at = %v, want %v (the same node)", after.JoinedAt, before.JoinedAt)
	}
	if exited, code := a.Exited(); exited {
		t.Fatalf("restarted agent exited with code %d", code)
	}
}

// TestAgentCertRenewal gives agents 6 s certificates: the agent renews at 2/3
// of their life (about every 4 s, not in a loop), the node's cert_expires
// moves forward and it stays ready, also after the first certificate expired.
func TestAgentCertRenewal(t *testing.T) {
	t.Parallel()
	const certTTL = 6 * time.Second
	srv := StartServer(t, ServerOptions{AgentCertTTL: certTTL})
	a := StartAgent(t, srv, AgentOptions{Name: "renew-1"})
	first := a.WaitReady()
	if first.CertExpires == nil {
		t.Fatal("node has no cert_expires")
	}
	issued := first.CertExpires.Add(-certTTL)
	renewals := func() int { return strings.Count(srv.proc.Stderr(), "renewed node certificate") }

	// Before 2/3 of its life (4 s) the certificate is not renewed.
	time.Sleep(time.Until(issued.Add(3 * time.Second)))
	if n := renewals(); n > 0 {
		t.Errorf("certificate renewed %d times in the first 3 s of its %s life, want none before 2/3 of it", n, certTTL)
	}

	// Over ~10 s the node stays ready and the agent keeps running, past the
	// expiry of its first certificate.
	for time.Since(issued) < 11*time.Second {
		n, err := srv.Node(t, "renew-1")
		if err != nil {
			t.Fatal(err)
		}
		if exited, code := a.Exited(); exited {
			t.Fatalf("agent exited with code %d %s after its first certificate was issued (renewed %d times): %s",
				code, time.Since(issued).Round(100*time.Millisecond), renewals(), lastLine(a.Stderr()))
		}
		if n.Status != api.NodeReady {
			t.Fatalf("node %s %s %s after its first certificate was issued", n.Name, n.Status, time.Since(issued).Round(100*time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}
	last, err := srv.Node(t, "renew-1")
	if err != nil {
		t.Fatal(err)
	}
	if last.CertExpires == nil || !last.CertExpires.After(first.CertExpires.Add(3*time.Second)) {
		t.Errorf("cert_expires = %v, want later than %v + 3s", last.CertExpires, *first.CertExpires)
	}
	if last.CertExpires != nil && !last.CertExpires.After(time.Now()) {
		t.Errorf("cert_expires %v is in the past", *last.CertExpires)
	}
	// Every 4 s over 11 s: two renewals, three at most.
	if n := renewals(); n < 2 || n > 4 {
		t.Errorf("certificate renewed %d times in %s, want 2-3 (at 2/3 of %s)", n, time.Since(issued).Round(time.Second), certTTL)
	}
}
