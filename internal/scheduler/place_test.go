package scheduler

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// node builds a node with 4 CPUs, 4 GiB memory, 10 GiB disk, ports
// 31000-32000 and the labels given as key, value pairs.
func node(name string, labels ...string) Node {
	n := Node{
		Name:     name,
		Labels:   map[string]string{},
		Capacity: Resources{CPUs: 4, MemMiB: 4096, DiskMiB: 10240},
		Ports:    []PortRange{{31000, 32000}},
	}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func newState(t *testing.T, nodes []Node, tasks []Task) *State {
	t.Helper()
	s, err := NewState(nodes, tasks, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func place(t *testing.T, s *State, spec AppSpec, count int) Plan {
	t.Helper()
	p, err := Place(s, spec, count)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Placements)+p.Unplaced != count {
		t.Fatalf("%d placed + %d unplaced != %d", len(p.Placements), p.Unplaced, count)
	}
	return p
}

// perNode counts placements per node name.
func perNode(p Plan) map[string]int {
	m := map[string]int{}
	for _, pl := range p.Placements {
		m[pl.Node]++
	}
	return m
}

// perLabel counts placements per value of a label of the given nodes.
func perLabel(p Plan, nodes []Node, label string) map[string]int {
	byName := map[string]Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	m := map[string]int{}
	for _, pl := range p.Placements {
		m[byName[pl.Node].Labels[label]]++
	}
	return m
}

func app(constraints ...Constraint) AppSpec {
	return AppSpec{ID: "app", Resources: Resources{CPUs: 0.1, MemMiB: 32}, Constraints: constraints}
}

func TestPlaceOperators(t *testing.T) {
	racks := []Node{node("a1", "rack", "a"), node("a2", "rack", "a"), node("a3", "rack", "a"), node("b1", "rack", "b")}
	roles := []Node{node("w", "role", "web"), node("x", "role", "api"), node("y", "role", "apiserver"), node("z", "role", "batch"), node("n")}
	tests := []struct {
		name     string
		nodes    []Node
		tasks    []Task
		spec     AppSpec
		count    int
		perNode  map[string]int // exact placements per node, when set
		perRack  map[string]int // exact placements per "rack" label, when set
		unplaced int
		explain  string
	}{
		{name: "hostname UNIQUE", nodes: racks, spec: app(Constraint{"hostname", Unique, ""}), count: 5,
			perNode: map[string]int{"a1": 1, "a2": 1, "a3": 1, "b1": 1}, unplaced: 1, explain: "hostname UNIQUE excludes 4 nodes"},
		{name: "@hostname UNIQUE", nodes: racks, spec: app(Constraint{"@hostname", Unique, ""}), count: 4,
			perNode: map[string]int{"a1": 1, "a2": 1, "a3": 1, "b1": 1}},
		{name: "label UNIQUE refuses nodes without the label", nodes: append(slices.Clone(racks), node("c")), spec: app(Constraint{"rack", Unique, ""}), count: 3,
			perRack: map[string]int{"a": 1, "b": 1}, unplaced: 1, explain: "rack UNIQUE excludes 5 nodes"},
		{name: "UNIQUE counts existing tasks", nodes: racks, tasks: []Task{{ID: "t1", App: "app", Node: "b1"}}, spec: app(Constraint{"rack", Unique, ""}), count: 2,
			perRack: map[string]int{"a": 1}, unplaced: 1, explain: "rack UNIQUE excludes 4 nodes"},
		{name: "UNIQUE ignores other apps", nodes: racks, tasks: []Task{{ID: "t1", App: "other", Node: "b1"}}, spec: app(Constraint{"rack", Unique, ""}), count: 2,
			perRack: map[string]int{"a": 1, "b": 1}},
		{name: "CLUSTER value", nodes: racks, spec: app(Constraint{"rack", Cluster, "a"}), count: 6,
			perNode: map[string]int{"a1": 2, "a2": 2, "a3": 2}},
		{name: "CLUSTER hostname value", nodes: racks, spec: app(Constraint{"hostname", Cluster, "a2"}), count: 3,
			perNode: map[string]int{"a2": 3}},
		{name: "CLUSTER without value follows existing tasks", nodes: racks, tasks: []Task{{ID: "t1", App: "app", Node: "b1"}}, spec: app(Constraint{"rack", Cluster, ""}), count: 3,
			perNode: map[string]int{"b1": 3}},
		{name: "CLUSTER without value follows the most common value", nodes: racks,
			tasks: []Task{{ID: "t1", App: "app", Node: "b1"}, {ID: "t2", App: "app", Node: "a1"}, {ID: "t3", App: "app", Node: "a2"}},
			spec:  app(Constraint{"rack", Cluster, ""}), count: 3, perRack: map[string]int{"a": 3}},
		{name: "CLUSTER without value says where it settled", nodes: racks, tasks: []Task{{ID: "t1", App: "app", Node: "b1"}},
			spec: app(Constraint{"rack", Cluster, ""}, Constraint{"hostname", Unique, ""}), count: 1, unplaced: 1,
			explain: `rack CLUSTER, settled on "b", excludes 3 nodes; hostname UNIQUE excludes 1 node`},
		{name: "CLUSTER hostname without value", nodes: racks, spec: app(Constraint{"hostname", Cluster, ""}), count: 4},
		{name: "CLUSTER no node has the value", nodes: racks, spec: app(Constraint{"rack", Cluster, "c"}), count: 1,
			unplaced: 1, explain: `rack CLUSTER "c" excludes 4 nodes`},
		{name: "GROUP_BY evens out uneven racks", nodes: racks, spec: app(Constraint{"rack", GroupBy, ""}), count: 6,
			perRack: map[string]int{"a": 3, "b": 3}},
		{name: "GROUP_BY fills the emptiest value first", nodes: racks,
			tasks: []Task{{ID: "t1", App: "app", Node: "a1"}, {ID: "t2", App: "app", Node: "a2"}},
			spec:  app(Constraint{"rack", GroupBy, ""}), count: 3, perRack: map[string]int{"a": 1, "b": 2}},
		{name: "GROUP_BY skips a full value", nodes: []Node{node("a1", "rack", "a"), node("b1", "rack", "b"), {Name: "c1", Labels: map[string]string{"rack": "c"}, Ports: []PortRange{{1, 10}}}},
			spec: app(Constraint{"rack", GroupBy, ""}), count: 4, perRack: map[string]int{"a": 2, "b": 2}},
		{name: "GROUP_BY n waits for n values", nodes: []Node{node("a1", "rack", "a"), node("b1", "rack", "b"), {Name: "c1", Labels: map[string]string{"rack": "c"}, Ports: []PortRange{{1, 10}}}},
			spec: app(Constraint{"rack", GroupBy, "3"}), count: 4, perRack: map[string]int{"a": 1, "b": 1}, unplaced: 2,
			explain: "rack GROUP_BY 3 excludes 2 nodes; needs 0.1 CPUs, 1 node has less"},
		{name: "GROUP_BY n met", nodes: racks, spec: app(Constraint{"rack", GroupBy, "2"}), count: 4, perRack: map[string]int{"a": 2, "b": 2}},
		{name: "LIKE matches whole values", nodes: roles, spec: app(Constraint{"role", Like, "web|api"}), count: 4,
			perNode: map[string]int{"w": 2, "x": 2}},
		{name: "LIKE unplaceable", nodes: roles, spec: app(Constraint{"role", Like, "db"}), count: 1, unplaced: 1, explain: `role LIKE "db" excludes 5 nodes`},
		{name: "UNLIKE accepts nodes without the label", nodes: roles, spec: app(Constraint{"role", Unlike, "api.*|batch"}), count: 4,
			perNode: map[string]int{"w": 2, "n": 2}},
		{name: "IS", nodes: roles, spec: app(Constraint{"role", Is, "api"}), count: 2, perNode: map[string]int{"x": 2}},
		{name: "MAX_PER label", nodes: racks, spec: app(Constraint{"rack", MaxPer, "2"}), count: 5,
			perRack: map[string]int{"a": 2, "b": 2}, unplaced: 1, explain: "rack MAX_PER 2 excludes 4 nodes"},
		{name: "MAX_PER hostname", nodes: racks, spec: app(Constraint{"hostname", MaxPer, "2"}), count: 9,
			perNode: map[string]int{"a1": 2, "a2": 2, "a3": 2, "b1": 2}, unplaced: 1, explain: "hostname MAX_PER 2 excludes 4 nodes"},
		{name: "constraints combine", nodes: append(slices.Clone(racks), node("b2", "rack", "b", "role", "web"), node("b3", "rack", "b", "role", "web")),
			spec: app(Constraint{"rack", Is, "b"}, Constraint{"role", Like, "web"}, Constraint{"hostname", Unique, ""}), count: 3,
			perNode: map[string]int{"b2": 1, "b3": 1}, unplaced: 1,
			explain: `rack IS "b" excludes 3 nodes; role LIKE "web" excludes 1 node; hostname UNIQUE excludes 2 nodes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState(t, tt.nodes, tt.tasks)
			p := place(t, s, tt.spec, tt.count)
			if tt.perNode != nil && !maps.Equal(perNode(p), tt.perNode) {
				t.Errorf("per node = %v, want %v", perNode(p), tt.perNode)
			}
			if tt.perRack != nil && !maps.Equal(perLabel(p, tt.nodes, "rack"), tt.perRack) {
				t.Errorf("per rack = %v, want %v", perLabel(p, tt.nodes, "rack"), tt.perRack)
			}
			if p.Unplaced != tt.unplaced {
				t.Errorf("unplaced = %d, want %d", p.Unplaced, tt.unplaced)
			}
			if got := p.Explain(); got != tt.explain {
				t.Errorf("explain = %q, want %q", got, tt.explain)
			}
		})
	}
}

func TestPlaceClusterWithoutValueSticksToFirst(t *testing.T) {
	nodes := []Node{node("a1", "rack", "a"), node("a2", "rack", "a"), node("b1", "rack", "b"), node("b2", "rack", "b"), node("c1")}
	for seed := range uint64(20) {
		s, err := NewState(nodes, nil, Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		p := place(t, s, app(Constraint{"rack", Cluster, ""}), 4)
		racks := perLabel(p, nodes, "rack")
		if len(racks) != 1 || racks[""] != 0 {
			t.Fatalf("seed %d: racks %v, want all 4 in one rack", seed, racks)
		}
		// A later call keeps to the same rack.
		p2 := place(t, s, app(Constraint{"rack", Cluster, ""}), 2)
		for r := range perLabel(p2, nodes, "rack") {
			if racks[r] == 0 {
				t.Fatalf("seed %d: second call went to rack %q, first to %v", seed, r, racks)
			}
		}
		s2, _ := NewState(nodes, nil, Options{Seed: seed})
		if h := perNode(place(t, s2, app(Constraint{"hostname", Cluster, ""}), 3)); len(h) != 1 {
			t.Fatalf("seed %d: hostname CLUSTER spread over %v", seed, h)
		}
	}
}

func TestPlaceExplainsEveryNode(t *testing.T) {
	small := func(name string, cpus float64, mem int64) Node {
		n := node(name, "role", "web")
		n.Capacity.CPUs, n.Capacity.MemMiB = cpus, mem
		return n
	}
	nodes := []Node{
		{Name: "down", Down: true, Capacity: Resources{CPUs: 8, MemMiB: 8192}},
		{Name: "drained", Drained: true, Capacity: Resources{CPUs: 8, MemMiB: 8192}},
		node("has-one", "role", "web"),
		node("batch", "role", "batch"),
		small("tiny-cpu", 0.25, 4096),
		small("tiny-mem1", 4, 64),
		small("tiny-mem2", 4, 100),
		{Name: "no-disk", Labels: map[string]string{"role": "api"}, Capacity: Resources{CPUs: 4, MemMiB: 4096}, Ports: []PortRange{{31000, 31001}}},
		{Name: "ports-used", Labels: map[string]string{"role": "api"}, Capacity: Resources{CPUs: 4, MemMiB: 4096, DiskMiB: 100}, Ports: []PortRange{{31000, 31001}}},
		{Name: "port-8080", Labels: map[string]string{"role": "api"}, Capacity: Resources{CPUs: 4, MemMiB: 4096, DiskMiB: 100}, Ports: []PortRange{{31000, 31001}}},
	}
	tasks := []Task{
		{ID: "mine", App: "web", Node: "has-one"},
		{ID: "other1", App: "other", Node: "ports-used", Ports: []int{31000, 31001}},
		{ID: "other2", App: "other", Node: "port-8080", Ports: []int{8080}},
	}
	s := newState(t, nodes, tasks)
	spec := AppSpec{
		ID:          "web",
		Resources:   Resources{CPUs: 0.5, MemMiB: 128, DiskMiB: 10},
		Ports:       []PortRequest{{Name: "admin", Port: 8080}, {Name: "http"}},
		Constraints: []Constraint{{"hostname", Unique, ""}, {"role", Like, "web|api"}},
	}
	p := place(t, s, spec, 2)
	want := "1 node down; 1 node drained; hostname UNIQUE excludes 1 node; role LIKE \"web|api\" excludes 1 node; " +
		"needs 0.5 CPUs, 1 node has less; needs 128 MiB, 2 nodes have less; needs 10 MiB disk, 1 node has less; " +
		"port 8080 in use on 1 node; no free port in 31000-31001 on 1 node"
	if p.Unplaced != 2 || p.Explain() != want {
		t.Fatalf("unplaced %d, explain\n%q\nwant\n%q", p.Unplaced, p.Explain(), want)
	}
	total := 0
	for _, r := range p.Rejections {
		total += r.Nodes
	}
	if total != len(nodes) {
		t.Errorf("rejections count %d nodes, want %d", total, len(nodes))
	}
	wantKinds := []string{RejectDown, RejectDrained, RejectConstraint, RejectConstraint, RejectCPUs, RejectMem, RejectDisk, RejectPort, RejectPorts}
	var kinds []string
	for _, r := range p.Rejections {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("kinds %v, want %v", kinds, wantKinds)
	}
	if r := p.Rejections[3]; r.Constraint != 1 || r.Nodes != 1 {
		t.Errorf("LIKE rejection = %+v, want constraint 1, 1 node", r)
	}
	if r := p.Rejections[7]; r.Port != 8080 {
		t.Errorf("port rejection = %+v, want port 8080", r)
	}
}

func TestPlaceExplainTexts(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		spec  AppSpec
		want  string
	}{
		{name: "no nodes", spec: app(), want: "no nodes"},
		{name: "one CPU", nodes: []Node{{Name: "n", Capacity: Resources{CPUs: 0.5, MemMiB: 100}}}, spec: AppSpec{ID: "a", Resources: Resources{CPUs: 1}}, want: "needs 1 CPU, 1 node has less"},
		{name: "no port range", nodes: []Node{{Name: "n", Capacity: Resources{CPUs: 1}}}, spec: AppSpec{ID: "a", Ports: []PortRequest{{}}}, want: "no port range on 1 node"},
		{name: "two ports", nodes: []Node{{Name: "n", Capacity: Resources{CPUs: 1}, Ports: []PortRange{{5, 5}, {7, 7}}}}, spec: AppSpec{ID: "a", Ports: []PortRequest{{}, {}, {}}}, want: "fewer than 3 free ports in 5,7 on 1 node"},
		{name: "all down", nodes: []Node{{Name: "n1", Down: true}, {Name: "n2", Down: true}}, spec: app(), want: "2 nodes down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := place(t, newState(t, tt.nodes, nil), tt.spec, 1)
			if p.Unplaced != 1 || p.Explain() != tt.want {
				t.Errorf("unplaced %d, explain %q, want %q", p.Unplaced, p.Explain(), tt.want)
			}
		})
	}
}

func TestPlaceResourcesRunOut(t *testing.T) {
	nodes := []Node{
		{Name: "n1", Capacity: Resources{CPUs: 1, MemMiB: 1024}},
		{Name: "n2", Capacity: Resources{CPUs: 1, MemMiB: 256}},
	}
	s := newState(t, nodes, []Task{{ID: "t", App: "other", Node: "n1", Resources: Resources{CPUs: 0.3, MemMiB: 512}}})
	// 0.1 CPUs ten times is exactly 1 CPU: no float drift may refuse the tenth.
	spec := AppSpec{ID: "a", Resources: Resources{CPUs: 0.1, MemMiB: 64}}
	p := place(t, s, spec, 12)
	// n1 holds 7 (0.3 + 0.7 CPUs), n2 holds 4 (256 MiB), then n1 runs out of CPUs.
	if want := map[string]int{"n1": 7, "n2": 4}; !maps.Equal(perNode(p), want) {
		t.Errorf("per node %v, want %v", perNode(p), want)
	}
	if want := "needs 0.1 CPUs, 1 node has less; needs 64 MiB, 1 node has less"; p.Unplaced != 1 || p.Explain() != want {
		t.Errorf("unplaced %d, explain %q, want %q", p.Unplaced, p.Explain(), want)
	}
	// Successive calls see earlier placements.
	if p2 := place(t, s, AppSpec{ID: "b", Resources: Resources{CPUs: 0.001, MemMiB: 1}}, 1); p2.Unplaced != 1 {
		t.Errorf("a full cluster took another instance: %+v", p2)
	}
}

func TestPlacePorts(t *testing.T) {
	t.Run("dynamic ports are distinct per node", func(t *testing.T) {
		s := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31000, 31004}}}},
			[]Task{{ID: "t", App: "other", Node: "n", Ports: []int{31001}}})
		spec := AppSpec{ID: "a", Ports: []PortRequest{{Name: "http"}, {Name: "admin"}}}
		p := place(t, s, spec, 3)
		want := []Placement{{Node: "n", Ports: []int{31000, 31002}}, {Node: "n", Ports: []int{31003, 31004}}}
		if !reflect.DeepEqual(p.Placements, want) {
			t.Errorf("placements %v, want %v", p.Placements, want)
		}
		if p.Unplaced != 1 || p.Explain() != "fewer than 2 free ports in 31000-31004 on 1 node" {
			t.Errorf("unplaced %d, explain %q", p.Unplaced, p.Explain())
		}
	})
	t.Run("fixed ports conflict", func(t *testing.T) {
		s := newState(t, []Node{node("n1"), node("n2")}, nil)
		spec := AppSpec{ID: "a", Ports: []PortRequest{{Name: "http", Port: 8080}}}
		p := place(t, s, spec, 3)
		if want := map[string]int{"n1": 1, "n2": 1}; !maps.Equal(perNode(p), want) {
			t.Errorf("per node %v, want %v", perNode(p), want)
		}
		for _, pl := range p.Placements {
			if !slices.Equal(pl.Ports, []int{8080}) {
				t.Errorf("ports %v, want [8080]", pl.Ports)
			}
		}
		if p.Unplaced != 1 || p.Explain() != "port 8080 in use on 2 nodes" {
			t.Errorf("unplaced %d, explain %q", p.Unplaced, p.Explain())
		}
		// Another app asking for the same port finds none either.
		if p2 := place(t, s, AppSpec{ID: "b", Ports: []PortRequest{{Port: 8080}}}, 1); p2.Unplaced != 1 {
			t.Errorf("port 8080 given twice: %+v", p2)
		}
	})
	t.Run("fixed port inside the range leaves fewer dynamic ports", func(t *testing.T) {
		s := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31000, 31002}}}}, nil)
		spec := AppSpec{ID: "a", Ports: []PortRequest{{Name: "dyn"}, {Name: "fixed", Port: 31000}}}
		p := place(t, s, spec, 2)
		want := []Placement{{Node: "n", Ports: []int{31001, 31000}}}
		if !reflect.DeepEqual(p.Placements, want) || p.Explain() != "port 31000 in use on 1 node" {
			t.Errorf("placements %v, explain %q; want %v", p.Placements, p.Explain(), want)
		}
		// One port is left, but an app with a fixed port in range and a
		// dynamic one needs two.
		s2 := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31000, 31000}}}}, nil)
		if p := place(t, s2, spec, 1); p.Explain() != "no free port in 31000 on 1 node" {
			t.Errorf("explain %q", p.Explain())
		}
	})
	t.Run("ranges merge and run out", func(t *testing.T) {
		s := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31003, 31004}, {31000, 31001}, {31001, 31002}}}}, nil)
		p := place(t, s, AppSpec{ID: "a", Ports: []PortRequest{{}}}, 6)
		var got []int
		for _, pl := range p.Placements {
			got = append(got, pl.Ports...)
		}
		if !slices.Equal(got, []int{31000, 31001, 31002, 31003, 31004}) || p.Explain() != "no free port in 31000-31004 on 1 node" {
			t.Errorf("ports %v, explain %q", got, p.Explain())
		}
	})
	t.Run("freed ports are reused lowest first", func(t *testing.T) {
		s := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31000, 31010}}}},
			[]Task{{ID: "t1", App: "a", Node: "n", Ports: []int{31000}}})
		spec := AppSpec{ID: "a", Ports: []PortRequest{{}}}
		var got []int
		got = append(got, place(t, s, spec, 1).Placements[0].Ports...)
		s.RemoveTask("t1")
		got = append(got, place(t, s, spec, 1).Placements[0].Ports...)
		got = append(got, place(t, s, spec, 1).Placements[0].Ports...)
		if want := []int{31001, 31000, 31002}; !slices.Equal(got, want) {
			t.Errorf("ports %v, want %v", got, want)
		}
	})
	t.Run("removed task frees its ports", func(t *testing.T) {
		s := newState(t, []Node{{Name: "n", Capacity: Resources{CPUs: 4}, Ports: []PortRange{{31000, 31000}}}},
			[]Task{{ID: "t", App: "a", Node: "n", Ports: []int{31000}}})
		if _, ok := s.RemoveTask("t"); !ok {
			t.Fatal("task not known")
		}
		if p := place(t, s, AppSpec{ID: "a", Ports: []PortRequest{{}}}, 1); p.Unplaced != 0 || p.Placements[0].Ports[0] != 31000 {
			t.Errorf("plan %+v", p)
		}
	})
}

func TestPlaceSkipsDrainedAndDownNodes(t *testing.T) {
	nodes := []Node{node("up"), node("d"), node("x")}
	nodes[1].Drained = true
	nodes[2].Down = true
	s := newState(t, nodes, nil)
	p := place(t, s, app(), 5)
	if want := map[string]int{"up": 5}; !maps.Equal(perNode(p), want) {
		t.Errorf("per node %v, want %v", perNode(p), want)
	}
	if err := s.SetDrained("d", false); err != nil {
		t.Fatal(err)
	}
	if p := place(t, s, app(), 1); !maps.Equal(perNode(p), map[string]int{"d": 1}) {
		t.Errorf("undrained node not used: %v", perNode(p))
	}
	if err := s.SetDrained("nope", true); err == nil {
		t.Error("SetDrained of an unknown node succeeded")
	}
}

func TestPlaceSpreads(t *testing.T) {
	for seed := range uint64(50) {
		s, err := NewState([]Node{node("n1"), node("n2"), node("n3")}, nil, Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if p := place(t, s, app(), 3); len(perNode(p)) != 3 {
			t.Fatalf("seed %d: 3 instances on %v", seed, perNode(p))
		}
	}
	// Spread is per app, then by load: a second app avoids the node the
	// first app loaded most.
	s := newState(t, []Node{node("n1"), node("n2")}, []Task{{ID: "big", App: "other", Node: "n1", Resources: Resources{CPUs: 3, MemMiB: 3000}}})
	if p := place(t, s, app(), 1); p.Placements[0].Node != "n2" {
		t.Errorf("placed on the loaded node %s", p.Placements[0].Node)
	}
	// On 100 nodes, more than Candidates, already loaded unevenly by other
	// apps, 100 instances still land on 100 different nodes.
	var hundred []Node
	for i := range 100 {
		hundred = append(hundred, node(fmt.Sprintf("h%03d", i)))
	}
	for seed := range uint64(5) {
		s, err := NewState(hundred, nil, Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			place(t, s, AppSpec{ID: fmt.Sprint("other", i), Resources: Resources{CPUs: 0.05 * float64(i+1), MemMiB: 10}}, 50)
		}
		if got := perNode(place(t, s, app(), 100)); len(got) != 100 {
			t.Errorf("seed %d: 100 instances on %d nodes", seed, len(got))
		}
	}
	// Twelve identical nodes, 100 instances: 8 or 9 each.
	var nodes []Node
	for i := range 12 {
		nodes = append(nodes, node(fmt.Sprintf("n%02d", i)))
	}
	counts := perNode(place(t, newState(t, nodes, nil), app(), 100))
	for n, c := range counts {
		if c < 8 || c > 9 {
			t.Errorf("%s holds %d of 100 instances on 12 nodes", n, c)
		}
	}
}

func TestPlaceIsDeterministic(t *testing.T) {
	nodes := benchNodes(300)
	apps := benchApps(true)[:40]
	run := func(nodes []Node) []Plan {
		s, err := NewState(nodes, nil, Options{Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		var plans []Plan
		for _, a := range apps {
			plans = append(plans, place(t, s, a, 20))
		}
		return plans
	}
	first := run(nodes)
	reversed := slices.Clone(nodes)
	slices.Reverse(reversed)
	if !reflect.DeepEqual(first, run(nodes)) || !reflect.DeepEqual(first, run(reversed)) {
		t.Error("same nodes, calls and seed gave different plans")
	}
}

func TestNewStateRejects(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		tasks []Task
		want  string
	}{
		{name: "duplicate node", nodes: []Node{{Name: "a"}, {Name: "a"}}, want: "node a: listed twice"},
		{name: "bad range", nodes: []Node{{Name: "a", Ports: []PortRange{{10, 5}}}}, want: "node a: port range 10-5: want 1 <= from <= to <= 65535"},
		{name: "duplicate task", nodes: []Node{{Name: "a"}}, tasks: []Task{{ID: "t", App: "x", Node: "a"}, {ID: "t", App: "x", Node: "a"}}, want: "task t: listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewState(tt.nodes, tt.tasks, Options{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
