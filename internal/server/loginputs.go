package server

import (
	"context"
	"encoding/json"

	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/store"
)

// logInputAssignPrefix is the assignment key prefix of a node's LogInputs
// ("loginput/<name>").
const logInputAssignPrefix = "loginput/"

// startLogInputs keeps every node's LogInput assignments equal to the
// applied LogInputs it subscribes to.
func (s *Server) startLogInputs(ctx context.Context, g *errgroup.Group) {
	inputs := store.NewMirror(s.etcd.Client(), store.ResourcesPrefix("LogInput"), store.Decoder[store.ResourceRecord]())
	g.Go(func() error { return inputs.Run(ctx) })
	set := newAssignSet(logInputAssignPrefix)
	g.Go(func() error {
		select {
		case <-inputs.Ready():
		case <-ctx.Done():
			return nil
		}
		return s.reconcileOn(ctx, "assign log inputs to nodes", []*store.Mirror{inputs, s.nodes}, func(ctx context.Context) error {
			specs := mirrorSpecs[api.LogInputSpec](inputs)
			_, err := s.syncAssignments(ctx, set, func(name string, rec store.NodeRecord) map[string]string {
				return desiredLogInputs(name, rec.EffectiveLabels(), specs)
			})
			return err
		})
	})
}

// desiredLogInputs returns the LogInputs a node follows: name → spec JSON.
func desiredLogInputs(node string, labels map[string]string, specs []api.LogInputSpec) map[string]string {
	out := map[string]string{}
	for _, in := range specs {
		if !api.Subscribed(in.Subscriptions, node, labels) {
			continue
		}
		if b, err := json.Marshal(in); err == nil {
			out[in.Name] = string(b)
		}
	}
	return out
}
