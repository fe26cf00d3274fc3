package event

import (
	"slices"
	"sync"
	"time"

	"corral/internal/api"
)

// Silences is an index of silence specs by (subscription, check), where a
// node's subscription is "entity:NODE" and "*" stands for any: matching an
// event costs a few map look-ups however many silences exist. It is safe for
// concurrent use; the server keeps it in step with the silences in etcd.
type Silences struct {
	mu   sync.RWMutex
	byID map[string]api.SilenceSpec
	idx  map[silenceKey][]string
}

type silenceKey struct{ sub, check string }

// NewSilences returns an empty index.
func NewSilences() *Silences {
	return &Silences{byID: map[string]api.SilenceSpec{}, idx: map[silenceKey][]string{}}
}

func keyOf(s *api.SilenceSpec) silenceKey {
	k := silenceKey{sub: s.Subscription, check: s.Check}
	if s.Node != "" {
		k.sub = "entity:" + s.Node
	}
	if k.sub == "" {
		k.sub = "*"
	}
	if k.check == "" {
		k.check = "*"
	}
	return k
}

// Put adds or replaces a silence (by its ID).
func (s *Silences) Put(spec api.SilenceSpec) {
	id := spec.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(id)
	s.byID[id] = spec
	k := keyOf(&spec)
	s.idx[k] = append(s.idx[k], id)
}

// Delete removes a silence by ID; unknown IDs are ignored.
func (s *Silences) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(id)
}

func (s *Silences) deleteLocked(id string) {
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	k := keyOf(&old)
	ids := slices.DeleteFunc(s.idx[k], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(s.idx, k)
	} else {
		s.idx[k] = ids
	}
}

// Replace makes the index hold exactly specs.
func (s *Silences) Replace(specs []api.SilenceSpec) {
	n := NewSilences()
	for _, sp := range specs {
		n.Put(sp)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID, s.idx = n.byID, n.idx
}

// Get returns a silence by ID.
func (s *Silences) Get(id string) (api.SilenceSpec, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp, ok := s.byID[id]
	return sp, ok
}

// Len is the number of silences held, active or not.
func (s *Silences) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// Match returns the IDs (sorted) of the silences active at now that apply
// to check on entity, given the subscriptions of the event (the check's and
// the entity's). Silences not begun or expired are ignored.
func (s *Silences) Match(entity, check string, subscriptions []string, now time.Time) []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.byID) == 0 {
		return nil
	}
	var out []string
	look := func(sub string) {
		for _, c := range [2]string{check, "*"} {
			if sub == "*" && c == "*" {
				continue
			}
			for _, id := range s.idx[silenceKey{sub, c}] {
				if sp := s.byID[id]; sp.Active(now) {
					out = append(out, id)
				}
			}
		}
	}
	look("entity:" + entity)
	look("*")
	for _, sub := range subscriptions {
		if sub != "*" && sub != "entity:"+entity {
			look(sub)
		}
	}
	if len(out) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}
