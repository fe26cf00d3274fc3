package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testNodes returns n nodes "node-0".. of 4 CPUs, 4096 MiB and 100 ports.
func testNodes(n int) []scheduler.Node {
	out := make([]scheduler.Node, n)
	for i := range out {
		out[i] = scheduler.Node{
			Name:     fmt.Sprintf("node-%d", i),
			Capacity: scheduler.Resources{CPUs: 4, MemMiB: 4096, DiskMiB: 10000},
			Ports:    []scheduler.PortRange{{From: 31000, To: 31099}},
		}
	}
	return out
}

// testApp returns an app of n instances of 0.1 CPU and 32 MiB with one
// dynamic port, config "c1", version 1, strategy h/o.
func testApp(id string, n int, h, o float64) App {
	s := api.AppSpec{ID: id, Instances: &n}
	s.Cmd = "sleep 1000"
	s.CPUs, s.Mem = 0.1, 32
	s.Ports = []api.PortSpec{{Name: "http"}}
	s.UpgradeStrategy = api.UpgradeStrategy{MinimumHealthCapacity: &h, MaximumOverCapacity: &o}
	s.Defaults()
	return App{Spec: s, Version: 1, Config: "c1"}
}

// sim keeps the records a server would keep and carries out the outputs.
type sim struct {
	t       testing.TB
	now     time.Time
	apps    []App
	nodes   []scheduler.Node
	tasks   map[string]*api.Task
	backoff map[string]Backoff
	ids     int
	seed    uint64
	stats   map[string]int // what calls did, by kind
}

func newSim(t testing.TB, nodes []scheduler.Node, apps ...App) *sim {
	return &sim{t: t, now: t0, apps: apps, nodes: nodes, tasks: map[string]*api.Task{}, backoff: map[string]Backoff{}}
}

func (s *sim) input() Input {
	in := Input{Now: s.now, Apps: s.apps, Nodes: s.nodes, Backoff: s.backoff, Seed: s.seed}
	for _, id := range slices.Sorted(maps.Keys(s.tasks)) {
		in.Tasks = append(in.Tasks, *s.tasks[id])
	}
	in.NewID = func(app string) string {
		s.ids++
		return api.TaskID(app, fmt.Sprintf("%04d", s.ids))
	}
	return in
}

// step reconciles once and applies the output to the records.
func (s *sim) step() Output {
	s.t.Helper()
	out, err := Reconcile(s.input())
	if err != nil {
		s.t.Fatalf("Reconcile: %v", err)
	}
	s.apply(out)
	return out
}

func (s *sim) apply(out Output) {
	for _, st := range out.Start {
		t := st.Task
		if _, dup := s.tasks[t.ID]; dup {
			s.t.Fatalf("start of task %s: id in use", t.ID)
		}
		s.tasks[t.ID] = &t
	}
	for _, k := range out.Kill {
		t := s.tasks[k.TaskID]
		if t == nil {
			s.t.Fatalf("kill of unknown task %s", k.TaskID)
		}
		t.Desired, t.KillReason = api.DesiredKill, k.Reason
	}
	for _, id := range out.Lost {
		t := s.tasks[id]
		t.State, t.Reason, t.FinishedAt = api.TaskLost, "node "+t.Node+" is down", s.now
	}
	for _, id := range out.Remove {
		if s.tasks[id] == nil || !api.TaskTerminal(s.tasks[id].State) {
			s.t.Fatalf("remove of task %s that has not ended", id)
		}
		delete(s.tasks, id)
	}
	s.backoff = out.Backoff
}

// add stores a task record.
func (s *sim) add(t api.Task) *api.Task {
	if t.Kind == "" {
		t.Kind = api.TaskKindApp
	}
	if t.Desired == "" {
		t.Desired = api.DesiredRun
	}
	s.tasks[t.ID] = &t
	return &t
}

// addTasks stores n tasks of app in state on nodes round robin, ids
// "<prefix>-<i>", started an hour apart (the last newest).
func (s *sim) addTasks(app App, prefix, config string, n int, state string) {
	for i := range n {
		s.add(api.Task{
			ID: fmt.Sprintf("%s-%d", prefix, i), App: app.Spec.ID, Config: config, Version: 1,
			Node: s.nodes[i%len(s.nodes)].Name, State: state, Ports: []int{31050 + i},
			StagedAt: t0.Add(-time.Duration(10-i) * time.Hour), StartedAt: t0.Add(-time.Duration(10-i) * time.Hour),
		})
	}
}

// settle plays an agent that ends killed tasks and makes staging tasks
// healthy (or running, without health checks).
func (s *sim) settle() {
	for _, t := range s.tasks {
		switch {
		case api.TaskTerminal(t.State):
		case t.Desired == api.DesiredKill:
			t.State, t.FinishedAt = api.TaskKilled, s.now
		case t.State == api.TaskStaging || t.State == api.TaskStarting || t.State == api.TaskRunning:
			t.State, t.StartedAt = api.TaskHealthy, s.now
		}
	}
}

// counts returns the alive and ready tasks of an app, as the package doc
// defines them, computed from the records.
func (s *sim) counts(app string) (alive, ready int) {
	for _, t := range s.tasks {
		if t.App != app || api.TaskTerminal(t.State) || t.Desired == api.DesiredKill || s.down(t.Node) {
			continue
		}
		alive++
		if t.State == api.TaskHealthy || t.State == api.TaskRunning && !s.hasChecks(app) {
			ready++
		}
	}
	return alive, ready
}

func (s *sim) down(node string) bool {
	for _, n := range s.nodes {
		if n.Name == node {
			return n.Down
		}
	}
	return true
}

func (s *sim) hasChecks(app string) bool {
	for _, a := range s.apps {
		if a.Spec.ID == app {
			return len(a.Spec.HealthChecks) > 0
		}
	}
	return false
}

// byConfig counts an app's tasks not ended per config, in "c1=2 c2=3" form.
func (s *sim) byConfig(app string) string {
	m := map[string]int{}
	for _, t := range s.tasks {
		if t.App == app && !api.TaskTerminal(t.State) && t.Desired != api.DesiredKill {
			m[t.Config]++
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func killIDs(out Output) []string {
	ids := make([]string, len(out.Kill))
	for i, k := range out.Kill {
		ids[i] = k.TaskID
	}
	return ids
}
