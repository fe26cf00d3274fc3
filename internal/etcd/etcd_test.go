package etcd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/etcd"
	"corral/internal/etcd/etcdtest"
)

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func startEmbedded(t *testing.T, dir string, lg *slog.Logger) *etcd.Etcd {
	t.Helper()
	start := time.Now()
	e, err := etcd.Start(context.Background(), etcd.Config{
		DataDir:    dir,
		ClientAddr: "127.0.0.1:0",
		PeerAddr:   "127.0.0.1:0",
		Logger:     lg,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("embedded Start took %s", time.Since(start))
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func put(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %d values", key, len(resp.Kvs))
	}
	return string(resp.Kvs[0].Value)
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	lg, logs := testLogger(t)
	dir := t.TempDir() + "/etcd"

	e := startEmbedded(t, dir, lg)
	if !e.Embedded() || e.ClientAddr() == "" || e.PeerAddr() == "" {
		t.Fatalf("embedded=%v client=%q peer=%q", e.Embedded(), e.ClientAddr(), e.PeerAddr())
	}
	if strings.HasSuffix(e.ClientAddr(), ":0") || strings.HasSuffix(e.PeerAddr(), ":0") {
		t.Fatalf("port 0 not resolved: client=%q peer=%q", e.ClientAddr(), e.PeerAddr())
	}
	if err := e.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	put(t, e.Client(), "/corral/test", "hello")
	if got := get(t, e.Client(), "/corral/test"); got != "hello" {
		t.Fatalf("get = %q, want hello", got)
	}
	closed := time.Now()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(closed); d > 3*time.Second {
		t.Fatalf("Close took %s", d)
	}
	t.Logf("Close took %s", time.Since(closed))
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-e.Err():
		t.Fatalf("Err after Close: %v", err)
	default:
	}

	e = startEmbedded(t, dir, lg)
	if got := get(t, e.Client(), "/corral/test"); got != "hello" {
		t.Fatalf("after restart get = %q, want hello", got)
	}
	if err := e.Check(context.Background()); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	if !strings.Contains(logs.String(), "cluster_state=existing") {
		t.Errorf("restart did not use cluster state existing")
	}
	if !strings.Contains(logs.String(), "component=etcd") {
		t.Errorf("no component=etcd in logs")
	}
}

func TestEmbeddedAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = etcd.Start(context.Background(), etcd.Config{
		DataDir:    t.TempDir(),
		ClientAddr: l.Addr().String(),
		PeerAddr:   "127.0.0.1:0",
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a used port: err = %v", err)
	}
}

func TestExternalUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	start := time.Now()
	_, err = etcd.Start(context.Background(), etcd.Config{
		Endpoints:    []string{addr},
		ReadyTimeout: time.Second,
	})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Start with a closed port succeeded")
	}
	t.Logf("error after %s: %v", took, err)
	want := "external etcd at http://" + addr + " not reachable after 1s"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if took > 3*time.Second {
		t.Errorf("took %s, want about 1s", took)
	}
}

func TestExternalCluster(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3)
	lg, _ := testLogger(t)
	eps := cluster.Endpoints()
	eps[1] = strings.TrimPrefix(eps[1], "http://") // both spellings work
	e, err := etcd.Start(context.Background(), etcd.Config{Endpoints: eps, Logger: lg, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer e.Close()
	if e.Embedded() || e.ClientAddr() != "" || e.Err() != nil {
		t.Fatalf("external: embedded=%v client=%q err chan=%v", e.Embedded(), e.ClientAddr(), e.Err())
	}
	if err := e.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	put(t, e.Client(), "k", "v1")
	if got := get(t, e.Client(), "k"); got != "v1" {
		t.Fatalf("get = %q", got)
	}

	checkLeaseTxnWatch(t, e.Client())

	leader := leaderIndex(t, e.Client(), cluster.Endpoints())
	t.Logf("killing the leader, member %d", leader)
	cluster.Kill(leader)
	// Losing the leader makes writes fail until a new one is elected.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := e.Client().Put(ctx, "k", "v2")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put after kill: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := get(t, e.Client(), "k"); got != "v2" {
		t.Fatalf("get after kill = %q", got)
	}
	if err := e.Check(context.Background()); err != nil {
		t.Fatalf("Check after kill: %v", err)
	}
}

func TestEmbeddedCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := etcd.Start(ctx, etcd.Config{DataDir: dir, ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a canceled context: err = %v", err)
	}
	// The half-started server was stopped: the directory can be used again.
	e := startEmbedded(t, dir, nil)
	if err := e.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func BenchmarkStartEmbedded(b *testing.B) {
	for b.Loop() {
		e, err := etcd.Start(context.Background(), etcd.Config{
			DataDir: b.TempDir(), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0",
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// checkLeaseTxnWatch uses the APIs store relies on, which Debian's etcd 3.4
// must serve to our 3.7 client.
func checkLeaseTxnWatch(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	wch := cli.Watch(ctx, "w/", clientv3.WithPrefix())
	lease, err := cli.Grant(ctx, 10)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	if _, err := cli.KeepAliveOnce(ctx, lease.ID); err != nil {
		t.Fatalf("keepalive: %v", err)
	}
	txn, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision("w/a"), "=", 0)).
		Then(clientv3.OpPut("w/a", "1", clientv3.WithLease(lease.ID))).
		Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("txn: succeeded=%v err=%v", txn != nil && txn.Succeeded, err)
	}
	select {
	case wr := <-wch:
		if err := wr.Err(); err != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != "w/a" {
			t.Fatalf("watch: err=%v events=%v", err, wr.Events)
		}
	case <-ctx.Done():
		t.Fatal("watch: no event")
	}
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if resp, err := cli.Get(ctx, "w/a"); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("after revoke: kvs=%v err=%v", resp, err)
	}
}

// leaderIndex returns the index in eps of the member that leads.
func leaderIndex(t *testing.T, cli *clientv3.Client, eps []string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, ep := range eps {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status %s: %v", ep, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no leader")
	return -1
}
