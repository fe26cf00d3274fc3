package event

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"corral/internal/api"
)

// ErrNotFound is returned by Store.Load for an (entity, check) without event.
var ErrNotFound = errors.New("event not found")

// Filter selects events in Store.List; empty fields match everything.
type Filter struct {
	Entity string
	Check  string
	// NonOK keeps only events whose status is not ok.
	NonOK bool
}

// Match reports whether ev passes the filter.
func (f Filter) Match(ev *api.Event) bool {
	return (f.Entity == "" || f.Entity == ev.Entity) &&
		(f.Check == "" || f.Check == ev.Check) &&
		(!f.NonOK || ev.Status != api.StatusOK)
}

// Store is the history store of events, one per (entity, check). Save gets
// batches (one transaction each); the Processor is its only writer.
type Store interface {
	Load(ctx context.Context, entity, check string) (*api.Event, error)
	Save(ctx context.Context, events []api.Event) error
	List(ctx context.Context, f Filter) ([]api.Event, error)
	Delete(ctx context.Context, entity, check string) error
}

// MemStore is a Store in memory, for tests and `corral dev` without disk.
type MemStore struct {
	mu sync.Mutex
	m  map[string]api.Event
	// Saves counts Save calls (batches).
	Saves int
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string]api.Event{}} }

// Load returns a copy of the event or ErrNotFound.
func (s *MemStore) Load(_ context.Context, entity, check string) (*api.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.m[entity+"/"+check]
	if !ok {
		return nil, ErrNotFound
	}
	c := clone(ev)
	return &c, nil
}

// Save stores copies of the events.
func (s *MemStore) Save(_ context.Context, events []api.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Saves++
	for _, ev := range events {
		s.m[ev.Key()] = clone(ev)
	}
	return nil
}

// List returns copies of the matching events sorted by entity and check.
func (s *MemStore) List(_ context.Context, f Filter) ([]api.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.Event
	for _, ev := range s.m {
		if f.Match(&ev) {
			out = append(out, clone(ev))
		}
	}
	sortEvents(out)
	return out, nil
}

// sortEvents orders events by entity, then check.
func sortEvents(evs []api.Event) {
	slices.SortFunc(evs, func(a, b api.Event) int {
		if c := strings.Compare(a.Entity, b.Entity); c != 0 {
			return c
		}
		return strings.Compare(a.Check, b.Check)
	})
}

// Delete removes an event; a missing one is not an error.
func (s *MemStore) Delete(_ context.Context, entity, check string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, entity+"/"+check)
	return nil
}

// clone copies the event's slices and map so the copy shares nothing
// mutable with ev.
func clone(ev api.Event) api.Event {
	ev.History = slices.Clone(ev.History)
	ev.Silenced = slices.Clone(ev.Silenced)
	ev.Subscriptions = slices.Clone(ev.Subscriptions)
	ev.Handlers = slices.Clone(ev.Handlers)
	ev.HandlerStatus = cloneStatus(ev.HandlerStatus)
	return ev
}
