package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Mirror keeps an in-memory copy of every key under a prefix, loaded once and
// then followed with an etcd watch. Hot read paths (listing nodes, checking a
// token on every request) read the mirror instead of etcd.
type Mirror struct {
	cli    *clientv3.Client
	prefix string
	decode func([]byte) (any, error)

	mu      sync.RWMutex
	items   map[string][]byte // key without prefix → value
	values  map[string]any    // key without prefix → decoded value
	gen     uint64            // grows with every change
	ready   chan struct{}
	changed chan struct{} // closed and replaced on every change
	rev     int64         // the etcd revision the mirror is known to be at
	revCh   chan struct{} // closed and replaced when rev grows
}

// NewMirror returns a Mirror of prefix; call Run. decode, when not nil,
// decodes every value once as it arrives (Value returns it); a value it
// cannot decode is kept raw only.
func NewMirror(cli *clientv3.Client, prefix string, decode func([]byte) (any, error)) *Mirror {
	return &Mirror{cli: cli, prefix: prefix, decode: decode, items: map[string][]byte{}, values: map[string]any{},
		ready: make(chan struct{}), changed: make(chan struct{}), revCh: make(chan struct{})}
}

// Decoder returns a decode function for NewMirror that decodes JSON into T.
func Decoder[T any]() func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var v T
		err := json.Unmarshal(b, &v)
		return v, err
	}
}

func (m *Mirror) setLocked(k string, v []byte) {
	m.items[k] = v
	if m.decode == nil {
		return
	}
	if val, err := m.decode(v); err == nil {
		m.values[k] = val
	} else {
		delete(m.values, k)
	}
}

// Run loads and follows the prefix until ctx ends. After a lost watch
// (compaction, etcd restart) it loads again.
func (m *Mirror) Run(ctx context.Context) error {
	for {
		rev, err := m.load(ctx)
		if err == nil {
			err = m.follow(ctx, rev)
		}
		if ctx.Err() != nil {
			return nil
		}
		_ = err // lost the watch or etcd is away: load again after a pause
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (m *Mirror) load(ctx context.Context) (int64, error) {
	resp, err := m.cli.Get(ctx, m.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("load %s: %w", m.prefix, err)
	}
	m.mu.Lock()
	m.items = make(map[string][]byte, len(resp.Kvs))
	m.values = make(map[string]any, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m.setLocked(string(kv.Key[len(m.prefix):]), kv.Value)
	}
	m.bumpLocked()
	m.setRevLocked(resp.Header.Revision)
	m.mu.Unlock()
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
	return resp.Header.Revision, nil
}

// WatchPrefix follows the changes under prefix after revision rev,
// calling fn with each watch response, until ctx ends (nil), the watch
// fails or ends, or fn returns an error. It returns at ctx's end even while
// etcd's watch channel stays open (the client keeps it open while it sets
// the watch stream up again, which can outlast the context).
func WatchPrefix(ctx context.Context, cli *clientv3.Client, prefix string, rev int64, fn func(clientv3.WatchResponse) error) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-ctx.Done():
			return nil
		case wr, ok := <-wch:
			if !ok {
				return fmt.Errorf("watch %s ended", prefix)
			}
			if err := wr.Err(); err != nil {
				return err
			}
			if err := fn(wr); err != nil {
				return err
			}
		}
	}
}

func (m *Mirror) follow(ctx context.Context, rev int64) error {
	return WatchPrefix(ctx, m.cli, m.prefix, rev, func(wr clientv3.WatchResponse) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if wr.IsProgressNotify() {
			m.setRevLocked(wr.Header.Revision)
			return nil
		}
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key[len(m.prefix):])
			if ev.Type == clientv3.EventTypeDelete {
				delete(m.items, k)
				delete(m.values, k)
			} else {
				m.setLocked(k, ev.Kv.Value)
			}
		}
		m.bumpLocked()
		m.setRevLocked(wr.Header.Revision)
		return nil
	})
}

func (m *Mirror) setRevLocked(rev int64) {
	if rev > m.rev {
		m.rev = rev
		close(m.revCh)
		m.revCh = make(chan struct{})
	}
}

// WaitRev waits until the mirror holds every change up to etcd revision
// rev (the revision a write of this process returned), so that what is
// read from it next includes that write. It asks etcd for a progress
// notice when no change of the prefix comes.
func (m *Mirror) WaitRev(ctx context.Context, rev int64) error {
	for {
		m.mu.RLock()
		cur, ch := m.rev, m.revCh
		m.mu.RUnlock()
		if cur >= rev {
			return nil
		}
		_ = m.cli.RequestProgress(clientv3.WithRequireLeader(ctx)) // the watch's stream: same metadata
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

func (m *Mirror) bumpLocked() {
	m.gen++
	close(m.changed)
	m.changed = make(chan struct{})
}

// Ready is closed once the first load is done.
func (m *Mirror) Ready() <-chan struct{} { return m.ready }

// Get returns the value of key (without the prefix).
func (m *Mirror) Get(k string) ([]byte, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.items[k]
	return v, ok
}

// Value returns the decoded value of key (without the prefix).
func (m *Mirror) Value(k string) (any, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.values[k]
	return v, ok
}

// Values returns a copy of every decoded value and the generation it is of.
func (m *Mirror) Values() (map[string]any, uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.values), m.gen
}

// Snapshot returns a copy of every item and the generation it is of.
func (m *Mirror) Snapshot() (map[string][]byte, uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.items), m.gen
}

// Gen returns the current generation and a channel closed at the next change.
func (m *Mirror) Gen() (uint64, <-chan struct{}) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.gen, m.changed
}
