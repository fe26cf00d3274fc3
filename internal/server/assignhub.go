package server

import (
	"context"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
	"corral/internal/store"
)

// assignHub follows every node's assignments with one etcd watch and hands
// each change to the watch streams of that node's agents; a change of the
// shared assignments (store.SharedAssignNode) goes to every stream. A thousand agents
// are one etcd watcher instead of a thousand (etcd matches every write
// against every watcher).
type assignHub struct {
	cli    *clientv3.Client
	prefix string // store.AssignPrefix("") without the empty node

	mu   sync.Mutex
	rev  int64 // every change up to rev has been handed out
	subs map[string]map[*assignSub]struct{}
}

// assignSub is one agent's stream: changes of its node after after.
type assignSub struct {
	node   string
	after  int64
	mu     sync.Mutex
	queue  []api.Assignment // handed out, not yet taken
	notify chan struct{}    // a token when queue became non-empty
	gone   chan struct{}    // closed when the hub drops it (too slow, or the hub restarted)
	once   sync.Once
}

// subBacklog is how many changes a stream may lag behind before it is
// dropped (its agent reconnects and gets a fresh snapshot).
const subBacklog = 100_000

func newSub(node string, after int64) *assignSub {
	return &assignSub{node: node, after: after, notify: make(chan struct{}, 1), gone: make(chan struct{})}
}

// push queues a change; false when the stream is too far behind.
func (s *assignSub) push(a api.Assignment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= subBacklog {
		return false
	}
	s.queue = append(s.queue, a)
	if len(s.queue) == 1 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns the queued changes, oldest first.
func (s *assignSub) take() []api.Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

func (s *assignSub) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func newAssignHub(cli *clientv3.Client) *assignHub {
	p := store.AssignPrefix("")
	return &assignHub{cli: cli, prefix: p[:len(p)-1], subs: map[string]map[*assignSub]struct{}{}}
}

// Run follows the assignments until ctx ends, starting again (and dropping
// every stream) when the watch is lost.
func (h *assignHub) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		resp, err := h.cli.Get(ctx, h.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil {
			h.restart(resp.Header.Revision)
			h.follow(ctx, resp.Header.Revision)
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			break
		}
	}
	h.restart(0)
	return nil
}

// restart drops every stream and sets the revision the hub starts from.
func (h *assignHub) restart(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for s := range subs {
			s.drop()
		}
	}
	h.subs = map[string]map[*assignSub]struct{}{}
	h.rev = rev
}

func (h *assignHub) follow(ctx context.Context, rev int64) {
	_ = store.WatchPrefix(ctx, h.cli, h.prefix, rev, func(wr clientv3.WatchResponse) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key[len(h.prefix):])
			node, key, ok := strings.Cut(k, "/")
			if !ok {
				continue
			}
			a := api.Assignment{Rev: ev.Kv.ModRevision, Type: "put", Key: key, Value: ev.Kv.Value}
			if ev.Type == clientv3.EventTypeDelete {
				a.Type, a.Value = "delete", nil
			}
			if node == store.SharedAssignNode {
				for n := range h.subs {
					h.hand(n, a)
				}
			} else {
				h.hand(node, a)
			}
		}
		if wr.Header.Revision > h.rev {
			h.rev = wr.Header.Revision
		}
		return nil
	})
}

// hand queues a change for every stream of node (h.mu held), dropping a
// stream that lags too far behind.
func (h *assignHub) hand(node string, a api.Assignment) {
	for s := range h.subs[node] {
		if a.Rev <= s.after {
			continue
		}
		if !s.push(a) {
			s.drop()
			delete(h.subs[node], s)
		}
	}
}

// subscribe registers a stream for node's changes after revision after. It
// fails (nil) when the hub has already handed out changes after that
// revision: the caller starts over with a snapshot.
func (h *assignHub) subscribe(node string, after int64) *assignSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rev == 0 || after < h.rev {
		return nil
	}
	s := newSub(node, after)
	if h.subs[node] == nil {
		h.subs[node] = map[*assignSub]struct{}{}
	}
	h.subs[node][s] = struct{}{}
	return s
}

// subscribeNow registers a stream for every change from now on, for a
// snapshot taken next (the caller skips changes up to the snapshot's
// revision).
func (h *assignHub) subscribeNow(node string) (*assignSub, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rev == 0 {
		return nil, false
	}
	s := newSub(node, h.rev)
	if h.subs[node] == nil {
		h.subs[node] = map[*assignSub]struct{}{}
	}
	h.subs[node][s] = struct{}{}
	return s, true
}

func (h *assignHub) unsubscribe(s *assignSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[s.node], s)
	if len(h.subs[s.node]) == 0 {
		delete(h.subs, s.node)
	}
}

func (s *assignSub) drop() { s.once.Do(func() { close(s.gone) }) }

// current returns a revision the stream is known to be current to: the
// hub's, when none of the node's changes wait in the stream.
func (h *assignHub) current(s *assignSub) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.pending() > 0 {
		return 0, false
	}
	return h.rev, true
}
