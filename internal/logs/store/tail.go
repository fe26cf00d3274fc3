package store

import (
	"context"
	"errors"
	"sync"

	"corral/internal/api"
	"corral/internal/logs/query"
)

// ErrTailLagged ends a Tail whose reader fell more than tailBuffer batches
// behind the appends; the caller may search from its last entry and tail
// again.
var ErrTailLagged = errors.New("log tail fell behind")

const tailBuffer = 1024

// tailHub hands appended entries to live tails: Append publishes after its
// commit, in its own goroutine, without waiting for the readers.
type tailHub struct {
	mu     sync.Mutex
	subs   map[*tailSub]struct{}
	lagged int64
	closed bool
	done   chan struct{}
}

type tailSub struct {
	q      *query.Query
	ch     chan []api.LogEntry
	lagged bool
}

func (h *tailHub) init() {
	h.subs = map[*tailSub]struct{}{}
	h.done = make(chan struct{})
}

func (h *tailHub) publish(entries []api.LogEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if sub.lagged {
			continue
		}
		var out []api.LogEntry
		for i := range entries {
			if query.Match(sub.q, &entries[i]) {
				out = append(out, entries[i])
			}
		}
		if len(out) == 0 {
			continue
		}
		select {
		case sub.ch <- out:
		default:
			sub.lagged = true
			h.lagged++
			close(sub.ch)
		}
	}
}

func (h *tailHub) stats() (subs int, lagged int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs), h.lagged
}

func (h *tailHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// Tail calls fn, in order, with every entry matching q (nil: all) that is
// appended after Tail was called, until ctx ends (it returns ctx.Err()), fn
// returns an error (returned), the store closes (ErrClosed) or the reader
// falls behind (ErrTailLagged). Entries are handed over by Append itself,
// right after its commit.
func (s *Store) Tail(ctx context.Context, q *query.Query, fn func(api.LogEntry) error) error {
	return s.tail.run(ctx, q, fn, nil)
}

func (h *tailHub) run(ctx context.Context, q *query.Query, fn func(api.LogEntry) error, started chan<- struct{}) error {
	sub := &tailSub{q: q, ch: make(chan []api.LogEntry, tailBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.subs[sub] = struct{}{}
	h.mu.Unlock()
	if started != nil {
		close(started)
	}
	defer func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.done:
			return ErrClosed
		case batch, ok := <-sub.ch:
			if !ok {
				return ErrTailLagged
			}
			for _, e := range batch {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
	}
}

// tailStarted is Tail that closes started once it is registered (tests).
func (s *Store) tailStarted(ctx context.Context, q *query.Query, fn func(api.LogEntry) error, started chan<- struct{}) error {
	return s.tail.run(ctx, q, fn, started)
}
