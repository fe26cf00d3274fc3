package deploy

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

// limits computes an app's bounds from the package doc's formulas.
func limits(n int, h, o float64, oldLeft bool) (lo, hi int) {
	lo = int(math.Ceil(float64(n)*h - 1e-9))
	hi = int(math.Floor(float64(n)*(1+o) + 1e-9))
	if oldLeft && n > 0 && hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// TestProperty plays random clusters: random apps, strategies and task
// states, then many calls with an agent that starts tasks, makes them
// ready or fail, and with config changes, scaling, nodes going down and
// drains in between. Every call must keep the bounds (no start beyond the
// alive maximum, no kill below the ready minimum), never overcommit a node
// and never place on a down or drained node; once the chaos stops, every
// app must converge to done.
func TestProperty(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 30
	}
	total := map[string]int{}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { playRandom(t, seed, total) })
	}
	t.Logf("over %d clusters: %v", seeds, total)
	// The runs must have gone through every path the bounds guard.
	for _, k := range []string{"start", "kill replaced", "kill drained", "kill health", "kill scaled", "lost", "backoff", "dependency", "upgrade done"} {
		if total[k] == 0 {
			t.Errorf("no %q in any run", k)
		}
	}
}

func playRandom(t *testing.T, seed uint64, total map[string]int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	nodes := testNodes(4 + rng.IntN(5))
	for i := range nodes {
		nodes[i].Labels = map[string]string{"role": []string{"web", "batch"}[i%2]}
	}
	strategies := []float64{0, 0.25, 0.5, 0.75, 1}
	var apps []App
	for i := range 1 + rng.IntN(4) {
		a := testApp(fmt.Sprintf("/app-%d", i), rng.IntN(7), strategies[rng.IntN(5)], strategies[rng.IntN(5)])
		a.Spec.Backoff = api.Backoff{Initial: api.Duration(time.Second), Factor: 2, Max: api.Duration(10 * time.Second)}
		if rng.IntN(2) == 0 {
			a.Spec.HealthChecks = []api.HealthCheck{{Protocol: api.ProtocolTCP, GracePeriod: api.Duration(time.Second)}}
			a.Spec.Defaults()
		}
		if rng.IntN(3) == 0 {
			a.Spec.Constraints = []api.Constraint{{"role", "LIKE", "web"}}
		}
		if i > 0 && rng.IntN(3) == 0 {
			a.Spec.DependsOn = []string{apps[rng.IntN(i)].Spec.ID}
		}
		apps = append(apps, a)
	}
	s := newSim(t, nodes, apps...)
	s.seed = seed
	s.stats = total
	states := []string{api.TaskStaging, api.TaskRunning, api.TaskHealthy, api.TaskUnhealthy, api.TaskFailed}
	for _, a := range apps {
		for j := range rng.IntN(7) {
			node := nodes[rng.IntN(len(nodes))].Name
			if len(a.Spec.Constraints) > 0 {
				node = nodes[2*rng.IntN(len(nodes)/2)].Name
			}
			state := states[rng.IntN(len(states))]
			if state == api.TaskUnhealthy && len(a.Spec.HealthChecks) == 0 {
				state = api.TaskRunning // only health checks make a task unhealthy
			}
			s.add(api.Task{
				ID: fmt.Sprintf("%s-init-%d", a.Spec.ID[1:], j), App: a.Spec.ID, Config: []string{"c0", "c1"}[rng.IntN(2)], Version: 1,
				Node: node, State: state, StagedAt: t0.Add(-time.Hour), StartedAt: t0.Add(-time.Hour),
				CPUs: 0.1, Mem: 32,
			})
		}
	}

	version := int64(1)
	for step := range 80 {
		s.checkedStep(t, step)
		s.agent(rng, true)
		s.now = s.now.Add(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		switch rng.IntN(20) {
		case 0:
			a := &s.apps[rng.IntN(len(s.apps))]
			version++
			a.Version, a.Config = version, fmt.Sprintf("c%d", version)
		case 1:
			a := &s.apps[rng.IntN(len(s.apps))]
			n := rng.IntN(7)
			a.Spec.Instances = &n
		case 2:
			n := &s.nodes[rng.IntN(len(s.nodes))]
			n.Down = !n.Down
		case 3:
			n := &s.nodes[rng.IntN(len(s.nodes))]
			n.Drained = !n.Drained
		}
	}
	for i := range s.nodes {
		s.nodes[i].Down, s.nodes[i].Drained = false, false
	}
	for step := range 100 {
		out := s.checkedStep(t, 1000+step)
		done := true
		for _, r := range out.Apps {
			done = done && r.Done
		}
		if done {
			s.checkDone(t)
			return
		}
		s.agent(rng, false)
		s.now = s.now.Add(time.Second)
		if out.Wake.After(s.now) {
			s.now = out.Wake
		}
	}
	out, _ := Reconcile(s.input())
	t.Fatalf("not converged after 100 calls: %+v", out.Apps)
}

// checkedStep reconciles once, applies the output and checks the bounds.
func (s *sim) checkedStep(t *testing.T, step int) Output {
	t.Helper()
	type before struct {
		ready   int
		oldLeft bool
	}
	pre := map[string]before{}
	for _, a := range s.apps {
		_, ready := s.counts(a.Spec.ID)
		b := before{ready: ready}
		for _, tk := range s.tasks {
			if tk.App == a.Spec.ID && !api.TaskTerminal(tk.State) && tk.Desired != api.DesiredKill && !s.down(tk.Node) &&
				(tk.Config != a.Config || s.node(tk.Node).Drained) {
				b.oldLeft = true
			}
		}
		pre[a.Spec.ID] = b
	}
	out := s.step()
	s.count(out)
	started := map[string]int{}
	for _, st := range out.Start {
		started[st.Task.App]++
		if n := s.node(st.Task.Node); n.Down || n.Drained {
			t.Fatalf("call %d: task %s placed on node %s (down %v, drained %v)", step, st.Task.ID, n.Name, n.Down, n.Drained)
		}
	}
	for _, a := range s.apps {
		id := a.Spec.ID
		h, o := *a.Spec.UpgradeStrategy.MinimumHealthCapacity, *a.Spec.UpgradeStrategy.MaximumOverCapacity
		lo, hi := limits(a.Spec.Count(), h, o, pre[id].oldLeft)
		alive, ready := s.counts(id)
		if started[id] > 0 && alive > hi {
			t.Fatalf("call %d: %s: %d alive after starting %d, max %d", step, id, alive, started[id], hi)
		}
		if ready < min(lo, pre[id].ready) {
			t.Fatalf("call %d: %s: %d ready after kills, was %d, min %d", step, id, ready, pre[id].ready, lo)
		}
	}
	s.checkCapacity(t, step)
	return out
}

// count adds what a call did to the statistics.
func (s *sim) count(out Output) {
	if s.stats == nil {
		return
	}
	s.stats["start"] += len(out.Start)
	s.stats["lost"] += len(out.Lost)
	for _, k := range out.Kill {
		switch {
		case strings.HasPrefix(k.Reason, "replaced"):
			s.stats["kill replaced"]++
		case strings.HasSuffix(k.Reason, "drained"):
			s.stats["kill drained"]++
		case strings.HasPrefix(k.Reason, HealthKillPrefix):
			s.stats["kill health"]++
		case strings.HasPrefix(k.Reason, "scaled"):
			s.stats["kill scaled"]++
		}
	}
	for _, a := range s.apps {
		r := out.Apps[a.Spec.ID]
		switch {
		case strings.HasPrefix(r.Waiting, "backing off"):
			s.stats["backoff"]++
		case strings.HasPrefix(r.Waiting, "waiting for /"):
			s.stats["dependency"]++
		case r.Done && a.Version > 1:
			s.stats["upgrade done"]++
		}
	}
}

func (s *sim) node(name string) scheduler.Node {
	for _, n := range s.nodes {
		if n.Name == name {
			return n
		}
	}
	return scheduler.Node{Name: name, Down: true}
}

// checkCapacity checks that the tasks not ended on each up node fit it.
func (s *sim) checkCapacity(t *testing.T, step int) {
	t.Helper()
	cpu, mem := map[string]float64{}, map[string]int64{}
	for _, tk := range s.tasks {
		if api.TaskTerminal(tk.State) || s.down(tk.Node) {
			continue
		}
		cpu[tk.Node] += tk.CPUs
		mem[tk.Node] += tk.Mem
	}
	for _, n := range s.nodes {
		if cpu[n.Name] > n.Capacity.CPUs+1e-9 || mem[n.Name] > n.Capacity.MemMiB {
			t.Fatalf("call %d: node %s holds %.1f CPUs, %d MiB; has %.1f, %d", step, n.Name, cpu[n.Name], mem[n.Name], n.Capacity.CPUs, n.Capacity.MemMiB)
		}
	}
}

// checkDone checks what done means against the records: per app, exactly
// its instance count of tasks not ended, all of its config and ready.
func (s *sim) checkDone(t *testing.T) {
	t.Helper()
	for _, a := range s.apps {
		var n, good int
		for _, tk := range s.tasks {
			if tk.App != a.Spec.ID || api.TaskTerminal(tk.State) {
				continue
			}
			n++
			if tk.Config == a.Config && tk.Desired == api.DesiredRun &&
				(tk.State == api.TaskHealthy || tk.State == api.TaskRunning && len(a.Spec.HealthChecks) == 0) {
				good++
			}
		}
		if n != a.Spec.Count() || good != n {
			t.Errorf("%s done with %d tasks not ended, %d of them ready on config %s; want %d", a.Spec.ID, n, good, a.Config, a.Spec.Count())
		}
	}
}

// agent moves tasks on: kills end, staging tasks start and become ready
// (health-checked ones healthy), and with chaos some fail, crash or go
// unhealthy.
func (s *sim) agent(rng *rand.Rand, chaos bool) {
	for _, id := range slices.Sorted(maps.Keys(s.tasks)) {
		tk := s.tasks[id]
		if api.TaskTerminal(tk.State) || s.down(tk.Node) {
			continue
		}
		p := rng.Float64()
		switch {
		case tk.Desired == api.DesiredKill:
			if !chaos || p < 0.8 {
				tk.State, tk.FinishedAt = api.TaskKilled, s.now
			}
		case tk.State == api.TaskStaging || tk.State == api.TaskStarting || tk.State == api.TaskRunning:
			switch {
			case chaos && p < 0.1:
				tk.State, tk.Reason, tk.FinishedAt = api.TaskFailed, "exit code 1", s.now
			case chaos && p < 0.2:
				// stays
			default:
				tk.State, tk.StartedAt = api.TaskHealthy, s.now
				if !s.hasChecks(tk.App) {
					tk.State = api.TaskRunning
				}
				tk.Health = []api.TaskHealth{{Alive: true, FirstSuccess: s.now}}
			}
		case chaos && p < 0.03:
			tk.State, tk.Reason, tk.FinishedAt = api.TaskFailed, "exit code 2", s.now
		case chaos && p < 0.06 && s.hasChecks(tk.App):
			tk.State = api.TaskUnhealthy
			tk.Health = []api.TaskHealth{{FirstSuccess: t0, ConsecutiveFailures: 3, LastFailureCause: "connection refused"}}
		case tk.State == api.TaskUnhealthy && !chaos:
			// Its checks keep failing: the reconciler kills it.
			tk.Health = []api.TaskHealth{{ConsecutiveFailures: 3, LastFailureCause: "connection refused"}}
		}
	}
}
