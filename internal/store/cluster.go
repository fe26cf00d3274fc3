package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
)

// The cluster's keys (apps and jobs themselves are resources of kinds App
// and Job): task records, their assignments to nodes, running deployments,
// the scheduler's per-app state, restart counters and active job runs.

// TaskKey is the key of a task record (api.Task).
func TaskKey(id string) string { return key("tasks", id) }

// TasksPrefix is the prefix of every task record.
func TasksPrefix() string { return key("tasks") + "/" }

// TaskStatusKey is the key of the last status an agent reported of a task
// (api.TaskStatus). It is apart from the task record so that reports
// (any server) and the leader's decisions never write the same key.
func TaskStatusKey(id string) string { return key("taskstatus", id) }

// TaskStatusPrefix is the prefix of the task statuses.
func TaskStatusPrefix() string { return key("taskstatus") + "/" }

// TaskAssignKey is the assignment key of a task on its node ("task/<id>"
// under the node's assignment prefix).
func TaskAssignKey(node, id string) string { return AssignPrefix(node) + "task/" + id }

// DeploymentKey is the key of a running deployment (api.Deployment).
func DeploymentKey(id string) string { return key("deployments", id) }

// DeploymentsPrefix is the prefix of the running deployments.
func DeploymentsPrefix() string { return key("deployments") + "/" }

// AppStateKey is the key of the scheduler's record of an app.
func AppStateKey(app string) string { return key("appstate", app) }

// AppStatePrefix is the prefix of the scheduler's app records.
func AppStatePrefix() string { return key("appstate") + "/" }

// RestartKey is the key of an app's restart counter (a decimal number).
func RestartKey(app string) string { return key("restarts", app) }

// RestartsPrefix is the prefix of the restart counters.
func RestartsPrefix() string { return key("restarts") + "/" }

// JobRunKey is the key of an active job run (api.JobRun).
func JobRunKey(id string) string { return key("jobruns", id) }

// JobRunsPrefix is the prefix of the active job runs.
func JobRunsPrefix() string { return key("jobruns") + "/" }

// JobStateKey is the key of the scheduler's record of a job.
func JobStateKey(job string) string { return key("jobstate", job) }

// JobStatePrefix is the prefix of the scheduler's job records.
func JobStatePrefix() string { return key("jobstate") + "/" }

// maxOpsPerTxn stays below etcd's --max-txn-ops (1024 by default here).
const maxOpsPerTxn = 1000

// Op is one write of a batch: Value nil deletes Key (with Prefix, every key
// under it).
type Op struct {
	Key    string
	Value  any
	Prefix bool
}

// Put returns an Op writing v as JSON at k.
func Put(k string, v any) Op { return Op{Key: k, Value: v} }

// Del returns an Op deleting k.
func Del(k string) Op { return Op{Key: k} }

// batchInFlight is how many transactions of a Batch are committed at once:
// etcd applies and syncs concurrent transactions together.
const batchInFlight = 4

