package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
)

// NodeRecord is a node as stored. Labels come from two places: the agent's
// own (--label, replaced at every hello) and the API's (`corral node label`),
// which win; Removed hides agent labels an operator removed.
type NodeRecord struct {
	Name        string            `json:"name"`
	AgentLabels map[string]string `json:"agent_labels,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Removed     []string          `json:"removed,omitempty"`
	Facts       api.Facts         `json:"facts"`
	Resources   api.NodeResources `json:"resources"`
	Drain       bool              `json:"drain,omitempty"`
	JoinedAt    time.Time         `json:"joined_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	CertExpires time.Time         `json:"cert_expires,omitempty"`
}

// EffectiveLabels merges agent and API labels.
func (n NodeRecord) EffectiveLabels() map[string]string {
	out := make(map[string]string, len(n.AgentLabels)+len(n.Labels))
	for k, v := range n.AgentLabels {
		if !slices.Contains(n.Removed, k) {
			out[k] = v
		}
	}
	maps.Copy(out, n.Labels)
	return out
}

// API returns the node as the API shows it, given its liveness.
func (n NodeRecord) API(alive bool) api.Node {
	status := api.NodeDown
	if alive {
		status = api.NodeReady
		if n.Drain {
			status = api.NodeDraining
		}
	}
	out := api.Node{
		Name: n.Name, Status: status, Drain: n.Drain, Labels: n.EffectiveLabels(),
		Facts: n.Facts, Resources: n.Resources, JoinedAt: n.JoinedAt, UpdatedAt: n.UpdatedAt,
	}
	if !n.CertExpires.IsZero() {
		t := n.CertExpires
		out.CertExpires = &t
	}
	return out
}

// NodeKey and AliveKey are the etcd keys of a node's record and liveness.
func NodeKey(name string) string  { return key("nodes", name) }
func AliveKey(name string) string { return key("alive", name) }

// Node prefixes, for watches.
var (
	NodesPrefix = key("nodes") + "/"
	AlivePrefix = key("alive") + "/"
)

// GetNode reads one node.
func (s *Store) GetNode(ctx context.Context, name string) (NodeRecord, error) {
	var n NodeRecord
	_, err := s.getJSON(ctx, NodeKey(name), &n)
	return n, err
}

// CreateNode stores a new node; ErrExists if the name is taken.
func (s *Store) CreateNode(ctx context.Context, n NodeRecord) error {
	return s.putJSON(ctx, NodeKey(n.Name), n, 0)
}

// UpdateNode changes a node with fn (retried on concurrent changes).
func (s *Store) UpdateNode(ctx context.Context, name string, fn func(*NodeRecord) error) (NodeRecord, error) {
	return update(ctx, s, NodeKey(name), func(n *NodeRecord) error {
		if err := fn(n); err != nil {
			return err
		}
		n.UpdatedAt = s.now().UTC()
		return nil
	})
}

// ListNodes reads every node.
func (s *Store) ListNodes(ctx context.Context) ([]NodeRecord, error) {
	var out []NodeRecord
	err := s.listJSON(ctx, NodesPrefix, func(_, v []byte) error {
		var n NodeRecord
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// DeleteNode removes a node, its liveness and its assignments.
func (s *Store) DeleteNode(ctx context.Context, name string) error {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpDelete(NodeKey(name)),
		clientv3.OpDelete(AliveKey(name)),
		clientv3.OpDelete(AssignPrefix(name), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	if resp.Responses[0].GetResponseDeleteRange().Deleted == 0 {
		return ErrNotFound
	}
	return nil
}

// Alive returns the names of the nodes whose liveness lease is current.
func (s *Store) Alive(ctx context.Context) (map[string]bool, error) {
	resp, err := s.cli.Get(ctx, AlivePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list alive nodes: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key[len(AlivePrefix):])] = true
	}
	return out, nil
}

// Heartbeat keeps a node's liveness lease alive. lease is the lease this
// server last used for the node (0 if it knows none); it returns the lease in
// use now. A lease that expired is replaced by a new one. After a server
// restart the lease is found from the alive key, so live nodes do not flap.
func (s *Store) Heartbeat(ctx context.Context, name string, ttl time.Duration, lease clientv3.LeaseID) (clientv3.LeaseID, error) {
	if lease == 0 {
		resp, err := s.cli.Get(ctx, AliveKey(name))
		if err != nil {
			return 0, fmt.Errorf("heartbeat %s: %w", name, err)
		}
		if len(resp.Kvs) > 0 {
			lease = clientv3.LeaseID(resp.Kvs[0].Lease)
		}
	}
	if lease != 0 {
		_, err := s.cli.KeepAliveOnce(ctx, lease)
		if err == nil {
			return lease, nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, fmt.Errorf("heartbeat %s: %w", name, err)
		}
	}
	g, err := s.cli.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("heartbeat %s: grant lease: %w", name, err)
	}
	if _, err := s.cli.Put(ctx, AliveKey(name), "", clientv3.WithLease(g.ID)); err != nil {
		return 0, fmt.Errorf("heartbeat %s: %w", name, err)
	}
	return g.ID, nil
}
