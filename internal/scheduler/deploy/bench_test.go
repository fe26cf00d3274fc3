package deploy

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

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

// cpuTime returns the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports the CPU time per call next to the wall
// time, which other processes on a shared machine inflate.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(n), "cpu-ns/op")
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
	loop(b, func() {
		out, err := Reconcile(in)
		if err != nil || len(out.Start)+len(out.Kill) != 0 {
			b.Fatalf("%v: %d starts, %d kills", err, len(out.Start), len(out.Kill))
		}
	})
}

// BenchmarkRollingUpgrade1000 reconciles the first call of a rolling
// upgrade of a 1,000-instance app (strategy 1/1: 1,000 new tasks placed)
// among 999 more apps of 100 instances on 10,000 nodes.
func BenchmarkRollingUpgrade1000(b *testing.B) {
	in := benchCluster(b, true)
	in.Apps[0].Config, in.Apps[0].Version = "c2", 2
	loop(b, func() {
		in.NewID = counterIDs()
		out, err := Reconcile(in)
		if err != nil || len(out.Start) != 1000 {
			b.Fatalf("%v: %d starts", err, len(out.Start))
		}
	})
}

// BenchmarkReconcileAppsUpgrade1000 is BenchmarkRollingUpgrade1000 through
// ReconcileApps for the upgraded app only.
func BenchmarkReconcileAppsUpgrade1000(b *testing.B) {
	in := benchCluster(b, true)
	in.Apps[0].Config, in.Apps[0].Version = "c2", 2
	ids := []string{in.Apps[0].Spec.ID}
	loop(b, func() {
		in.NewID = counterIDs()
		out, err := ReconcileApps(in, ids)
		if err != nil || len(out.Start) != 1000 {
			b.Fatalf("%v: %d starts", err, len(out.Start))
		}
	})
}

// BenchmarkReconcileAppsSteady reconciles one app of 100 instances with
// nothing to do among 100,000 tasks.
func BenchmarkReconcileAppsSteady(b *testing.B) {
	in := benchCluster(b, false)
	ids := []string{in.Apps[1].Spec.ID}
	loop(b, func() {
		out, err := ReconcileApps(in, ids)
		if err != nil || len(out.Start)+len(out.Kill) != 0 || !out.Apps[ids[0]].Done {
			b.Fatalf("%v: %d starts, %d kills", err, len(out.Start), len(out.Kill))
		}
	})
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
	loop(b, func() {
		out, err := Reconcile(in)
		if err != nil || len(out.Kill) != 1000 || len(out.Start) != 0 {
			b.Fatalf("%v: %d kills, %d starts", err, len(out.Kill), len(out.Start))
		}
	})
}