// Batch writes groups of ops: each group in the same etcd transaction (a
// task record and its assignment), groups packed into transactions of at
// most maxOpsPerTxn operations, up to batchInFlight of them committed at
// once. A group touching a key already written by the Batch starts a new
// transaction after every earlier one has committed (etcd refuses a key
// twice in one transaction), so a later write of a key wins. It is not
// atomic across transactions; it stops at the first failure. It returns the
// highest etcd revision it wrote (0 when it wrote nothing), for
// Mirror.WaitRev.
func (s *Store) Batch(ctx context.Context, groups [][]Op) (int64, error) {
	type txn struct {
		ops     []clientv3.Op
		barrier bool // commit only after every earlier transaction
	}
	var txns []txn
	cur := txn{}
	keys := map[string]bool{}
	for _, g := range groups {
		clash := false
		for _, o := range g {
			clash = clash || keys[o.Key] || (o.Prefix && len(keys) > 0)
		}
		if clash || len(cur.ops)+len(g) > maxOpsPerTxn {
			if len(cur.ops) > 0 {
				txns = append(txns, cur)
			}
			cur = txn{barrier: clash}
			if clash {
				clear(keys)
			}
		}
		for _, o := range g {
			keys[o.Key] = true
			if o.Value == nil {
				if o.Prefix {
					cur.ops = append(cur.ops, clientv3.OpDelete(o.Key, clientv3.WithPrefix()))
				} else {
					cur.ops = append(cur.ops, clientv3.OpDelete(o.Key))
				}
				continue
			}
			b, err := json.Marshal(o.Value)
			if err != nil {
				return 0, fmt.Errorf("encode %s: %w", o.Key, err)
			}
			cur.ops = append(cur.ops, clientv3.OpPut(o.Key, string(b)))
		}
	}
	if len(cur.ops) > 0 {
		txns = append(txns, cur)
	}

	var (
		mu    sync.Mutex
		rev   int64
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, batchInFlight)
	for _, t := range txns {
		if t.barrier {
			wg.Wait()
		}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := s.cli.Txn(ctx).Then(t.ops...).Commit()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("etcd batch: %w", err)
				}
				return
			}
			rev = max(rev, resp.Header.Revision)
		}()
	}
	wg.Wait()
	return rev, first
}

// UpdateTask changes a task record with fn, which returns false to leave
// it as it is. A missing task is ErrNotFound.
func (s *Store) UpdateTask(ctx context.Context, id string, fn func(*api.Task) bool) (api.Task, error) {
	errSkip := errors.New("skip")
	t, err := update(ctx, s, TaskKey(id), func(t *api.Task) error {
		if !fn(t) {
			return errSkip
		}
		return nil
	})
	if errors.Is(err, errSkip) {
		return t, nil
	}
	return t, err
}

// UpdateJSON is a read-modify-write of any JSON record with retries on
// conflict; fn returning an error leaves it unchanged.
func UpdateJSON[T any](ctx context.Context, s *Store, k string, fn func(*T) error) (T, error) {
	return update(ctx, s, k, fn)
}

// PutJSONIfAbsent writes v at k unless k exists (ErrExists).
func (s *Store) PutJSONIfAbsent(ctx context.Context, k string, v any) error {
	return s.putJSON(ctx, k, v, 0)
}

// IncrRestart adds one to an app's restart counter and returns the new value.
func (s *Store) IncrRestart(ctx context.Context, app string) (int, error) {
	k := RestartKey(app)
	for attempt := 0; attempt < 20; attempt++ {
		resp, err := s.cli.Get(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("etcd get %s: %w", k, err)
		}
		n, rev := 0, int64(0)
		if len(resp.Kvs) > 0 {
			n, _ = strconv.Atoi(string(resp.Kvs[0].Value))
			rev = resp.Kvs[0].ModRevision
		}
		cmp := clientv3.Compare(clientv3.ModRevision(k), "=", rev)
		tr, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(k, strconv.Itoa(n+1))).Commit()
		if err != nil {
			return 0, fmt.Errorf("etcd put %s: %w", k, err)
		}
		if tr.Succeeded {
			return n + 1, nil
		}
	}
	return 0, ErrConflict
}

// ListVersions returns the stored versions of a versioned resource, oldest
// first.
func (s *Store) ListVersions(ctx context.Context, kind, name string) ([]ResourceRecord, error) {
	var out []ResourceRecord
	err := s.listJSON(ctx, VersionsPrefix(kind, name), func(_, v []byte) error {
		var r ResourceRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// GetVersion reads one stored version of a versioned resource.
func (s *Store) GetVersion(ctx context.Context, kind, name string, version int64) (ResourceRecord, error) {
	var r ResourceRecord
	_, err := s.getJSON(ctx, VersionKey(kind, name, version), &r)
	return r, err
}
