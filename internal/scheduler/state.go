package scheduler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// DefaultCandidates is how many fitting nodes Place scores per instance
// unless Options says otherwise.
const DefaultCandidates = 16

// Options tune a State.
type Options struct {
	// Seed fixes the shuffled order nodes are visited in.
	Seed uint64
	// Candidates is how many fitting nodes are scored per instance; 0 means
	// DefaultCandidates.
	Candidates int
}

// State is the cluster as placement sees it: nodes with their free
// resources and used ports, and where each app's tasks are. Place, Drain and
// ScaleDown change it, so successive calls see each other's results. A State
// is not safe for concurrent use.
type State struct {
	nodes  []nodeState // sorted by name
	byName map[string]int32
	order  []int32 // shuffled node indexes
	tasks  map[string]*taskRec
	apps   map[string]*appState
	lists  map[string]*candidates // by staticKey
	fields map[string]*fieldIndex // by label
	limit  int
}

// fieldIndex numbers the values of a label across the nodes.
type fieldIndex struct {
	ids     []int32 // per node; -1 when the node lacks the label
	values  []string
	byValue map[string]int32
}

type nodeState struct {
	name    string
	labels  map[string]string
	ranges  []PortRange // sorted, merged
	rangesS string      // "31000-32000"
	cap     [3]int64    // milli-CPUs, MiB memory, MiB disk
	free    [3]int64
	used    map[int]struct{} // host ports in use
	inRange int              // free ports within ranges
	hint    int              // every port of the ranges below it is used
	drained bool
	down    bool
}

type taskRec struct {
	Task
	node int32 // -1 when the node is unknown
}

type appState struct {
	onNode map[int32]int32 // tasks and placements per node
	hosts  int             // nodes with at least one
	tasks  map[string]*taskRec
}

// candidates is the shuffled list of nodes that take new tasks and pass a
// set of static rules, with the position the next search starts from.
type candidates struct {
	nodes  []int32
	cursor int
	groups map[string]*partition // by field
}

// partition splits candidates by a label's value.
type partition struct {
	ids   []int32       // value ids in the order of their values
	lists []*candidates // by value id
}

