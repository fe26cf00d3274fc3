// Package store is Corral's cluster state: typed repositories over etcd for
// nodes and their liveness leases, tokens, users, the CA, resources and node
// assignments. Only server imports it (and tests).
//
// Key layout (all under Prefix):
//
//	nodes/<name>              NodeRecord (JSON)
//	alive/<name>              "" attached to the node's lease
//	tokens/<id>               TokenRecord
//	users/<name>              UserRecord
//	pki/ca                    CARecord (key sealed with the cluster key)
//	resources/<Kind>/<name>   ResourceRecord (spec sealed for secret kinds)
//	assign/<node>/<key>       what a node must run or hold, watched by its agent
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is the root of every key Corral writes in etcd.
const Prefix = "/corral/"

// Sentinel errors for expected outcomes.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("changed concurrently")
	ErrExists   = errors.New("already exists")
)

// Sealer encrypts values at rest with the cluster key.
type Sealer interface {
	Seal(plaintext []byte) []byte
	Open(sealed []byte) ([]byte, error)
}

// Store is the etcd-backed cluster state.
type Store struct {
	cli    *clientv3.Client
	sealer Sealer
	now    func() time.Time
}

// New returns a Store over cli. now may be nil (time.Now).
func New(cli *clientv3.Client, sealer Sealer, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{cli: cli, sealer: sealer, now: now}
}

// Client returns the etcd client (for elections and watches in server).
func (s *Store) Client() *clientv3.Client { return s.cli }

func key(parts ...string) string {
	k := Prefix
	for i, p := range parts {
		if i > 0 {
			k += "/"
		}
		k += p
	}
	return k
}

// getJSON reads key into v and returns its mod revision.
func (s *Store) getJSON(ctx context.Context, k string, v any) (int64, error) {
	resp, err := s.cli.Get(ctx, k)
	if err != nil {
		return 0, fmt.Errorf("etcd get %s: %w", k, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotFound
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", k, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// putJSON writes v at key if its mod revision is still rev (0: must not exist).
func (s *Store) putJSON(ctx context.Context, k string, v any, rev int64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	var cmp clientv3.Cmp
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	} else {
		cmp = clientv3.Compare(clientv3.ModRevision(k), "=", rev)
	}
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(k, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("etcd put %s: %w", k, err)
	}
	if !resp.Succeeded {
		if rev == 0 {
			return ErrExists
		}
		return ErrConflict
	}
	return nil
}

// listJSON decodes every value under prefix with decode.
func (s *Store) listJSON(ctx context.Context, prefix string, decode func(k, v []byte) error) error {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("etcd list %s: %w", prefix, err)
	}
	for _, kv := range resp.Kvs {
		if err := decode(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
	}
	return nil
}

// update runs a read-modify-write of key with retries on conflict.
func update[T any](ctx context.Context, s *Store, k string, fn func(*T) error) (T, error) {
	for attempt := 0; ; attempt++ {
		var v T
		rev, err := s.getJSON(ctx, k, &v)
		if err != nil {
			return v, err
		}
		if err := fn(&v); err != nil {
			return v, err
		}
		err = s.putJSON(ctx, k, &v, rev)
		if errors.Is(err, ErrConflict) && attempt < 10 {
			continue
		}
		return v, err
	}
}

// Check is a linearizable read, for readiness.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.cli.Get(ctx, key("ready"), clientv3.WithCountOnly())
	return err
}
