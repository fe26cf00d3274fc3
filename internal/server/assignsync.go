package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/store"
)

// assignSet keeps one kind of per-node assignments (the keys under prefix
// in each node's assignments: "check/", "loginput/") equal to what a
// feature wants each node to hold, writing only what changed.
type assignSet struct {
	prefix string
	// have is what this server put, by node and key (read from the store
	// the first time a node is seen).
	have map[string]map[string]string
}

func newAssignSet(prefix string) *assignSet {
	return &assignSet{prefix: prefix, have: map[string]map[string]string{}}
}

// sync makes every registered node hold want(node, record) (key → JSON)
// and returns the nodes that were removed since the last call.
func (s *Server) syncAssignments(ctx context.Context, as *assignSet, want func(node string, rec store.NodeRecord) map[string]string) (removed []string, err error) {
	vals, _ := s.nodes.Values()
	for name, v := range vals {
		rec, ok := v.(store.NodeRecord)
		if !ok {
			continue
		}
		w := want(name, rec)
		have, known := as.have[name]
		if !known {
			if have, err = s.loadAssignments(ctx, name, as.prefix); err != nil {
				return nil, err
			}
			as.have[name] = have
		}
		for k, v := range w {
			if have[k] == v {
				continue
			}
			if err := s.store.Assign(ctx, name, as.prefix+k, json.RawMessage(v)); err != nil {
				return nil, fmt.Errorf("assign %s%s to %s: %w", as.prefix, k, name, err)
			}
			have[k] = v
		}
		for k := range maps.Clone(have) {
			if _, ok := w[k]; ok {
				continue
			}
			if err := s.store.Unassign(ctx, name, as.prefix+k); err != nil {
				return nil, fmt.Errorf("unassign %s%s from %s: %w", as.prefix, k, name, err)
			}
			delete(have, k)
		}
	}
	for name := range as.have {
		if _, ok := vals[name]; !ok {
			delete(as.have, name) // its assignments went with it
			removed = append(removed, name)
		}
	}
	return removed, nil
}

// loadAssignments reads a node's assignments under prefix: key → JSON.
func (s *Server) loadAssignments(ctx context.Context, node, prefix string) (map[string]string, error) {
	full := store.AssignPrefix(node) + prefix
	resp, err := s.store.Client().Get(ctx, full, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read %s assignments of %s: %w", prefix, node, err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(bytes.TrimPrefix(kv.Key, []byte(full)))] = string(kv.Value)
	}
	return out, nil
}

// reconcileOn calls fn whenever one of the mirrors changed (and once at the
// start), gathering bursts of changes (an apply of many documents, agents
// joining) for 200 ms; a failed fn is tried again after 2 s.
func (s *Server) reconcileOn(ctx context.Context, what string, mirrors []*store.Mirror, fn func(context.Context) error) error {
	gens := make([]uint64, len(mirrors))
	first := true
	for {
		changed := first
		chans := make([]<-chan struct{}, len(mirrors))
		now := make([]uint64, len(mirrors))
		for i, m := range mirrors {
			now[i], chans[i] = m.Gen()
			changed = changed || now[i] != gens[i]
		}
		if changed {
			if err := fn(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.log.Warn(what, "err", err)
				if !sleepCtx(ctx, 2*time.Second) { // try again shortly
					return nil
				}
				continue
			}
			copy(gens, now)
			first = false
		}
		if !waitAny(ctx, chans, nil, nil) || !sleepCtx(ctx, 200*time.Millisecond) {
			return nil
		}
	}
}
