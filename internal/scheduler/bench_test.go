package scheduler

import (
	"fmt"
	"testing"
)

// benchNodes builds n nodes of 16 CPUs, 64 GiB memory and 500 GiB disk with
// ports 31000-32000, spread over 100 racks, 3 zones and 3 roles.
func benchNodes(n int) []Node {
	nodes := make([]Node, n)
	roles := []string{"web", "api", "batch"}
	for i := range nodes {
		nodes[i] = Node{
			Name: fmt.Sprintf("node-%05d", i),
			Labels: map[string]string{
				"rack": fmt.Sprintf("rack-%02d", i%100),
				"zone": fmt.Sprintf("zone-%d", i%3),
				"role": roles[i%3],
			},
			Capacity: Resources{CPUs: 16, MemMiB: 64 << 10, DiskMiB: 500 << 10},
			Ports:    []PortRange{{31000, 32000}},
		}
	}
	return nodes
}

// benchApps returns 1,000 apps of 100 instances with varied sizes and one
// dynamic port; with constraints, they rotate through the operators.
func benchApps(constrained bool) []AppSpec {
	apps := make([]AppSpec, 1000)
	for i := range apps {
		apps[i] = AppSpec{
			ID:        fmt.Sprintf("app-%04d", i),
			Instances: 100,
			Resources: Resources{CPUs: []float64{0.1, 0.25, 0.5, 1}[i%4], MemMiB: []int64{64, 128, 256, 512}[i%4], DiskMiB: 100},
			Ports:     []PortRequest{{Name: "http"}},
		}
		if !constrained {
			continue
		}
		switch i % 4 {
		case 0:
			apps[i].Constraints = []Constraint{{Field: "hostname", Operator: Unique}}
		case 1:
			apps[i].Constraints = []Constraint{{Field: "role", Operator: Like, Value: "web|api"}, {Field: "rack", Operator: MaxPer, Value: "2"}}
		case 2:
			apps[i].Constraints = []Constraint{{Field: "zone", Operator: GroupBy, Value: "3"}, {Field: "hostname", Operator: MaxPer, Value: "1"}}
		case 3:
			apps[i].Constraints = []Constraint{{Field: "role", Operator: Unlike, Value: "batch"}, {Field: "hostname", Operator: Unique}}
		}
	}
	return apps
}

func benchPlace(b *testing.B, constrained bool) {
	nodes := benchNodes(10_000)
	apps := benchApps(constrained)
	placed := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		s, err := NewState(nodes, nil, Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, a := range apps {
			p, err := Place(s, a, a.Instances)
			if err != nil {
				b.Fatal(err)
			}
			if p.Unplaced > 0 {
				b.Fatalf("%s: %d unplaced: %s", a.ID, p.Unplaced, p.Explain())
			}
			placed += len(p.Placements)
		}
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// BenchmarkPlace10kNodes100kInstances places 1,000 apps of 100 instances on
// 10,000 nodes without constraints.
func BenchmarkPlace10kNodes100kInstances(b *testing.B) { benchPlace(b, false) }

// BenchmarkPlace10kNodes100kInstancesConstraints does the same with
// hostname UNIQUE, LIKE, UNLIKE, MAX_PER and GROUP_BY constraints.
func BenchmarkPlace10kNodes100kInstancesConstraints(b *testing.B) { benchPlace(b, true) }

// BenchmarkPlace10kNodes100kInstancesOneApp places one app of 100,000
// instances, limited to web and api nodes (6,667 of them) and 20 per node.
func BenchmarkPlace10kNodes100kInstancesOneApp(b *testing.B) {
	nodes := benchNodes(10_000)
	spec := AppSpec{
		ID:          "big",
		Resources:   Resources{CPUs: 0.1, MemMiB: 64},
		Ports:       []PortRequest{{Name: "http"}},
		Constraints: []Constraint{{"role", Like, "web|api"}, {"hostname", MaxPer, "20"}},
	}
	placed := 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		s, err := NewState(nodes, nil, Options{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := Place(s, spec, 100_000)
		if err != nil {
			b.Fatal(err)
		}
		if p.Unplaced > 0 {
			b.Fatalf("%d unplaced: %s", p.Unplaced, p.Explain())
		}
		placed += len(p.Placements)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "placements/s")
}

// BenchmarkNewState10kNodes100kTasks builds the State a reconcile pass
// starts from: 10,000 nodes with 100,000 tasks on them.
func BenchmarkNewState10kNodes100kTasks(b *testing.B) {
	nodes := benchNodes(10_000)
	tasks := make([]Task, 100_000)
	for i := range tasks {
		tasks[i] = Task{
			ID:        fmt.Sprintf("task-%06d", i),
			App:       fmt.Sprintf("app-%04d", i%1000),
			Node:      nodes[i%len(nodes)].Name,
			Resources: Resources{CPUs: 0.1, MemMiB: 64},
			Ports:     []int{31000 + i/len(nodes)},
		}
	}
	for b.Loop() {
		if _, err := NewState(nodes, tasks, Options{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaleDown10kTasks kills 5,000 of an app's 10,000 tasks spread
// over 1,000 nodes in 3 zones, with zone GROUP_BY.
func BenchmarkScaleDown10kTasks(b *testing.B) {
	nodes := benchNodes(1000)
	spec := AppSpec{ID: "big", Resources: Resources{CPUs: 0.1, MemMiB: 64}, Constraints: []Constraint{{"zone", GroupBy, ""}}}
	tasks := make([]Task, 10_000)
	for i := range tasks {
		tasks[i] = Task{ID: fmt.Sprintf("task-%05d", i), App: "big", Node: nodes[(i*7)%len(nodes)].Name, Resources: spec.Resources}
	}
	for b.Loop() {
		b.StopTimer()
		s, err := NewState(nodes, tasks, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if killed, err := ScaleDown(s, spec, 5000); err != nil || len(killed) != 5000 {
			b.Fatalf("killed %d: %v", len(killed), err)
		}
	}
}
