package scheduler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
)

// model is the test's own account of what placements use, kept from the
// plans Place returns and checked against the rules written out again here.
type model struct {
	nodes map[string]Node
	used  map[string]*[3]int64 // milli-CPUs, MiB, MiB
	ports map[string]map[int]bool
	apps  map[string][]string // app -> node of every placement
}

func randomNodes(r *rand.Rand) []Node {
	nodes := make([]Node, 1+r.IntN(12))
	for i := range nodes {
		n := Node{
			Name:     fmt.Sprintf("n%02d", i),
			Labels:   map[string]string{},
			Capacity: Resources{CPUs: []float64{0.5, 1, 2, 4}[r.IntN(4)], MemMiB: []int64{128, 256, 1024}[r.IntN(3)], DiskMiB: []int64{0, 100, 1000}[r.IntN(3)]},
			Drained:  r.IntN(10) == 0,
			Down:     r.IntN(10) == 0,
		}
		if r.IntN(5) > 0 {
			n.Labels["rack"] = []string{"a", "b", "c"}[r.IntN(3)]
		}
		if r.IntN(5) > 0 {
			n.Labels["role"] = []string{"web", "api", "batch"}[r.IntN(3)]
		}
		if r.IntN(10) > 0 {
			n.Ports = []PortRange{{31000, 31000 + r.IntN(4)}}
		}
		nodes[i] = n
	}
	return nodes
}

var propConstraints = []Constraint{
	{"hostname", Unique, ""}, {"rack", Unique, ""}, {"rack", Cluster, "a"}, {"rack", Cluster, ""},
	{"hostname", Cluster, ""}, {"role", Like, "web|api"}, {"role", Unlike, "batch"}, {"rack", MaxPer, "2"},
	{"hostname", MaxPer, "3"}, {"role", Is, "web"}, {"rack", GroupBy, ""}, {"rack", GroupBy, "2"}, {"hostname", GroupBy, ""},
}

func randomApp(r *rand.Rand, id string) AppSpec {
	a := AppSpec{
		ID:        id,
		Resources: Resources{CPUs: []float64{0, 0.1, 0.25, 0.5}[r.IntN(4)], MemMiB: []int64{0, 32, 64, 128}[r.IntN(4)], DiskMiB: []int64{0, 10, 100}[r.IntN(3)]},
	}
	fixed := map[int]bool{}
	for range r.IntN(3) {
		p := []int{0, 0, 8080, 31000}[r.IntN(4)]
		if p != 0 && fixed[p] {
			continue
		}
		fixed[p] = true
		a.Ports = append(a.Ports, PortRequest{Port: p})
	}
	for range r.IntN(3) {
		a.Constraints = append(a.Constraints, propConstraints[r.IntN(len(propConstraints))])
	}
	return a
}

func fieldValue(n Node, field string) (string, bool) {
	if field == "hostname" || field == "@hostname" {
		return n.Name, true
	}
	v, ok := n.Labels[field]
	return v, ok
}

// allowed says whether one more instance of app may go on node n given
// where the app's instances are, by the constraints alone. GROUP_BY is
// checked only for the node having the field.
func (m *model) allowed(app AppSpec, n Node) bool {
	for _, c := range app.Constraints {
		v, has := fieldValue(n, c.Field)
		count, values, clusterValue := 0, map[string]int{}, ""
		for _, name := range m.apps[app.ID] {
			pv, _ := fieldValue(m.nodes[name], c.Field)
			values[pv]++
			clusterValue = pv
			if pv == v {
				count++
			}
		}
		switch c.Operator {
		case Unlike:
			if has && regexp.MustCompile("^(?:"+c.Value+")$").MatchString(v) {
				return false
			}
			continue
		case Like:
			if !has || !regexp.MustCompile("^(?:"+c.Value+")$").MatchString(v) {
				return false
			}
		}
		if !has {
			return false
		}
		switch c.Operator {
		case Unique:
			if count > 0 {
				return false
			}
		case MaxPer:
			if limit, _ := strconv.Atoi(c.Value); count >= limit {
				return false
			}
		case Is:
			if v != c.Value {
				return false
			}
		case Cluster:
			if c.Value != "" && v != c.Value || c.Value == "" && len(values) > 0 && v != clusterValue {
				return false
			}
		}
	}
	return true
}

// fits says whether one more instance fits node n by resources and ports.
func (m *model) fits(app AppSpec, n Node) bool {
	if n.Down || n.Drained {
		return false
	}
	u := m.used[n.Name]
	need := [3]int64{int64(math.Round(app.CPUs * 1000)), app.MemMiB, app.DiskMiB}
	capacity := [3]int64{int64(math.Round(n.Capacity.CPUs * 1000)), n.Capacity.MemMiB, n.Capacity.DiskMiB}
	for k := range need {
		if u[k]+need[k] > capacity[k] {
			return false
		}
	}
	taken := map[int]bool{}
	dynamic := 0
	for _, p := range app.Ports {
		if p.Port == 0 {
			dynamic++
		} else if m.ports[n.Name][p.Port] {
			return false
		} else {
			taken[p.Port] = true
		}
	}
	for _, r := range n.Ports {
		for p := r.From; p <= r.To; p++ {
			if !m.ports[n.Name][p] && !taken[p] {
				dynamic--
			}
		}
	}
	return dynamic <= 0
}

