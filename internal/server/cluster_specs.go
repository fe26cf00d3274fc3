package server

import (
	"encoding/json"
	"sync"

	"corral/internal/api"
	"corral/internal/store"
)

// applied is a stored App or Job with its defaults filled.
type applied[T any] struct {
	Spec    T
	Version int64
	Rec     store.ResourceRecord
}

type (
	appSpec = applied[api.AppSpec]
	jobSpec = applied[api.JobSpec]
)

// defaulted is a spec type whose pointer fills its defaults.
type defaulted[T any] interface {
	*T
	Defaults()
}

// specCache decodes the resources of a mirror (Apps or Jobs) once per
// version: the reconciler and the API read them on every pass and request.
type specCache[T any, P defaulted[T]] struct {
	mirror *store.Mirror
	mu     sync.Mutex
	byID   map[string]applied[T]
}

func newSpecCache[T any, P defaulted[T]](m *store.Mirror) *specCache[T, P] {
	return &specCache[T, P]{mirror: m, byID: map[string]applied[T]{}}
}

// decodeLocked returns rec decoded, from the cache when its version is.
func (c *specCache[T, P]) decodeLocked(rec store.ResourceRecord) (applied[T], bool) {
	if cached, ok := c.byID[rec.Name]; ok && cached.Version == rec.Version && cached.Rec.UpdatedAt.Equal(rec.UpdatedAt) {
		return cached, true
	}
	var spec T
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return applied[T]{}, false
	}
	P(&spec).Defaults()
	a := applied[T]{Spec: spec, Version: rec.Version, Rec: rec}
	c.byID[rec.Name] = a
	return a, true
}

// all returns every stored spec by id, and forgets the removed ones.
func (c *specCache[T, P]) all() map[string]applied[T] {
	vals, _ := c.mirror.Values()
	out := make(map[string]applied[T], len(vals))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range vals {
		if rec, ok := v.(store.ResourceRecord); ok {
			if a, ok := c.decodeLocked(rec); ok {
				out[rec.Name] = a
			}
		}
	}
	for id := range c.byID {
		if _, ok := out[id]; !ok {
			delete(c.byID, id)
		}
	}
	return out
}

// get returns one stored spec.
func (c *specCache[T, P]) get(id string) (applied[T], bool) {
	v, ok := c.mirror.Value(id)
	if !ok {
		return applied[T]{}, false
	}
	rec, ok := v.(store.ResourceRecord)
	if !ok {
		return applied[T]{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decodeLocked(rec)
}
