package deploy

import (
	"fmt"
	"strconv"
	"testing"

	"corral/internal/api"
	"corral/internal/scheduler"
)

// benchCluster returns 10,000 nodes of 16 CPUs and 64 GiB and 1,000 apps of
// 100 instances (the first of 1,000 when big), all placed and healthy.
func benchCluster(b *testing.B, big bool) Input {
	nodes := make([]scheduler.Node, 10_000)
	for i := range nodes {
		nodes[i] = scheduler.Node{
			Name:     fmt.Sprintf("node-%05d", i),
			Labels:   map[string]string{"rack": fmt.Sprintf("rack-%02d", i%100)},
			Capacity: scheduler.Resources{CPUs: 16, MemMiB: 64 << 10, DiskMiB: 500 << 10},
			Ports:    []scheduler.PortRange{{From: 31000, To: 32000}},
		}
	}
	apps := make([]App, 1000)
	for i := range apps {
		n := 100
		if big && i == 0 {
			n = 1000
		}
		s := api.AppSpec{ID: fmt.Sprintf("/bench/app-%04d", i), Instances: &n}
		s.Cmd = "serve"
		s.CPUs, s.Mem = []float64{0.1, 0.25, 0.5, 1}[i%4], []int64{64, 128, 256, 512}[i%4]
		s.Ports = []api.PortSpec{{Name: "http"}}
		if i%2 == 0 {
			s.Constraints = []api.Constraint{{"rack", "MAX_PER", "25"}}
		}
		s.Defaults()
		apps[i] = App{Spec: s, Version: 1, Config: "c1"}
	}
	in := Input{Now: t0, Apps: apps, Nodes: nodes, NewID: counterIDs()}
	out, err := Reconcile(in)
	if err != nil {
		b.Fatal(err)
	}
	for _, st := range out.Start {
		t := st.Task
		t.State, t.StartedAt = api.TaskRunning, t0
		in.Tasks = append(in.Tasks, t)
	}
	return in
}

func counterIDs() func(string) string {
	n := 0
	return func(app string) string {
		n++
		return api.TaskID(app, strconv.Itoa(n))
	}
}

// BenchmarkSteadyState reconciles 1,000 apps × 100 instances on 10,000 nodes
// with nothing to do.
func BenchmarkSteadyState(b *testing.B) {
	in := benchCluster(b, false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := Reconcile(in)
		if err != nil || len(out.Start)+len(out.Kill) != 0 {
			b.Fatalf("%v: %d starts, %d kills", err, len(out.Start), len(out.Kill))
		}
	}
}

// BenchmarkRollingUpgrade1000 reconciles the first call of a rolling
// upgrade of a 1,000-instance app (strategy 1/1: 1,000 new tasks placed)
// among 999 more apps of 100 instances on 10,000 nodes.
func BenchmarkRollingUpgrade1000(b *testing.B) {
	in := benchCluster(b, true)
	in.Apps[0].Config, in.Apps[0].Version = "c2", 2
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in.NewID = counterIDs()
		out, err := Reconcile(in)
		if err != nil || len(out.Start) != 1000 {
			b.Fatalf("%v: %d starts", err, len(out.Start))
		}
	}
}

// BenchmarkRollingUpgradeKill1000 reconciles the call that kills the 1,000
// old tasks once the new ones are ready.
func BenchmarkRollingUpgradeKill1000(b *testing.B) {
	in := benchCluster(b, true)
	in.Apps[0].Config, in.Apps[0].Version = "c2", 2
	in.NewID = counterIDs()
	out, err := Reconcile(in)
	if err != nil {
		b.Fatal(err)
	}
	for _, st := range out.Start {
		t := st.Task
		t.State = api.TaskRunning
		in.Tasks = append(in.Tasks, t)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := Reconcile(in)
		if err != nil || len(out.Kill) != 1000 || len(out.Start) != 0 {
			b.Fatalf("%v: %d kills, %d starts", err, len(out.Kill), len(out.Start))
		}
	}
}
