package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
)

// ResourceRecord is a resource as stored. Spec is the canonical JSON spec;
// for secret kinds it is empty and Sealed holds it encrypted.
type ResourceRecord struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Version   int64           `json:"version"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	Sealed    []byte          `json:"sealed,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	// Cause says why a versioned resource changed when it was not an
	// apply: "scale", "restart", "rollback to 3".
	Cause string `json:"cause,omitempty"`

	rev int64
}

// ResourceKey is the etcd key of a resource.
func ResourceKey(kind, name string) string { return key("resources", kind, name) }

// ResourcesPrefix is the prefix of one kind's resources.
func ResourcesPrefix(kind string) string { return key("resources", kind) + "/" }

// PlainSpec returns the record's spec, unsealing it if needed.
func (s *Store) PlainSpec(r ResourceRecord) (json.RawMessage, error) {
	if r.Sealed == nil {
		return r.Spec, nil
	}
	b, err := s.sealer.Open(r.Sealed)
	if err != nil {
		return nil, fmt.Errorf("unseal %s/%s: %w", r.Kind, r.Name, err)
	}
	return b, nil
}

// GetResource reads one resource.
func (s *Store) GetResource(ctx context.Context, kind, name string) (ResourceRecord, error) {
	var r ResourceRecord
	rev, err := s.getJSON(ctx, ResourceKey(kind, name), &r)
	r.rev = rev
	return r, err
}

// ListResources reads every resource of a kind, by name.
func (s *Store) ListResources(ctx context.Context, kind string) ([]ResourceRecord, error) {
	var out []ResourceRecord
	err := s.listJSON(ctx, ResourcesPrefix(kind), func(_, v []byte) error {
		var r ResourceRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// VersionKey is the etcd key of one stored version of a versioned resource.
func VersionKey(kind, name string, version int64) string {
	return key("versions", kind, name, fmt.Sprintf("%012d", version))
}

// VersionsPrefix is the prefix of every stored version of a resource.
func VersionsPrefix(kind, name string) string { return key("versions", kind, name) + "/" }

// Change is one resource to write in an apply.
type Change struct {
	Kind, Name string
	Spec       json.RawMessage // canonical
	Secret     bool
	// Versioned keeps this version under VersionKey too (in the same
	// transaction).
	Versioned bool
	// Cause is stored with the record (ResourceRecord.Cause).
	Cause string
}

// Planned is what an apply does or would do to one resource.
type Planned struct {
	Change
	Action  string // api.ActionCreated, ActionChanged, ActionUnchanged
	Version int64
	Old     json.RawMessage // the stored spec, plain; nil when created
}

// Apply compares changes with what is stored and, unless dry, writes all of
// them in one etcd transaction: either every change is stored or none. A
// concurrent change of any of them makes the transaction fail with
// ErrConflict.
func (s *Store) Apply(ctx context.Context, changes []Change, by string, dry bool) ([]Planned, error) {
	plans := make([]Planned, 0, len(changes))
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	now := s.now().UTC()
	for _, c := range changes {
		k := ResourceKey(c.Kind, c.Name)
		cur, err := s.GetResource(ctx, c.Kind, c.Name)
		p := Planned{Change: c}
		rec := ResourceRecord{Kind: c.Kind, Name: c.Name, UpdatedAt: now, UpdatedBy: by, Cause: c.Cause}
		switch {
		case err == ErrNotFound:
			p.Action, p.Version = api.ActionCreated, 1
			rec.CreatedAt = now
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		case err != nil:
			return nil, err
		default:
			old, err := s.PlainSpec(cur)
			if err != nil {
				return nil, err
			}
			p.Old = old
			rec.CreatedAt = cur.CreatedAt
			if bytes.Equal(old, c.Spec) {
				p.Action, p.Version = api.ActionUnchanged, cur.Version
			} else {
				p.Action, p.Version = api.ActionChanged, cur.Version+1
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", cur.rev))
		}
		plans = append(plans, p)
		if p.Action == api.ActionUnchanged {
			continue
		}
		rec.Version = p.Version
		if c.Secret {
			rec.Sealed = s.sealer.Seal(c.Spec)
		} else {
			rec.Spec = c.Spec
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("encode %s/%s: %w", c.Kind, c.Name, err)
		}
		ops = append(ops, clientv3.OpPut(k, string(b)))
		if c.Versioned {
			ops = append(ops, clientv3.OpPut(VersionKey(c.Kind, c.Name, p.Version), string(b)))
		}
	}
	if dry || len(ops) == 0 {
		return plans, nil
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	if !resp.Succeeded {
		return nil, ErrConflict
	}
	return plans, nil
}

// DeleteResource removes a resource and its stored versions; version, when
// not 0, must match.
func (s *Store) DeleteResource(ctx context.Context, kind, name string, version int64) error {
	cur, err := s.GetResource(ctx, kind, name)
	if err != nil {
		return err
	}
	if version != 0 && cur.Version != version {
		return ErrConflict
	}
	k := ResourceKey(kind, name)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", cur.rev)).
		Then(clientv3.OpDelete(k), clientv3.OpDelete(VersionsPrefix(kind, name), clientv3.WithPrefix())).Commit()
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", kind, name, err)
	}
	if !resp.Succeeded {
		return ErrConflict
	}
	return nil
}

// SharedAssignNode is the "node" of the assignments every node holds (one
// copy in etcd, handed to every agent's watch stream: the cluster's node
// list of configuration management). Node names cannot start with "_".
const SharedAssignNode = "_shared"

// AssignPrefix is the prefix of what node must run or hold; its agent
// watches it.
func AssignPrefix(node string) string { return key("assign", node) + "/" }

// Assign puts one assignment for node (features that place work call it).
func (s *Store) Assign(ctx context.Context, node, k string, v json.RawMessage) error {
	_, err := s.cli.Put(ctx, AssignPrefix(node)+k, string(v))
	return err
}

// Unassign removes one assignment.
func (s *Store) Unassign(ctx context.Context, node, k string) error {
	_, err := s.cli.Delete(ctx, AssignPrefix(node)+k)
	return err
}
