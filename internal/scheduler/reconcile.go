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

// ScaleDown chooses count tasks of the app to kill, removes them from the
// State and returns them in the order chosen (see the package doc for the
// preferences). It returns fewer when the app has fewer tasks.
func ScaleDown(s *State, spec AppSpec, count int) ([]Task, error) {
	rules, err := compileRules(spec.Constraints)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", spec.ID, err)
	}
	var killed []Task
	for range count {
		a := s.apps[spec.ID]
		if a == nil || len(a.tasks) == 0 {
			break
		}
		p := newPlanner(s, spec, rules)
		var best *taskRec
		var bestKey killKey
		for _, rec := range a.tasks {
			k := p.killKey(rec)
			if best == nil || k.less(bestKey) {
				best, bestKey = rec, k
			}
		}
		t, _ := s.RemoveTask(best.ID)
		killed = append(killed, t)
	}
	return killed, nil
}

// killKey orders tasks for killing: smaller goes first.
type killKey struct {
	class   int   // 0 lost node, 1 breaks a constraint, 2 unhealthy, 3 staging, 4 drained node, 5 fine
	group   int32 // the app's tasks in the task's driving GROUP_BY value
	host    int32 // the app's tasks on the task's node
	started int64 // unix nanoseconds; newest first
	id      string
}

func (k killKey) less(o killKey) bool {
	if k.class != o.class {
		return k.class < o.class
	}
	if k.group != o.group {
		return k.group > o.group
	}
	if k.host != o.host {
		return k.host > o.host
	}
	if k.started != o.started {
		return k.started > o.started
	}
	return k.id < o.id
}

func (p *planner) killKey(rec *taskRec) killKey {
	k := killKey{class: 5, id: rec.ID, started: rec.Started.UnixNano()}
	if rec.Started.IsZero() {
		k.started = 0
	}
	if rec.node < 0 || p.s.nodes[rec.node].down {
		k.class = 0
		return k
	}
	n := &p.s.nodes[rec.node]
	k.host = p.app.onNode[rec.node]
	switch {
	case p.breaks(rec.node):
		k.class = 1
	case rec.Status == TaskUnhealthy:
		k.class = 2
	case rec.Status == TaskStaging:
		k.class = 3
	case n.drained:
		k.class = 4
	}
	for i := range p.rules {
		if r := &p.rules[i]; r.drive {
			if v, ok := r.value(n); ok {
				k.group = p.count(r, rec.node, v)
			}
		}
	}
	return k
}

// breaks reports whether a task of the app on the node breaks the spec's
// constraints as the app's tasks stand.
func (p *planner) breaks(idx int32) bool {
	n := &p.s.nodes[idx]
	for i := range p.rules {
		r := &p.rules[i]
		if r.static() {
			if !r.staticOK(n) {
				return true
			}
			continue
		}
		v, ok := r.value(n)
		if !ok {
			return true
		}
		c := p.count(r, idx, v)
		switch r.Operator {
		case Unique:
			if c > 1 {
				return true
			}
		case MaxPer:
			if int(c) > r.n {
				return true
			}
		case Cluster:
			if t := p.cluster[i]; t != "" && v != t {
				return true
			}
		}
	}
	return false
}
