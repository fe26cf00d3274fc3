package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Place places count instances of an app and applies them to the State, so
// the next call sees them. Instances that fit nowhere are counted in
// Plan.Unplaced, with the reasons in Plan.Rejections. It fails only on an
// invalid spec.
func Place(s *State, spec AppSpec, count int) (Plan, error) {
	rules, err := compileRules(spec.Constraints)
	if err = errors.Join(spec.validateBasics(), err); err != nil {
		return Plan{}, fmt.Errorf("app %s: %w", spec.ID, err)
	}
	plan := Plan{App: spec.ID}
	if count <= 0 {
		return plan, nil
	}
	p := newPlanner(s, spec, rules)
	c := s.candidates(rules)
	var drive *rule
	for i := range rules {
		if rules[i].drive {
			drive = &rules[i]
		}
	}
	plan.Placements = make([]Placement, 0, count)
	for i := range count {
		var idx int32
		var ok bool
		if drive != nil {
			idx, ok = p.pickGrouped(c, drive)
		} else {
			idx, ok = p.search(c)
		}
		if !ok {
			plan.Unplaced = count - i
			plan.Rejections = p.explain()
			break
		}
		plan.Placements = append(plan.Placements, p.apply(idx))
	}
	return plan, nil
}

// planner places instances of one app during one Place call.
type planner struct {
	s       *State
	app     *appState
	spec    AppSpec
	rules   []rule
	dynamic []*rule // rules whose verdict depends on where tasks are
	need    [3]int64
	fixed   []int // fixed host ports
	nDyn    int   // dynamic port requests
	counts  map[string]*fieldCount
	fcs     []*fieldCount // the values of counts
	ruleFC  []*fieldCount // per rule on a label that is not static
	cluster []string      // per rule: the value CLUSTER without value settled on
	full    []bool        // per value id of the driving GROUP_BY: no room left
	vals    []int32
}

// fieldCount counts the app's tasks per value of a label.
type fieldCount struct {
	fi      *fieldIndex
	byID    []int32
	present int // values with at least one task
}

// add adds d tasks on node idx to the count of its value.
func (fc *fieldCount) add(idx int32, d int32) {
	id := fc.fi.ids[idx]
	if id < 0 {
		return
	}
	before := fc.byID[id]
	fc.byID[id] += d
	switch {
	case before == 0 && fc.byID[id] > 0:
		fc.present++
	case before > 0 && fc.byID[id] <= 0:
		fc.present--
	}
}

func newPlanner(s *State, spec AppSpec, rules []rule) *planner {
	p := &planner{
		s:       s,
		app:     s.app(spec.ID),
		spec:    spec,
		rules:   rules,
		need:    [3]int64{milli(spec.CPUs), spec.MemMiB, spec.DiskMiB},
		counts:  map[string]*fieldCount{},
		ruleFC:  make([]*fieldCount, len(rules)),
		cluster: make([]string, len(rules)),
	}
	for _, pr := range spec.Ports {
		if pr.Port == 0 {
			p.nDyn++
		} else {
			p.fixed = append(p.fixed, pr.Port)
		}
	}
	for i := range rules {
		r := &rules[i]
		if r.static() {
			continue
		}
		p.dynamic = append(p.dynamic, r)
		if r.host {
			continue
		}
		fc := p.counts[r.Field]
		if fc == nil {
			fi := s.field(r.Field)
			fc = &fieldCount{fi: fi, byID: make([]int32, len(fi.values))}
			p.counts[r.Field] = fc
			p.fcs = append(p.fcs, fc)
		}
		p.ruleFC[r.index] = fc
	}
	for idx, c := range p.app.onNode {
		for _, fc := range p.fcs {
			fc.add(idx, c)
		}
	}
	for i := range rules {
		if r := &rules[i]; r.Operator == Cluster && r.Value == "" {
			p.cluster[i] = p.mostCommon(r)
		}
	}
	return p
}

// mostCommon returns the value of the rule's field held by most of the app's
// tasks, ties broken by the smaller value; "" when the app has none.
func (p *planner) mostCommon(r *rule) string {
	best, bestN := "", int32(0)
	consider := func(v string, n int32) {
		if n > bestN || (n == bestN && n > 0 && v < best) {
			best, bestN = v, n
		}
	}
	if r.host {
		for idx, n := range p.app.onNode {
			consider(p.s.nodes[idx].name, n)
		}
		return best
	}
	fc := p.ruleFC[r.index]
	for id, n := range fc.byID {
		consider(fc.fi.values[id], n)
	}
	return best
}