func inRanges(rs []PortRange, p int) bool {
	for _, r := range rs {
		if p >= r.From && p <= r.To {
			return true
		}
	}
	return false
}

// TestPlaceNeverBreaksRules places random apps on random nodes and checks
// every placement against capacity, ports and constraints, and that an
// instance is left unplaced only when no node could take it.
func TestPlaceNeverBreaksRules(t *testing.T) {
	for iter := range 400 {
		r := rand.New(rand.NewPCG(uint64(iter), 42))
		nodes := randomNodes(r)
		s, err := NewState(nodes, nil, Options{Seed: uint64(iter), Candidates: 1 + r.IntN(4)})
		if err != nil {
			t.Fatal(err)
		}
		m := &model{nodes: map[string]Node{}, used: map[string]*[3]int64{}, ports: map[string]map[int]bool{}, apps: map[string][]string{}}
		for _, n := range nodes {
			m.nodes[n.Name] = n
			m.used[n.Name] = &[3]int64{}
			m.ports[n.Name] = map[int]bool{}
		}
		apps := make([]AppSpec, 1+r.IntN(5))
		for i := range apps {
			apps[i] = randomApp(r, fmt.Sprintf("app%d", i))
		}
		for call := range 8 {
			a := apps[r.IntN(len(apps))]
			count := 1 + r.IntN(8)
			p, err := Place(s, a, count)
			if err != nil {
				t.Fatal(err)
			}
			where := fmt.Sprintf("iter %d call %d app %+v", iter, call, a)
			if len(p.Placements)+p.Unplaced != count {
				t.Fatalf("%s: %d placed + %d unplaced != %d", where, len(p.Placements), p.Unplaced, count)
			}
			for _, pl := range p.Placements {
				n, ok := m.nodes[pl.Node]
				if !ok {
					t.Fatalf("%s: placed on unknown node %s", where, pl.Node)
				}
				if !m.fits(a, n) {
					t.Fatalf("%s: placed on %s, which has no room (used %v, ports %v)", where, n.Name, *m.used[n.Name], m.ports[n.Name])
				}
				if !m.allowed(a, n) {
					t.Fatalf("%s: placed on %s against the constraints; earlier on %v", where, n.Name, m.apps[a.ID])
				}
				if len(pl.Ports) != len(a.Ports) {
					t.Fatalf("%s: got ports %v for requests %v", where, pl.Ports, a.Ports)
				}
				for i, req := range a.Ports {
					port := pl.Ports[i]
					if req.Port != 0 && port != req.Port || req.Port == 0 && !inRanges(n.Ports, port) {
						t.Fatalf("%s: request %+v got port %d on %s (ranges %v)", where, req, port, n.Name, n.Ports)
					}
					if m.ports[n.Name][port] {
						t.Fatalf("%s: port %d given twice on %s", where, port, n.Name)
					}
					m.ports[n.Name][port] = true
				}
				u := m.used[n.Name]
				u[0] += int64(math.Round(a.CPUs * 1000))
				u[1] += a.MemMiB
				u[2] += a.DiskMiB
				m.apps[a.ID] = append(m.apps[a.ID], n.Name)
			}
			checkGroupBy(t, where, m, a)
			if p.Unplaced == 0 {
				continue
			}
			total := 0
			for _, rej := range p.Rejections {
				total += rej.Nodes
			}
			if total != len(nodes) || p.Explain() == "" {
				t.Fatalf("%s: rejections %+v cover %d of %d nodes", where, p.Rejections, total, len(nodes))
			}
			if hasGroupBy(a) {
				continue // the driving GROUP_BY may refuse nodes the model does not know to refuse
			}
			for _, n := range nodes {
				if m.fits(a, n) && m.allowed(a, n) {
					t.Fatalf("%s: %d unplaced (%s) but %s could take one", where, p.Unplaced, p.Explain(), n.Name)
				}
			}
		}
	}
}

func hasGroupBy(a AppSpec) bool {
	for _, c := range a.Constraints {
		if c.Operator == GroupBy {
			return true
		}
	}
	return false
}

// checkGroupBy checks GROUP_BY n: no value holds two of the app's instances
// before n values hold one, and nodes without the field are not used.
func checkGroupBy(t *testing.T, where string, m *model, a AppSpec) {
	t.Helper()
	for _, c := range a.Constraints {
		if c.Operator != GroupBy {
			continue
		}
		values := map[string]int{}
		most := 0
		for _, name := range m.apps[a.ID] {
			v, ok := fieldValue(m.nodes[name], c.Field)
			if !ok {
				t.Fatalf("%s: GROUP_BY %s placed on %s, which lacks it", where, c.Field, name)
			}
			values[v]++
			most = max(most, values[v])
		}
		if n, _ := strconv.Atoi(c.Value); n > 0 && most > 1 && len(values) < n {
			t.Fatalf("%s: %s: a value holds %d instances but only %d values are used: %v", where, c, most, len(values), values)
		}
	}
}