// NewState builds the placement state from nodes and the tasks already on
// them, shuffling the nodes with opts.Seed. Tasks on nodes not in the list are
// kept, first to go on scale down, but use no node's resources and count for
// no constraint, as they have no field values.
func NewState(nodes []Node, tasks []Task, opts Options) (*State, error) {
	s := &State{
		nodes:  make([]nodeState, len(nodes)),
		byName: make(map[string]int32, len(nodes)),
		tasks:  make(map[string]*taskRec, len(tasks)),
		apps:   map[string]*appState{},
		lists:  map[string]*candidates{},
		fields: map[string]*fieldIndex{},
		limit:  opts.Candidates,
	}
	if s.limit <= 0 {
		s.limit = DefaultCandidates
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	var errs []error
	for i, n := range sorted {
		if n.Name == "" {
			errs = append(errs, errors.New("node with no name"))
			continue
		}
		if _, dup := s.byName[n.Name]; dup {
			errs = append(errs, fmt.Errorf("node %s: listed twice", n.Name))
			continue
		}
		ranges, err := mergeRanges(n.Ports)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.Name, err))
			continue
		}
		ns := nodeState{
			name:    n.Name,
			labels:  n.Labels,
			ranges:  ranges,
			rangesS: rangesString(ranges),
			cap:     [3]int64{milli(n.Capacity.CPUs), n.Capacity.MemMiB, n.Capacity.DiskMiB},
			drained: n.Drained,
			down:    n.Down,
		}
		ns.free = ns.cap
		for _, r := range ranges {
			ns.inRange += r.To - r.From + 1
		}
		s.nodes[i] = ns
		s.byName[n.Name] = int32(i)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.order = make([]int32, len(s.nodes))
	for i := range s.order {
		s.order[i] = int32(i)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	rng.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
	for _, t := range tasks {
		if err := s.AddTask(t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// AddTask records a task, taking its resources and ports from its node.
func (s *State) AddTask(t Task) error {
	if t.ID == "" || t.App == "" {
		return fmt.Errorf("task %q of app %q: needs an id and an app", t.ID, t.App)
	}
	if _, dup := s.tasks[t.ID]; dup {
		return fmt.Errorf("task %s: listed twice", t.ID)
	}
	idx, ok := s.byName[t.Node]
	if !ok {
		idx = -1
	}
	rec := &taskRec{Task: t, node: idx}
	s.tasks[t.ID] = rec
	a := s.app(t.App)
	a.tasks[t.ID] = rec
	if idx >= 0 {
		s.take(idx, a, [3]int64{milli(t.CPUs), t.MemMiB, t.DiskMiB})
		n := &s.nodes[idx]
		for _, p := range t.Ports {
			n.usePort(p)
		}
	}
	return nil
}

// RemoveTask forgets a task and frees what it used. It reports whether the
// task was known.
func (s *State) RemoveTask(id string) (Task, bool) {
	rec, ok := s.tasks[id]
	if !ok {
		return Task{}, false
	}
	delete(s.tasks, id)
	a := s.apps[rec.App]
	delete(a.tasks, id)
	if rec.node >= 0 {
		s.give(rec.node, a, [3]int64{milli(rec.CPUs), rec.MemMiB, rec.DiskMiB})
		n := &s.nodes[rec.node]
		for _, p := range rec.Ports {
			n.freePort(p)
		}
	}
	return rec.Task, true
}

// Tasks returns the tasks of an app the State knows, sorted by ID.
func (s *State) Tasks(app string) []Task {
	a := s.apps[app]
	if a == nil {
		return nil
	}
	out := make([]Task, 0, len(a.tasks))
	for _, r := range a.tasks {
		out = append(out, r.Task)
	}
	slices.SortFunc(out, func(x, y Task) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (s *State) app(id string) *appState {
	a := s.apps[id]
	if a == nil {
		a = &appState{onNode: map[int32]int32{}, tasks: map[string]*taskRec{}}
		s.apps[id] = a
	}
	return a
}

// take charges a node with one instance of an app.
func (s *State) take(idx int32, a *appState, need [3]int64) {
	n := &s.nodes[idx]
	for k := range need {
		n.free[k] -= need[k]
	}
	if a.onNode[idx] == 0 {
		a.hosts++
	}
	a.onNode[idx]++
}

// give undoes take.
func (s *State) give(idx int32, a *appState, need [3]int64) {
	n := &s.nodes[idx]
	for k := range need {
		n.free[k] += need[k]
	}
	if a.onNode[idx]--; a.onNode[idx] <= 0 {
		delete(a.onNode, idx)
		a.hosts--
	}
}

// candidates returns the shuffled nodes that take new tasks and pass the
// static rules, cached per set of static rules.
func (s *State) candidates(rules []rule) *candidates {
	key := staticKey(rules)
	if c := s.lists[key]; c != nil {
		return c
	}
	var static []*rule
	for i := range rules {
		if rules[i].static() {
			static = append(static, &rules[i])
		}
	}
	// Regular expressions run once per distinct value.
	memo := make([]map[string]bool, len(static))
	for i := range memo {
		memo[i] = map[string]bool{}
	}
	c := &candidates{groups: map[string]*partition{}}
	for _, idx := range s.order {
		n := &s.nodes[idx]
		if n.down || n.drained {
			continue
		}
		ok := true
		for i, r := range static {
			v, has := r.value(n)
			if r.host || !has {
				ok = r.staticOK(n)
			} else if seen, hit := memo[i][v]; hit {
				ok = seen
			} else {
				ok = r.staticOK(n)
				memo[i][v] = ok
			}
			if !ok {
				break
			}
		}
		if ok {
			c.nodes = append(c.nodes, idx)
		}
	}
	s.lists[key] = c
	return c
}

// partition splits the candidates by a label, leaving out nodes without it.
func (c *candidates) partition(s *State, field string) *partition {
	if p := c.groups[field]; p != nil {
		return p
	}
	fi := s.field(field)
	p := &partition{lists: make([]*candidates, len(fi.values))}
	for _, idx := range c.nodes {
		id := fi.ids[idx]
		if id < 0 {
			continue
		}
		if p.lists[id] == nil {
			p.lists[id] = &candidates{}
			p.ids = append(p.ids, id)
		}
		p.lists[id].nodes = append(p.lists[id].nodes, idx)
	}
	slices.SortFunc(p.ids, func(a, b int32) int { return strings.Compare(fi.values[a], fi.values[b]) })
	c.groups[field] = p
	return p
}

// field returns the numbering of a label's values, built on first use.
func (s *State) field(name string) *fieldIndex {
	if fi := s.fields[name]; fi != nil {
		return fi
	}
	fi := &fieldIndex{ids: make([]int32, len(s.nodes)), byValue: map[string]int32{}}
	for i := range s.nodes {
		v, ok := s.nodes[i].labels[name]
		if !ok {
			fi.ids[i] = -1
			continue
		}
		id, seen := fi.byValue[v]
		if !seen {
			id = int32(len(fi.values))
			fi.values = append(fi.values, v)
			fi.byValue[v] = id
		}
		fi.ids[i] = id
	}
	s.fields[name] = fi
	return fi
}

func (n *nodeState) isInRange(p int) bool {
	for _, r := range n.ranges {
		if p >= r.From && p <= r.To {
			return true
		}
	}
	return false
}

func (n *nodeState) usePort(p int) {
	if n.used == nil {
		n.used = map[int]struct{}{}
	}
	if _, dup := n.used[p]; dup {
		return
	}
	n.used[p] = struct{}{}
	if n.isInRange(p) {
		n.inRange--
	}
}

func (n *nodeState) freePort(p int) {
	if _, ok := n.used[p]; !ok {
		return
	}
	delete(n.used, p)
	if n.isInRange(p) {
		n.inRange++
		n.hint = min(n.hint, p)
	}
}

func (n *nodeState) portUsed(p int) bool {
	_, ok := n.used[p]
	return ok
}

// mergeRanges validates, sorts and merges port ranges.
func mergeRanges(in []PortRange) ([]PortRange, error) {
	rs := slices.Clone(in)
	for _, r := range rs {
		if r.From < 1 || r.To > 65535 || r.From > r.To {
			return nil, fmt.Errorf("port range %d-%d: want 1 <= from <= to <= 65535", r.From, r.To)
		}
	}
	slices.SortFunc(rs, func(a, b PortRange) int { return a.From - b.From })
	out := rs[:0]
	for _, r := range rs {
		if len(out) > 0 && r.From <= out[len(out)-1].To+1 {
			out[len(out)-1].To = max(out[len(out)-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func rangesString(rs []PortRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// milli converts CPUs to thousandths.
func milli(cpus float64) int64 {
	return int64(math.Round(cpus * 1000))
}
