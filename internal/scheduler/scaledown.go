package scheduler

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// ScaleDown chooses count tasks of the app to kill, removes them from the
// State and returns them in the order chosen (see the package doc for the
// preferences). It returns fewer when the app has fewer tasks.
func ScaleDown(s *State, spec AppSpec, count int) ([]Task, error) {
	rules, err := compileRules(spec.Constraints)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", spec.ID, err)
	}
	a := s.apps[spec.ID]
	if a == nil || count <= 0 {
		return nil, nil
	}
	k := newKiller(s, newPlanner(s, spec, rules))
	var killed []Task
	for len(killed) < count {
		t, ok := k.next()
		if !ok {
			break
		}
		killed = append(killed, t)
	}
	return killed, nil
}

// The order tasks die in is (class, sub, most in the GROUP_BY value, most on
// the node, newest, ID). Everything but the task's own status and start time
// depends only on its node, so the tasks of a node die in a fixed order and
// only each node's first task competes. Nodes are kept in one heap per
// value of the driving GROUP_BY, keyed without the value's count; killing a
// task only lowers counts, which only makes keys larger, so a heap entry
// found stale at the top is re-keyed and pushed back (the GROUP_BY count,
// which changes for a whole value at once, is compared across the heaps'
// tops instead).

// killKey orders tasks for killing: smaller goes first.
type killKey struct {
	class   int   // 0 lost node, 1 breaks a constraint, 2 unhealthy, 3 staging, 4 drained node, 5 fine
	sub     int   // the class the task would have without its node's constraint breaking
	host    int32 // the app's tasks on the task's node
	started int64 // unix nanoseconds, 0 when not started; newest first
	id      string
}

func (k killKey) less(o killKey) bool {
	if k.class != o.class {
		return k.class < o.class
	}
	if k.sub != o.sub {
		return k.sub < o.sub
	}
	if k.host != o.host {
		return k.host > o.host
	}
	if k.started != o.started {
		return k.started > o.started
	}
	return k.id < o.id
}

// lostValue is the bucket of tasks on unknown or down nodes.
const lostValue = "\x00lost"

type killNode struct {
	idx   int32      // -1 for tasks on unknown nodes
	tasks []*taskRec // in the order they die
	value string     // bucket
}

type killEntry struct {
	node *killNode
	key  killKey
}

type killHeap []killEntry

func (h killHeap) Len() int           { return len(h) }
func (h killHeap) Less(i, j int) bool { return h[i].key.less(h[j].key) }
func (h killHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *killHeap) Push(x any)        { *h = append(*h, x.(killEntry)) }
func (h *killHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type killer struct {
	s      *State
	p      *planner
	drive  *rule
	values []string // sorted bucket names
	heaps  map[string]*killHeap
}

func newKiller(s *State, p *planner) *killer {
	k := &killer{s: s, p: p, heaps: map[string]*killHeap{}}
	for i := range p.rules {
		if p.rules[i].drive {
			k.drive = &p.rules[i]
		}
	}
	nodes := map[int32]*killNode{}
	for _, rec := range p.app.tasks {
		n := nodes[rec.node]
		if n == nil {
			n = &killNode{idx: rec.node, value: k.bucket(rec.node)}
			nodes[rec.node] = n
		}
		n.tasks = append(n.tasks, rec)
	}
	for _, n := range nodes {
		slices.SortFunc(n.tasks, func(a, b *taskRec) int {
			return cmp.Or(cmp.Compare(k.status(a), k.status(b)), cmp.Compare(startedNano(b), startedNano(a)), strings.Compare(a.ID, b.ID))
		})
		h := k.heaps[n.value]
		if h == nil {
			h = &killHeap{}
			k.heaps[n.value] = h
			k.values = append(k.values, n.value)
		}
		*h = append(*h, killEntry{n, k.key(n)})
	}
	slices.Sort(k.values)
	for _, h := range k.heaps {
		heap.Init(h)
	}
	return k
}

func (k *killer) lost(idx int32) bool {
	return idx < 0 || k.s.nodes[idx].down
}

func (k *killer) bucket(idx int32) string {
	if k.lost(idx) {
		return lostValue
	}
	if k.drive == nil {
		return ""
	}
	v, _ := k.drive.value(&k.s.nodes[idx])
	return v
}

// status is the class a task has from itself and its node's state alone.
func (k *killer) status(rec *taskRec) int {
	switch {
	case k.lost(rec.node):
		return 0
	case rec.Status == TaskUnhealthy:
		return 2
	case rec.Status == TaskStaging:
		return 3
	case k.s.nodes[rec.node].drained:
		return 4
	}
	return 5
}

// key is the key of a node's first task.
func (k *killer) key(n *killNode) killKey {
	t := n.tasks[0]
	key := killKey{sub: k.status(t), started: startedNano(t), id: t.ID}
	key.class = key.sub
	if key.sub != 0 {
		key.host = k.p.app.onNode[n.idx]
		if k.p.breaks(n.idx) {
			key.class = 1
		}
	}
	return key
}

// group is the app's tasks in a bucket's GROUP_BY value.
func (k *killer) group(value string) int32 {
	if k.drive == nil || value == lostValue {
		return 0
	}
	fc := k.p.ruleFC[k.drive.index]
	id, ok := fc.fi.byValue[value]
	if !ok {
		return 0
	}
	return fc.byID[id]
}

// top returns the bucket's heap with a fresh entry on top, or nil.
func (k *killer) top(value string) *killHeap {
	h := k.heaps[value]
	for h.Len() > 0 {
		e := (*h)[0]
		if key := k.key(e.node); key != e.key {
			(*h)[0].key = key
			heap.Fix(h, 0)
			continue
		}
		return h
	}
	return nil
}

// next kills the first task in the order and returns it.
func (k *killer) next() (Task, bool) {
	var best *killHeap
	var bestKey killKey
	var bestGroup int32
	for _, v := range k.values {
		h := k.top(v)
		if h == nil {
			continue
		}
		key, g := (*h)[0].key, k.group(v)
		if best == nil || key.class < bestKey.class ||
			key.class == bestKey.class && (key.sub < bestKey.sub || key.sub == bestKey.sub && (g > bestGroup || g == bestGroup && key.less(bestKey))) {
			best, bestKey, bestGroup = h, key, g
		}
	}
	if best == nil {
		return Task{}, false
	}
	n := (*best)[0].node
	rec := n.tasks[0]
	n.tasks = n.tasks[1:]
	if n.idx >= 0 {
		for _, fc := range k.p.fcs {
			fc.add(n.idx, -1)
		}
	}
	t, _ := k.s.RemoveTask(rec.ID)
	if len(n.tasks) == 0 {
		heap.Pop(best)
	} else {
		(*best)[0].key = k.key(n)
		heap.Fix(best, 0)
	}
	return t, true
}

func startedNano(t *taskRec) int64 {
	if t.Started.IsZero() {
		return 0
	}
	return t.Started.UnixNano()
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
		c, ok := p.countAt(r, idx)
		if !ok {
			return true
		}
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
			if v, _ := r.value(n); p.cluster[i] != "" && v != p.cluster[i] {
				return true
			}
		}
	}
	return false
}