// countAt returns how many of the app's tasks share the node's value of the
// rule's field, and false when the node lacks the field.
func (p *planner) countAt(r *rule, idx int32) (int32, bool) {
	if r.host {
		return p.app.onNode[idx], true
	}
	fc := p.ruleFC[r.index]
	id := fc.fi.ids[idx]
	if id < 0 {
		return 0, false
	}
	return fc.byID[id], true
}

// present returns how many values of the rule's field hold a task.
func (p *planner) present(r *rule) int {
	if r.host {
		return p.app.hosts
	}
	return p.ruleFC[r.index].present
}

// minPresent returns the fewest tasks any value in use holds.
func (p *planner) minPresent(r *rule) int32 {
	m := int32(-1)
	take := func(n int32) {
		if n > 0 && (m < 0 || n < m) {
			m = n
		}
	}
	if r.host {
		for _, n := range p.app.onNode {
			take(n)
		}
	} else {
		for _, n := range p.ruleFC[r.index].byID {
			take(n)
		}
	}
	return m
}

// ruleOK evaluates a rule that depends on where the app's tasks are.
func (p *planner) ruleOK(r *rule, idx int32) bool {
	c, ok := p.countAt(r, idx)
	if !ok {
		return false
	}
	switch r.Operator {
	case Unique:
		return c == 0
	case MaxPer:
		return int(c) < r.n
	case Cluster:
		if t := p.cluster[r.index]; t != "" {
			v, _ := r.value(&p.s.nodes[idx])
			return v == t
		}
		return true
	case GroupBy:
		if r.drive {
			return r.n == 0 || c == 0 || p.present(r) >= r.n
		}
		return c == 0 || (p.present(r) >= r.n && c == p.minPresent(r))
	}
	return r.staticOK(&p.s.nodes[idx])
}

// fits reports whether one more instance fits the node, static rules aside.
func (p *planner) fits(idx int32) bool {
	n := &p.s.nodes[idx]
	if n.free[0] < p.need[0] || n.free[1] < p.need[1] || n.free[2] < p.need[2] {
		return false
	}
	if !p.portsFit(n) {
		return false
	}
	for _, r := range p.dynamic {
		if !p.ruleOK(r, idx) {
			return false
		}
	}
	return true
}

func (p *planner) portsFit(n *nodeState) bool {
	if p.usedFixed(n) != 0 {
		return false
	}
	return p.nDyn == 0 || p.freeDynamic(n) >= p.nDyn
}

// usedFixed returns the first fixed port already used on the node, or 0.
func (p *planner) usedFixed(n *nodeState) int {
	for _, f := range p.fixed {
		if n.portUsed(f) {
			return f
		}
	}
	return 0
}

// freeDynamic returns the ports of the node's ranges left for dynamic
// requests once the fixed requests inside the ranges are taken.
func (p *planner) freeDynamic(n *nodeState) int {
	avail := n.inRange
	for _, f := range p.fixed {
		if n.isInRange(f) {
			avail--
		}
	}
	return avail
}

// search walks the candidates from their cursor and returns the best of the
// first s.limit nodes that fit: fewest of the app's tasks, then least loaded.
func (p *planner) search(c *candidates) (int32, bool) {
	n := len(c.nodes)
	if n == 0 {
		return -1, false
	}
	start := c.cursor % n
	best, found, examined := int32(-1), 0, 0
	var bestCount int32
	var bestLoad float64
	for examined < n && found < p.s.limit {
		idx := c.nodes[(start+examined)%n]
		examined++
		if !p.fits(idx) {
			continue
		}
		found++
		cnt, load := p.app.onNode[idx], p.load(idx)
		if best < 0 || cnt < bestCount || (cnt == bestCount && load < bestLoad) {
			best, bestCount, bestLoad = idx, cnt, load
		}
	}
	c.cursor = (start + examined) % n
	return best, best >= 0
}

// load is the node's mean CPU and memory use after placing the instance.
func (p *planner) load(idx int32) float64 {
	n := &p.s.nodes[idx]
	l := 0.0
	for k := range 2 {
		if n.cap[k] > 0 {
			l += float64(n.cap[k]-n.free[k]+p.need[k]) / float64(n.cap[k])
		} else {
			l++
		}
	}
	return l / 2
}

// pickGrouped places on the value of the driving GROUP_BY with the fewest of
// the app's tasks that has a node with room.
func (p *planner) pickGrouped(c *candidates, r *rule) (int32, bool) {
	part := c.partition(p.s, r.Field)
	fc := p.ruleFC[r.index]
	if p.full == nil {
		p.full = make([]bool, len(fc.byID))
	}
	p.vals = p.vals[:0]
	for _, id := range part.ids {
		if !p.full[id] {
			p.vals = append(p.vals, id)
		}
	}
	slices.SortStableFunc(p.vals, func(a, b int32) int {
		return int(fc.byID[a]) - int(fc.byID[b])
	})
	for _, id := range p.vals {
		if n := fc.byID[id]; r.n > 0 && n > 0 && fc.present < r.n {
			break
		}
		if idx, ok := p.search(part.lists[id]); ok {
			return idx, true
		}
		p.full[id] = true
	}
	return -1, false
}

