package store_test

import (
	"context"
	"fmt"
	"testing"

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
	if err := s.Batch(ctx, groups); err != nil {
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
