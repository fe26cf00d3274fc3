package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"corral/internal/api"
	"corral/internal/etcd/etcdtest"
)

// leaderIndex returns the index in endpoints of the etcd leader.
func leaderIndex(t *testing.T, endpoints []string) int {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, ep := range endpoints {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("etcd status of %s: %v", ep, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no etcd member is the leader")
	return -1
}

// TestExternalEtcd runs a server on a three-member cluster of Debian's etcd:
// an agent joins and apply works, and both keep working when the leader is
// killed.
func TestExternalEtcd(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.StartCluster(t, 3)
	srv := StartServer(t, ServerOptions{EtcdEndpoints: cluster.Endpoints()})
	admin := srv.Admin(t)
	ctx := testCtx(t)

	a := StartAgent(t, srv, AgentOptions{Name: "ext-1", Labels: []string{"role=web"}})
	a.WaitReady()
	applySecret := func(name string) error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := admin.Apply(actx, api.ApplyRequest{Documents: []api.Document{
			{Body: map[string]any{"kind": "Secret", "name": name, "value": "v-" + name}}}})
		return err
	}
	if err := applySecret("before-kill"); err != nil {
		t.Fatal(err)
	}

	// Kill the leader: the harder case (an election, and the server's
	// client and watches move to another member).
	leader := leaderIndex(t, cluster.Endpoints())
	cluster.Kill(leader)
	killed := time.Now()
	t.Logf("killed member %d, the leader", leader)

	// Writes work again within an election or two.
	eventually(t, 20*time.Second, func() error { return applySecret("after-kill") })
	t.Logf("apply works %s after killing a member", time.Since(killed).Round(10*time.Millisecond))
	for _, name := range []string{"before-kill", "after-kill"} {
		r, err := admin.Resource(ctx, "Secret", name, true)
		if err != nil || string(r.Spec) != fmt.Sprintf(`{"name":%q,"value":"v-%s"}`, name, name) {
			t.Errorf("secret %s: %s, %v", name, r.Spec, err)
		}
	}

	// A token made now works at once (the server follows etcd through its
	// watches), and a second agent joins with it.
	eventually(t, 20*time.Second, func() error {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		nt, err := admin.CreateToken(tctx, api.TokenRequest{Role: api.RoleViewer})
		if err != nil {
			return err
		}
		if _, err := srv.Client(t, nt.Secret).Whoami(tctx); err != nil {
			return fmt.Errorf("new token: %w", err)
		}
		return nil
	})
	b := StartAgent(t, srv, AgentOptions{Name: "ext-2"})
	b.WaitReady()

	// The first node keeps its lease on the surviving members: its agent
	// heartbeats on, and it is ready a lease TTL after the kill.
	eventually(t, readyTimeout, func() error {
		n, err := srv.Node(t, "ext-1")
		if err != nil {
			return err
		}
		if n.Status != api.NodeReady {
			return fmt.Errorf("node ext-1 is %s", n.Status)
		}
		if time.Since(killed) < 6*time.Second || n.LastSeen == nil || !n.LastSeen.After(killed.Add(time.Second)) {
			return fmt.Errorf("node ext-1 last seen %v, member killed at %v", n.LastSeen, killed)
		}
		return nil
	})
	if exited, code := a.Exited(); exited {
		t.Errorf("agent ext-1 exited with code %d", code)
	}
	if err := srv.Admin(t).Readyz(ctx); err != nil {
		t.Errorf("readyz with two of three members: %v", err)
	}
}
