package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Move is a task to stop on its node and start again at To.
type Move struct {
	Task Task
	To   Placement
}

// Stuck is a task that should leave its node but fits nowhere else; it stays
// in the State on its node.
type Stuck struct {
	Task   Task
	Reason string // Plan.Explain of the failed placement
}

// DrainPlan says where the tasks of a drained node go.
type DrainPlan struct {
	Node  string
	Moves []Move
	Stuck []Stuck
}

// SetDrained turns draining of a node on or off.
func (s *State) SetDrained(node string, drained bool) error {
	idx, ok := s.byName[node]
	if !ok {
		return fmt.Errorf("node %s: not known", node)
	}
	if s.nodes[idx].drained != drained {
		s.nodes[idx].drained = drained
		clear(s.lists)
	}
	return nil
}

// Drain marks a node drained and places every task on it elsewhere, under
// its app's spec from specs (an app missing from specs keeps its task's
// resources, asks for as many dynamic ports and has no constraints). All the
// node's tasks leave the State before any is placed, so they do not count
// against their app's constraints; tasks that fit nowhere are put back.
// Tasks are moved in order of app and ID.
func Drain(s *State, node string, specs map[string]AppSpec) (DrainPlan, error) {
	if err := s.SetDrained(node, true); err != nil {
		return DrainPlan{}, err
	}
	idx := s.byName[node]
	var leaving []Task
	for _, rec := range s.tasks {
		if rec.node == idx {
			leaving = append(leaving, rec.Task)
		}
	}
	slices.SortFunc(leaving, func(a, b Task) int {
		return cmp.Or(strings.Compare(a.App, b.App), strings.Compare(a.ID, b.ID))
	})
	for _, t := range leaving {
		s.RemoveTask(t.ID)
	}
	plan := DrainPlan{Node: node}
	for _, t := range leaving {
		spec, ok := specs[t.App]
		if !ok {
			spec = AppSpec{ID: t.App, Resources: t.Resources, Ports: make([]PortRequest, len(t.Ports))}
		}
		p, err := Place(s, spec, 1)
		if err != nil {
			return DrainPlan{}, fmt.Errorf("drain %s: task %s: %w", node, t.ID, err)
		}
		if len(p.Placements) == 1 {
			plan.Moves = append(plan.Moves, Move{Task: t, To: p.Placements[0]})
			continue
		}
		plan.Stuck = append(plan.Stuck, Stuck{Task: t, Reason: p.Explain()})
		if err := s.AddTask(t); err != nil {
			return DrainPlan{}, fmt.Errorf("drain %s: put back task %s: %w", node, t.ID, err)
		}
	}
	return plan, nil
}