// apply charges the node with one instance and allocates its ports.
func (p *planner) apply(idx int32) Placement {
	s := p.s
	n := &s.nodes[idx]
	s.take(idx, p.app, p.need)
	for _, fc := range p.fcs {
		fc.add(idx, 1)
	}
	for i := range p.rules {
		if r := &p.rules[i]; r.Operator == Cluster && r.Value == "" && p.cluster[i] == "" {
			p.cluster[i], _ = r.value(n)
		}
	}
	pl := Placement{Node: n.name}
	if len(p.spec.Ports) == 0 {
		return pl
	}
	pl.Ports = make([]int, len(p.spec.Ports))
	for i, pr := range p.spec.Ports {
		if pr.Port != 0 {
			pl.Ports[i] = pr.Port
			n.usePort(pr.Port)
		}
	}
	for i, pr := range p.spec.Ports {
		if pr.Port == 0 {
			pl.Ports[i] = n.lowestFree()
			n.usePort(pl.Ports[i])
		}
	}
	return pl
}

// lowestFree returns the lowest unused port of the node's ranges; the caller
// has checked there is one and uses it.
func (n *nodeState) lowestFree() int {
	for _, r := range n.ranges {
		for port := max(r.From, n.hint); port <= r.To; port++ {
			if !n.portUsed(port) {
				n.hint = port + 1
				return port
			}
		}
	}
	return 0
}

// explain looks at every node and counts it under the first reason that
// rules it out.
func (p *planner) explain() []Rejection {
	if len(p.s.nodes) == 0 {
		return []Rejection{{Kind: RejectNoNodes, Constraint: -1, Text: "no nodes"}}
	}
	type key struct {
		kind       string
		constraint int
		port       int
		ranges     string
	}
	counts := map[key]int{}
	for i := range p.s.nodes {
		idx := int32(i)
		n := &p.s.nodes[i]
		k := key{constraint: -1}
		switch {
		case n.down:
			k.kind = RejectDown
		case n.drained:
			k.kind = RejectDrained
		default:
			if r := p.failedRule(idx); r >= 0 {
				k.kind, k.constraint = RejectConstraint, r
			} else if n.free[0] < p.need[0] {
				k.kind = RejectCPUs
			} else if n.free[1] < p.need[1] {
				k.kind = RejectMem
			} else if n.free[2] < p.need[2] {
				k.kind = RejectDisk
			} else if f := p.usedFixed(n); f != 0 {
				k.kind, k.port = RejectPort, f
			} else if p.nDyn > 0 && p.freeDynamic(n) < p.nDyn {
				k.kind, k.ranges = RejectPorts, n.rangesS
			}
		}
		if k.kind != "" {
			counts[k]++
		}
	}
	out := make([]Rejection, 0, len(counts))
	for k, c := range counts {
		out = append(out, Rejection{Kind: k.kind, Constraint: k.constraint, Port: k.port, Ranges: k.ranges, Nodes: c})
	}
	if len(out) == 0 {
		out = append(out, Rejection{Kind: RejectOther, Constraint: -1, Nodes: len(p.s.nodes)})
	}
	order := map[string]int{RejectDown: 0, RejectDrained: 1, RejectConstraint: 2, RejectCPUs: 3, RejectMem: 4, RejectDisk: 5, RejectPort: 6, RejectPorts: 7, RejectOther: 8}
	slices.SortFunc(out, func(a, b Rejection) int {
		if d := order[a.Kind] - order[b.Kind]; d != 0 {
			return d
		}
		if d := a.Constraint - b.Constraint; d != 0 {
			return d
		}
		if d := a.Port - b.Port; d != 0 {
			return d
		}
		return strings.Compare(a.Ranges, b.Ranges)
	})
	for i := range out {
		out[i].Text = p.text(out[i])
	}
	return out
}

// failedRule returns the index of the first constraint the node breaks, or -1.
func (p *planner) failedRule(idx int32) int {
	n := &p.s.nodes[idx]
	for i := range p.rules {
		r := &p.rules[i]
		ok := false
		if r.static() {
			ok = r.staticOK(n)
		} else {
			ok = p.ruleOK(r, idx)
		}
		if !ok {
			return r.index
		}
	}
	return -1
}
