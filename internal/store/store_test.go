package store_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
	"corral/internal/etcd"
	"corral/internal/pki"
	"corral/internal/store"
)

func newStore(t *testing.T) (*store.Store, *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	e, err := etcd.Start(ctx, etcd.Config{DataDir: t.TempDir(), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0", ReadyTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	sealer, err := pki.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return store.New(e.Client(), sealer, nil), e.Client()
}

func TestStore(t *testing.T) {
	s, cli := newStore(t)
	// Subtests share one etcd: starting one takes ~100 ms.
	t.Run("nodes", func(t *testing.T) { testNodes(t, s) })
	t.Run("heartbeat", func(t *testing.T) { testHeartbeat(t, s, cli) })
	t.Run("apply", func(t *testing.T) { testApply(t, s, cli) })
	t.Run("ca", func(t *testing.T) { testCA(t, s) })
	t.Run("tokens", func(t *testing.T) { testTokens(t, s) })
	t.Run("mirror", func(t *testing.T) { testMirror(t, s, cli) })
}

func testNodes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	n := store.NodeRecord{Name: "n1", AgentLabels: map[string]string{"role": "web", "zone": "a"}}
	if err := s.CreateNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNode(ctx, n); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second create: got %v, want ErrExists", err)
	}
	got, err := s.UpdateNode(ctx, "n1", func(r *store.NodeRecord) error {
		r.Labels = map[string]string{"role": "api"}
		r.Removed = []string{"zone"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := got.EffectiveLabels(); l["role"] != "api" || l["zone"] != "" || len(l) != 1 {
		t.Fatalf("effective labels = %v, want role=api only", l)
	}
	if _, err := s.UpdateNode(ctx, "nope", func(*store.NodeRecord) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	// Concurrent updates all land (compare-and-swap with retries).
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.UpdateNode(ctx, "n1", func(r *store.NodeRecord) error {
				r.Labels[string(rune('a'+i))] = "x"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	got, _ = s.GetNode(ctx, "n1")
	if len(got.Labels) != 11 {
		t.Fatalf("after concurrent updates labels = %v, want 11", got.Labels)
	}
	if err := s.DeleteNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNode(ctx, "n1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testHeartbeat(t *testing.T, s *store.Store, cli *clientv3.Client) {
	ctx := context.Background()
	lease, err := s.Heartbeat(ctx, "hb", 2*time.Second, 0)
	if err != nil || lease == 0 {
		t.Fatalf("first heartbeat: lease %v err %v", lease, err)
	}
	// A server that forgot the lease (restart) finds it from the alive key.
	again, err := s.Heartbeat(ctx, "hb", 2*time.Second, 0)
	if err != nil || again != lease {
		t.Fatalf("heartbeat without known lease: got %v (%v), want the same lease %v", again, err, lease)
	}
	alive, _ := s.Alive(ctx)
	if !alive["hb"] {
		t.Fatalf("alive = %v, want hb", alive)
	}
	// Without heartbeats the lease expires and the node is no longer alive.
	deadline := time.Now().Add(6 * time.Second)
	for {
		alive, _ = s.Alive(ctx)
		if !alive["hb"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node still alive 6s after its 2s lease")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The next heartbeat with the dead lease gets a new one.
	fresh, err := s.Heartbeat(ctx, "hb", 2*time.Second, lease)
	if err != nil || fresh == lease || fresh == 0 {
		t.Fatalf("heartbeat after expiry: %v (%v), want a new lease", fresh, err)
	}
	if alive, _ = s.Alive(ctx); !alive["hb"] {
		t.Fatal("not alive after a fresh heartbeat")
	}
}

func testApply(t *testing.T, s *store.Store, cli *clientv3.Client) {
	ctx := context.Background()
	secret := store.Change{Kind: "Secret", Name: "db", Spec: json.RawMessage(`{"name":"db","value":"hunter2"}`), Secret: true}
	plain := store.Change{Kind: "Thing", Name: "a", Spec: json.RawMessage(`{"name":"a"}`)}
	plans, err := s.Apply(ctx, []store.Change{secret, plain}, "test", true)
	if err != nil || plans[0].Action != api.ActionCreated {
		t.Fatalf("dry apply: %v %v", plans, err)
	}
	if _, err := s.GetResource(ctx, "Secret", "db"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dry run stored something: %v", err)
	}
	if _, err := s.Apply(ctx, []store.Change{secret, plain}, "test", false); err != nil {
		t.Fatal(err)
	}
	// The secret is sealed at rest: its plain value is nowhere in etcd.
	resp, _ := cli.Get(ctx, store.ResourceKey("Secret", "db"))
	if strings.Contains(string(resp.Kvs[0].Value), "hunter2") {
		t.Fatal("secret stored in plain text")
	}
	rec, _ := s.GetResource(ctx, "Secret", "db")
	if spec, err := s.PlainSpec(rec); err != nil || !strings.Contains(string(spec), "hunter2") {
		t.Fatalf("unseal: %s %v", spec, err)
	}
	plain.Spec = json.RawMessage(`{"name":"a","x":1}`)
	plans, err = s.Apply(ctx, []store.Change{secret, plain}, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if plans[0].Action != api.ActionUnchanged || plans[0].Version != 1 || plans[1].Action != api.ActionChanged || plans[1].Version != 2 {
		t.Fatalf("second apply = %+v", plans)
	}
	if err := s.DeleteResource(ctx, "Thing", "a", 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete at a stale version: %v, want ErrConflict", err)
	}
	if err := s.DeleteResource(ctx, "Thing", "a", 2); err != nil {
		t.Fatal(err)
	}
}

func testCA(t *testing.T, s *store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	certs := make([]string, 4)
	for i := range certs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, _, _, err := s.InitCA(ctx, func() ([]byte, []byte, error) {
				ca, err := pki.NewCA("test", time.Now())
				if err != nil {
					return nil, nil, err
				}
				k, err := ca.KeyPEM()
				return ca.CertPEM, k, err
			})
			if err != nil {
				t.Error(err)
			}
			certs[i] = string(c)
		}(i)
	}
	wg.Wait()
	for i := range certs {
		if certs[i] != certs[0] || certs[i] == "" {
			t.Fatal("servers starting at once got different CAs")
		}
	}
}

func testTokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	tok := store.TokenRecord{Token: api.Token{ID: "0123456789abcdef", Role: api.RoleViewer, CreatedAt: time.Now()}, Hash: "h"}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokeToken(ctx, tok.ID)
	if err != nil || got.RevokedAt == nil {
		t.Fatalf("revoke: %+v %v", got, err)
	}
	if _, err := s.RevokeToken(ctx, "ffffffffffffffff"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func testMirror(t *testing.T, s *store.Store, cli *clientv3.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cli.Put(ctx, "/mirror/a", "1")
	m := store.NewMirror(cli, "/mirror/", store.Decoder[int]())
	go m.Run(ctx)
	<-m.Ready()
	if v, ok := m.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("initial load: %q %v", v, ok)
	}
	if v, ok := m.Value("a"); !ok || v.(int) != 1 {
		t.Fatalf("decoded value: %v %v", v, ok)
	}
	_, changed := m.Gen()
	cli.Put(ctx, "/mirror/b", "2")
	cli.Delete(ctx, "/mirror/a")
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("mirror did not see a change")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, _ := m.Snapshot()
		vals, _ := m.Values()
		if _, hasA := items["a"]; !hasA && string(items["b"]) == "2" && vals["b"] == 2 && len(vals) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror = %v, want only b=2", items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
