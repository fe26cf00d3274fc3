package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
	"corral/internal/store"
)

func TestBatch(t *testing.T) {
	s, cli := newStore(t)
	ctx := context.Background()
	// More groups than fit one transaction, and the same key written twice:
	// the later write wins.
	var groups [][]store.Op
	for i := range 700 {
		id := fmt.Sprintf("t%04d", i)
		groups = append(groups, []store.Op{store.Put(store.TaskKey(id), api.Task{ID: id, State: api.TaskStaging}),
			store.Put(store.TaskAssignKey("n1", id), api.TaskAssignment{ID: id})})
	}
	groups = append(groups, []store.Op{store.Put(store.TaskKey("t0001"), api.Task{ID: "t0001", State: api.TaskRunning})},
		[]store.Op{store.Del(store.TaskKey("t0002"))})
	if _, err := s.Batch(ctx, groups); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, store.TasksPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 699 {
		t.Fatalf("tasks stored: %v %v", resp.Count, err)
	}
	got, err := s.UpdateTask(ctx, "t0001", func(tk *api.Task) bool { return false })
	if err != nil || got.State != api.TaskRunning {
		t.Fatalf("t0001 = %+v %v", got, err)
	}
	if _, err := s.UpdateTask(ctx, "t0002", func(*api.Task) bool { return true }); err != store.ErrNotFound {
		t.Fatalf("deleted task: %v", err)
	}
	n, err := s.IncrRestart(ctx, "/a")
	if n2, err2 := s.IncrRestart(ctx, "/a"); err != nil || err2 != nil || n != 1 || n2 != 2 {
		t.Fatalf("restarts %d %d %v %v", n, n2, err, err2)
	}
}

func TestMirrorWaitRev(t *testing.T) {
	s, cli := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := store.NewMirror(cli, store.TasksPrefix(), store.Decoder[api.Task]())
	go m.Run(ctx)
	<-m.Ready()
	rev, err := s.Batch(ctx, [][]store.Op{{store.Put(store.TaskKey("w1"), api.Task{ID: "w1"})}})
	if err != nil || rev == 0 {
		t.Fatal(rev, err)
	}
	if err := m.WaitRev(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Value("w1"); !ok {
		t.Fatal("the mirror does not hold the write it waited for")
	}
	// A write under another prefix: no event reaches this mirror, a
	// progress notice tells it where etcd stands.
	other, err := s.Batch(ctx, [][]store.Op{{store.Put(store.JobRunKey("r1"), api.JobRun{ID: "r1"})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitRev(ctx, other); err != nil {
		t.Fatalf("WaitRev(%d) with no event for the mirror: %v", other, err)
	}
}
