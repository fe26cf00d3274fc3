package deploy

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

func TestBounds(t *testing.T) {
	tests := []struct {
		name             string
		n                int
		h, o             float64
		old              bool
		minReady, maxAli int
	}{
		{"defaults", 3, 1, 1, true, 3, 6},
		{"half and a quarter", 4, 0.5, 0.25, true, 2, 5},
		{"half of odd rounds up, over rounds down", 5, 0.5, 0.1, true, 3, 5},
		{"1/0 gets one over while old remain", 3, 1, 0, true, 3, 4},
		{"1/0 without old tasks", 3, 1, 0, false, 3, 3},
		{"float noise 10 x 0.3", 10, 0.3, 0, true, 3, 10},
		{"0/0 stops all first", 4, 0, 0, true, 0, 4},
		{"no instances", 0, 1, 1, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := bounds(tt.n, tt.h, tt.o, tt.old)
			if lo != tt.minReady || hi != tt.maxAli {
				t.Errorf("bounds(%d, %v, %v, %v) = %d, %d; want %d, %d", tt.n, tt.h, tt.o, tt.old, lo, hi, tt.minReady, tt.maxAli)
			}
		})
	}
}

// TestRollingUpgrade follows n=4, minimum_health_capacity 0.5,
// maximum_over_capacity 0.25 (at least 2 ready, at most 5 alive) call by
// call, with every new task becoming healthy and every kill ending between
// calls.
func TestRollingUpgrade(t *testing.T) {
	app := testApp("/shop/api", 4, 0.5, 0.25)
	s := newSim(t, testNodes(3), app)
	s.addTasks(app, "old", "c1", 4, api.TaskHealthy)
	s.apps[0].Config, s.apps[0].Version = "c2", 2

	type step struct {
		kills  []string
		starts int
		report AppReport
	}
	steps := []step{
		// 4 ready - 2 = 2 old killed, newest first; min(4, 5-2) = 3 started.
		{[]string{"old-3", "old-2"}, 3, AppReport{Target: 4, New: 3, Healthy: 0, Old: 4, Waiting: "waiting for 3 of 3 new instances to be ready; waiting for 4 tasks to stop"}},
		// 3 new + 2 old ready: 3 over 2, both old killed; min(1, 5-3) = 1.
		{[]string{"old-1", "old-0"}, 1, AppReport{Target: 4, New: 4, Healthy: 3, Old: 2, Waiting: "waiting for 1 of 4 new instances to be ready; waiting for 2 tasks to stop"}},
		{nil, 0, AppReport{Target: 4, New: 4, Healthy: 4, Done: true}},
	}
	for i, want := range steps {
		out := s.step()
		if got := killIDs(out); !slices.Equal(got, want.kills) {
			t.Errorf("call %d: kills %v, want %v", i+1, got, want.kills)
		}
		if len(out.Start) != want.starts {
			t.Errorf("call %d: %d starts, want %d", i+1, len(out.Start), want.starts)
		}
		if got := out.Apps["/shop/api"]; got != want.report {
			t.Errorf("call %d: report %+v, want %+v", i+1, got, want.report)
		}
		alive, ready := s.counts("/shop/api")
		if alive > 5 || ready < 2 {
			t.Errorf("call %d: %d alive, %d ready: want at most 5 and at least 2", i+1, alive, ready)
		}
		for _, k := range out.Kill {
			if k.Reason != "replaced by version 2" {
				t.Errorf("call %d: kill reason %q", i+1, k.Reason)
			}
		}
		s.settle()
	}
	if got := s.byConfig("/shop/api"); got != "c2=4" {
		t.Errorf("tasks at the end: %s, want c2=4", got)
	}
}

// TestStrategies replays upgrades of n=3 under several strategies: each
// call's (kills, starts) until done, computed by hand from the rules in the
// package doc.
func TestStrategies(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		h, o  float64
		old   int      // old healthy tasks at the start
		calls [][2]int // kills, starts; the last call is the one that finds it done
	}{
		// min 3, max 6: all new first, then all old.
		{"defaults 1/1", 3, 1, 1, 3, [][2]int{{0, 3}, {3, 0}, {0, 0}}},
		// min 0, max 3: stop all, start all.
		{"0/0", 3, 0, 0, 3, [][2]int{{3, 3}, {0, 0}}},
		// min 3, max 3+1: one at a time.
		{"1/0", 3, 1, 0, 3, [][2]int{{0, 1}, {1, 1}, {1, 1}, {1, 0}, {0, 0}}},
		// min 2, max 3.
		{"0.5/0", 3, 0.5, 0, 3, [][2]int{{1, 1}, {1, 1}, {1, 1}, {0, 0}}},
		// 2 of 4 old crashed: min 4, max 5; new started without waiting.
		{"crashed old 1/0.25", 4, 1, 0.25, 2, [][2]int{{0, 3}, {1, 1}, {1, 0}, {0, 0}}},
		// scale down and upgrade at once: min 2, max 4.
		{"4 old to 2 new 1/1", 2, 1, 1, 4, [][2]int{{2, 2}, {2, 0}, {0, 0}}},
		{"suspend to 0", 0, 1, 1, 3, [][2]int{{3, 0}, {0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp("/a", tt.n, tt.h, tt.o)
			s := newSim(t, testNodes(4), app)
			s.addTasks(app, "old", "c1", tt.old, api.TaskHealthy)
			s.apps[0].Config = "c2"
			lo, hi := bounds(tt.n, tt.h, tt.o, true)
			for i, want := range tt.calls {
				_, readyBefore := s.counts("/a")
				out := s.step()
				if got := [2]int{len(out.Kill), len(out.Start)}; got != want {
					t.Errorf("call %d: (kills, starts) = %v, want %v", i+1, got, want)
				}
				alive, ready := s.counts("/a")
				if len(out.Start) > 0 && alive > hi {
					t.Errorf("call %d: %d alive after starting, max %d", i+1, alive, hi)
				}
				if ready < min(lo, readyBefore) {
					t.Errorf("call %d: %d ready after kills, min %d", i+1, ready, lo)
				}
				if done := out.Apps["/a"].Done; done != (i == len(tt.calls)-1) {
					t.Errorf("call %d: done %v", i+1, done)
				}
				s.settle()
			}
		})
	}
}

func TestOldNotReadyKilledFirst(t *testing.T) {
	// n=2, 1/0: min 2, max 3. The unhealthy old task goes at once; the
	// healthy one stays until 2 others are ready.
	app := testApp("/a", 2, 1, 0)
	s := newSim(t, testNodes(3), app)
	s.addTasks(app, "old", "c1", 2, api.TaskHealthy)
	s.tasks["old-1"].State = api.TaskUnhealthy
	s.apps[0].Config = "c2"
	out := s.step()
	if got := killIDs(out); !slices.Equal(got, []string{"old-1"}) {
		t.Errorf("kills %v, want [old-1]", got)
	}
	if len(out.Start) != 2 {
		t.Errorf("%d starts, want 2", len(out.Start))
	}
}

func TestScale(t *testing.T) {
	t.Run("up", func(t *testing.T) {
		app := testApp("/a", 4, 1, 1)
		s := newSim(t, testNodes(2), app)
		s.addTasks(app, "a", "c1", 2, api.TaskHealthy)
		out := s.step()
		if len(out.Kill) != 0 || len(out.Start) != 2 {
			t.Fatalf("kills %v, %d starts; want none and 2", killIDs(out), len(out.Start))
		}
		want := AppReport{Target: 4, New: 4, Healthy: 2, Waiting: "waiting for 2 of 4 new instances to be ready"}
		if got := out.Apps["/a"]; got != want {
			t.Errorf("report %+v, want %+v", got, want)
		}
		st := out.Start[0].Task
		if st.Kind != api.TaskKindApp || st.App != "/a" || st.Config != "c1" || st.Version != 1 || st.Desired != api.DesiredRun ||
			st.State != api.TaskStaging || !st.StagedAt.Equal(t0) || len(st.Ports) != 1 || st.CPUs != 0.1 || st.Mem != 32 || st.ID != "a.0001" {
			t.Errorf("started task %+v", st)
		}
	})
	t.Run("down: staging, then newest", func(t *testing.T) {
		app := testApp("/a", 2, 1, 1)
		s := newSim(t, testNodes(4), app)
		s.addTasks(app, "a", "c1", 4, api.TaskHealthy)
		s.tasks["a-0"].State = api.TaskStaging // the oldest, but staging
		out := s.step()
		if got := killIDs(out); !slices.Equal(got, []string{"a-0", "a-3"}) {
			t.Errorf("kills %v, want [a-0 a-3]", got)
		}
		if len(out.Start) != 0 || out.Kill[0].Reason != "scaled down to 2" {
			t.Errorf("starts %d, reason %q", len(out.Start), out.Kill[0].Reason)
		}
		s.settle()
		if out := s.step(); !out.Apps["/a"].Done {
			t.Errorf("not done after the kills ended: %+v", out.Apps["/a"])
		}
	})
}

func TestScaleDownNotYetHealthyFirst(t *testing.T) {
	// With health checks, a running task is not known healthy: it goes
	// before a healthy one, even an older one before a newer.
	app := testApp("/a", 1, 1, 1)
	app.Spec.HealthChecks = []api.HealthCheck{{Protocol: api.ProtocolTCP}}
	app.Spec.Defaults()
	s := newSim(t, testNodes(2), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy)
	s.tasks["a-0"].State = api.TaskRunning
	out := s.step()
	if got := killIDs(out); !slices.Equal(got, []string{"a-0"}) {
		t.Errorf("kills %v, want [a-0]", got)
	}
}

func TestDelay(t *testing.T) {
	b := api.Backoff{Initial: api.Duration(time.Second), Factor: 1.15, Max: api.Duration(5 * time.Minute)}
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, time.Second},
		{2, 1150 * time.Millisecond},
		{3, 1322500 * time.Microsecond},
		{4, 1520875 * time.Microsecond},
		{41, 5 * time.Minute},    // 1.15^40 = 267.9 s stays under 300 s
		{42, 5 * time.Minute},    // 1.15^41 = 308 s is capped
		{10000, 5 * time.Minute}, // overflows to +Inf: capped
	}
	for _, tt := range tests {
		got := Delay(b, tt.failures)
		if tt.failures == 41 {
			// 1.15^40 × 1 s, computed by repeated multiplication.
			want := 1.0
			for range 40 {
				want *= 1.15
			}
			if diff := got - time.Duration(want*float64(time.Second)); diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("Delay(%d) = %v, want %.6fs", tt.failures, got, want)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	app := testApp("/a", 1, 1, 1)
	s := newSim(t, testNodes(1), app)
	s.add(api.Task{ID: "a-0", App: "/a", Config: "c1", Node: "node-0", State: api.TaskFailed, Reason: "exit code 1", StagedAt: t0.Add(-time.Minute), FinishedAt: t0})

	out := s.step()
	if len(out.Start) != 0 || !out.Wake.Equal(t0.Add(time.Second)) {
		t.Fatalf("after the first failure: %d starts, wake %v", len(out.Start), out.Wake)
	}
	if got, want := out.Apps["/a"].Waiting, "backing off until 12:00:01 after 1 failure (last: exit code 1)"; got != want {
		t.Errorf("waiting %q, want %q", got, want)
	}
	if len(out.Remove) != 0 || !slices.Equal(out.Backoff["/a"].Counted, []string{"a-0"}) {
		t.Errorf("remove %v, counted %v: the failure record is kept and counted", out.Remove, out.Backoff["/a"].Counted)
	}
	if out := s.step(); out.Backoff["/a"].Failures != 1 || len(out.Start) != 0 {
		t.Errorf("second call at the same time: %d failures, %d starts; want 1 and 0", out.Backoff["/a"].Failures, len(out.Start))
	}

	s.now = t0.Add(time.Second)
	out = s.step()
	if len(out.Start) != 1 {
		t.Fatalf("backoff over: %d starts, want 1", len(out.Start))
	}
	t1 := s.tasks[out.Start[0].Task.ID]
	s.now = t0.Add(2 * time.Second)
	t1.State, t1.Reason, t1.FinishedAt = api.TaskFailed, "exit code 2", s.now
	out = s.step()
	if got, want := out.Apps["/a"].Waiting, "backing off until 12:00:03.15 after 2 failures (last: exit code 2)"; got != want {
		t.Errorf("waiting %q, want %q", got, want)
	}
	if !out.Wake.Equal(t0.Add(3150 * time.Millisecond)) {
		t.Errorf("wake %v, want 12:00:03.15", out.Wake)
	}

	s.now = t0.Add(3150 * time.Millisecond)
	if out := s.step(); len(out.Start) != 1 {
		t.Fatalf("second backoff over: %d starts, want 1", len(out.Start))
	}
	s.settle()
	out = s.step()
	if b := out.Backoff["/a"]; b.Failures != 0 || !b.Until.IsZero() || !out.Apps["/a"].Done {
		t.Errorf("after a replacement became ready: backoff %+v, report %+v; want reset and done", b, out.Apps["/a"])
	}
}

func TestBackoffNotResetBySibling(t *testing.T) {
	app := testApp("/a", 2, 1, 1)
	s := newSim(t, testNodes(1), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy)
	s.tasks["a-1"].State, s.tasks["a-1"].FinishedAt = api.TaskFailed, t0
	s.step()
	s.now = t0.Add(time.Second)
	out := s.step()
	if len(out.Start) != 1 {
		t.Fatalf("%d starts, want 1", len(out.Start))
	}
	nt := s.tasks[out.Start[0].Task.ID]
	s.now = t0.Add(2 * time.Second)
	nt.State, nt.FinishedAt = api.TaskFinished, s.now // exit 0 is a failure for an app
	out = s.step()
	if b := out.Backoff["/a"]; b.Failures != 2 || !b.Until.Equal(s.now.Add(1150*time.Millisecond)) {
		t.Errorf("backoff %+v, want 2 failures until +1.15s while a-0 stays healthy", b)
	}
}

func TestNotFailures(t *testing.T) {
	// Killed on request, lost, and another config's failure: no backoff.
	app := testApp("/a", 3, 1, 1)
	s := newSim(t, testNodes(1), app)
	s.add(api.Task{ID: "k", App: "/a", Config: "c1", Node: "node-0", State: api.TaskFailed, Desired: api.DesiredKill, KillReason: "scaled down to 2", FinishedAt: t0})
	s.add(api.Task{ID: "l", App: "/a", Config: "c1", Node: "node-0", State: api.TaskLost, FinishedAt: t0})
	s.add(api.Task{ID: "o", App: "/a", Config: "c0", Node: "node-0", State: api.TaskFailed, FinishedAt: t0})
	out := s.step()
	if b := out.Backoff["/a"]; b.Failures != 0 || len(out.Start) != 3 {
		t.Errorf("backoff %+v, %d starts; want no failures and 3 starts", b, len(out.Start))
	}
	if !slices.Equal(out.Remove, []string{"k"}) {
		t.Errorf("remove %v, want [k] (lost and failed records are kept)", out.Remove)
	}
}

func TestStoppingTaskReplaced(t *testing.T) {
	// A task the agent is stopping by itself is not alive: it is replaced,
	// and the app is not done until it has ended.
	app := testApp("/a", 2, 1, 1)
	s := newSim(t, testNodes(2), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy)
	s.tasks["a-1"].State = api.TaskKilling
	out := s.step()
	if len(out.Start) != 1 || len(out.Kill) != 0 {
		t.Fatalf("%d starts, kills %v; want 1 and none", len(out.Start), killIDs(out))
	}
	if r := out.Apps["/a"]; r.Done || r.New != 2 || r.Old != 0 {
		t.Errorf("report %+v", r)
	}
}

func TestHealthKill(t *testing.T) {
	app := testApp("/a", 3, 1, 1)
	app.Spec.HealthChecks = []api.HealthCheck{{Protocol: api.ProtocolHTTP}}
	app.Spec.Defaults() // max 3 failures, grace 5m
	s := newSim(t, testNodes(1), app)
	s.addTasks(app, "a", "c1", 3, api.TaskHealthy)
	a0, a1, a2 := s.tasks["a-0"], s.tasks["a-1"], s.tasks["a-2"]
	a0.State, a0.Health = api.TaskUnhealthy, []api.TaskHealth{{ConsecutiveFailures: 3, FirstSuccess: t0.Add(-time.Hour), LastFailureCause: "HTTP 500"}}
	a1.State, a1.StartedAt, a1.Health = api.TaskUnhealthy, t0.Add(-time.Minute), []api.TaskHealth{{ConsecutiveFailures: 3}} // in its grace period
	a2.Health = []api.TaskHealth{{Alive: true, ConsecutiveFailures: 2}}
	out := s.step()
	if len(out.Kill) != 1 || out.Kill[0] != (Kill{TaskID: "a-0", Reason: "health check 0 failed 3 times: HTTP 500"}) {
		t.Fatalf("kills %+v, want a-0 for its health", out.Kill)
	}
	if len(out.Start) != 1 {
		t.Errorf("%d starts, want 1 replacement", len(out.Start))
	}
	a0.State, a0.FinishedAt = api.TaskKilled, t0
	if out := s.step(); out.Backoff["/a"].Failures != 1 {
		t.Errorf("a health kill is a failure: backoff %+v", out.Backoff["/a"])
	}
}

func TestLost(t *testing.T) {
	app := testApp("/a", 2, 1, 1)
	s := newSim(t, testNodes(3), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy) // a-0 on node-0, a-1 on node-1
	s.nodes[0].Down = true
	out := s.step()
	if !slices.Equal(out.Lost, []string{"a-0"}) || len(out.Kill) != 0 {
		t.Fatalf("lost %v, kills %v; want [a-0] and none", out.Lost, killIDs(out))
	}
	if len(out.Start) != 1 || out.Start[0].Task.Node == "node-0" {
		t.Fatalf("starts %+v, want 1 off node-0", out.Start)
	}
	s.settle()
	out = s.step()
	if b := out.Backoff["/a"]; b.Failures != 0 || !out.Apps["/a"].Done {
		t.Errorf("backoff %+v, report %+v: lost tasks cause no backoff", b, out.Apps["/a"])
	}
}

func TestDrain(t *testing.T) {
	app := testApp("/a", 2, 1, 1)
	s := newSim(t, testNodes(3), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy) // a-0 on node-0
	s.nodes[0].Drained = true
	out := s.step()
	if len(out.Kill) != 0 || len(out.Start) != 1 || out.Start[0].Task.Node == "node-0" {
		t.Fatalf("kills %v, starts %+v; want the replacement first, off node-0", killIDs(out), out.Start)
	}
	if r := out.Apps["/a"]; r.New != 2 || r.Old != 1 || r.Done {
		t.Errorf("report %+v", r)
	}
	s.settle()
	out = s.step()
	if len(out.Kill) != 1 || out.Kill[0] != (Kill{TaskID: "a-0", Reason: "node node-0 is drained"}) || len(out.Start) != 0 {
		t.Fatalf("kills %+v, %d starts; want a-0 killed", out.Kill, len(out.Start))
	}
	s.settle()
	if out := s.step(); !out.Apps["/a"].Done {
		t.Errorf("not done: %+v", out.Apps["/a"])
	}
}

// TestDrainStrategy drains a node holding both instances of an app with
// minimum_health_capacity 0.5 and maximum_over_capacity 0 (min 1 ready, max
// 2 alive): one moves at a time.
func TestDrainStrategy(t *testing.T) {
	app := testApp("/a", 2, 0.5, 0)
	s := newSim(t, testNodes(3), app)
	s.addTasks(app, "a", "c1", 2, api.TaskHealthy)
	s.tasks["a-1"].Node = "node-0"
	s.nodes[0].Drained = true
	for i, want := range []struct {
		kills  []string
		starts int
	}{{[]string{"a-1"}, 1}, {[]string{"a-0"}, 1}, {nil, 0}} {
		out := s.step()
		if got := killIDs(out); !slices.Equal(got, want.kills) || len(out.Start) != want.starts {
			t.Errorf("call %d: kills %v, %d starts; want %v, %d", i+1, got, len(out.Start), want.kills, want.starts)
		}
		for _, st := range out.Start {
			if st.Task.Node == "node-0" {
				t.Errorf("call %d: placed on the drained node", i+1)
			}
		}
		if alive, ready := s.counts("/a"); alive > 2 || ready < 1 {
			t.Errorf("call %d: %d alive, %d ready", i+1, alive, ready)
		}
		if done := out.Apps["/a"].Done; done != (i == 2) {
			t.Errorf("call %d: done %v", i+1, done)
		}
		s.settle()
	}
}

func TestDependsOn(t *testing.T) {
	t.Run("waits for a dependency to be healthy", func(t *testing.T) {
		db := testApp("/shop/db", 2, 1, 1)
		web := testApp("/shop/api", 1, 1, 1)
		web.Spec.DependsOn = []string{"/shop/db"}
		s := newSim(t, testNodes(2), db, web)
		s.addTasks(db, "db", "c1", 1, api.TaskHealthy)
		out := s.step()
		if len(out.Start) != 1 || out.Start[0].Task.App != "/shop/db" {
			t.Fatalf("starts %+v, want one of /shop/db", out.Start)
		}
		if got, want := out.Apps["/shop/api"].Waiting, "waiting for /shop/db to be healthy (1 of 2 ready)"; got != want {
			t.Errorf("waiting %q, want %q", got, want)
		}
		s.settle()
		out = s.step()
		if len(out.Start) != 1 || out.Start[0].Task.App != "/shop/api" {
			t.Errorf("starts %+v, want one of /shop/api", out.Start)
		}
	})
	t.Run("missing, removed and cyclic", func(t *testing.T) {
		web := testApp("/web", 1, 1, 1)
		web.Spec.DependsOn = []string{"/cache", "/gone"}
		gone := testApp("/gone", 1, 1, 1)
		gone.Deleted = true
		a, b := testApp("/a", 1, 1, 1), testApp("/b", 1, 1, 1)
		a.Spec.DependsOn, b.Spec.DependsOn = []string{"/b"}, []string{"/a"}
		out := newSim(t, testNodes(1), web, gone, a, b).step()
		if len(out.Start) != 0 {
			t.Errorf("starts %+v, want none", out.Start)
		}
		for app, want := range map[string]string{
			"/web": "waiting for /cache, which does not exist; waiting for /gone, which does not exist",
			"/a":   "dependency cycle: /a → /b → /a",
			"/b":   "dependency cycle: /b → /a → /b",
		} {
			if got := out.Apps[app].Waiting; got != want {
				t.Errorf("%s waiting %q, want %q", app, got, want)
			}
		}
	})
	t.Run("a running app keeps its count", func(t *testing.T) {
		web := testApp("/web", 2, 1, 1)
		web.Spec.DependsOn = []string{"/cache"}
		s := newSim(t, testNodes(1), web)
		s.addTasks(web, "w", "c1", 1, api.TaskHealthy)
		if out := s.step(); len(out.Start) != 1 {
			t.Errorf("%d starts, want 1", len(out.Start))
		}
	})
}

func TestDeleted(t *testing.T) {
	app := testApp("/a", 2, 1, 1)
	s := newSim(t, testNodes(2), app)
	s.addTasks(app, "a", "c1", 3, api.TaskHealthy)
	s.tasks["a-2"].State = api.TaskFailed
	s.apps[0].Deleted = true
	out := s.step()
	want := []Kill{{"a-0", ReasonRemoved}, {"a-1", ReasonRemoved}}
	if !reflect.DeepEqual(out.Kill, want) || !slices.Equal(out.Remove, []string{"a-2"}) || len(out.Start) != 0 {
		t.Fatalf("kills %+v, remove %v, %d starts", out.Kill, out.Remove, len(out.Start))
	}
	if r := out.Apps["/a"]; r.Done || r.Old != 2 || r.Waiting != "waiting for 2 tasks to stop" {
		t.Errorf("report %+v", r)
	}
	s.settle()
	out = s.step()
	if !out.Apps["/a"].Done || len(out.Remove) != 2 {
		t.Errorf("report %+v, remove %v; want done and both removed", out.Apps["/a"], out.Remove)
	}
}

func TestOrphanTasks(t *testing.T) {
	s := newSim(t, testNodes(1))
	s.add(api.Task{ID: "x-0", App: "/gone", Node: "node-0", State: api.TaskRunning})
	s.add(api.Task{ID: "x-1", App: "/gone", Node: "node-0", State: api.TaskFailed})
	out := s.step()
	if !reflect.DeepEqual(out.Kill, []Kill{{"x-0", ReasonRemoved}}) || !slices.Equal(out.Remove, []string{"x-1"}) {
		t.Errorf("kills %+v, remove %v", out.Kill, out.Remove)
	}
}

func TestKeepFailed(t *testing.T) {
	app := testApp("/a", 0, 1, 1)
	s := newSim(t, testNodes(1), app)
	for i, id := range []string{"f-0", "f-1", "f-2", "f-3", "f-4"} {
		s.add(api.Task{ID: id, App: "/a", Config: "c1", Node: "node-0", State: api.TaskFailed, FinishedAt: t0.Add(time.Duration(i-5) * time.Minute)})
	}
	s.add(api.Task{ID: "k-0", App: "/a", Config: "c1", Node: "node-0", State: api.TaskKilled, Desired: api.DesiredKill, KillReason: "scaled down to 0"})
	out := s.step()
	got := slices.Sorted(slices.Values(out.Remove))
	if !slices.Equal(got, []string{"f-0", "f-1", "k-0"}) {
		t.Errorf("remove %v, want the 2 oldest failures and the killed task", got)
	}
	if b := out.Backoff["/a"]; !slices.Equal(b.Counted, []string{"f-2", "f-3", "f-4"}) || b.Failures != 5 {
		t.Errorf("backoff %+v, want 5 failures, the kept 3 counted", b)
	}
}

func TestUnplaceable(t *testing.T) {
	app := testApp("/a", 2, 1, 1)
	app.Spec.Mem = 128
	app.Spec.Constraints = []api.Constraint{{"hostname", "UNIQUE"}}
	nodes := testNodes(3)
	nodes[1].Capacity.MemMiB, nodes[2].Capacity.MemMiB = 64, 100
	s := newSim(t, nodes, app)
	out := s.step()
	if len(out.Start) != 1 || out.Start[0].Task.Node != "node-0" {
		t.Fatalf("starts %+v, want one on node-0", out.Start)
	}
	if got, want := out.Apps["/a"].Waiting, "hostname UNIQUE excludes 1 node; needs 128 MiB, 2 nodes have less"; got != want {
		t.Errorf("waiting %q, want %q", got, want)
	}
}

func TestInvalidSpec(t *testing.T) {
	app := testApp("/a", 1, 1, 1)
	app.Spec.Constraints = []api.Constraint{{"hostname", "SOMETIMES"}}
	out := newSim(t, testNodes(1), app).step()
	if w := out.Apps["/a"].Waiting; len(out.Start) != 0 || !strings.HasPrefix(w, "invalid spec: ") {
		t.Errorf("%d starts, waiting %q", len(out.Start), w)
	}
}

func TestDeterministic(t *testing.T) {
	apps := []App{testApp("/a", 5, 0.5, 0.5), testApp("/b", 3, 1, 1)}
	apps[0].Config = "c2"
	s := newSim(t, testNodes(4), apps...)
	s.addTasks(apps[0], "a", "c1", 5, api.TaskHealthy)
	s.addTasks(apps[1], "b", "c1", 4, api.TaskRunning)
	in := s.input()
	first, err := Reconcile(in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		in := s.input()
		s.ids = 0
		rng.Shuffle(len(in.Tasks), func(i, j int) { in.Tasks[i], in.Tasks[j] = in.Tasks[j], in.Tasks[i] })
		rng.Shuffle(len(in.Apps), func(i, j int) { in.Apps[i], in.Apps[j] = in.Apps[j], in.Apps[i] })
		got, err := Reconcile(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, first) {
			t.Fatalf("outputs differ:\n%+v\n%+v", got, first)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Reconcile(Input{}); err == nil {
		t.Error("no NewID: want an error")
	}
	s := newSim(t, append(testNodes(1), scheduler.Node{Name: "node-0"}), testApp("/a", 1, 1, 1))
	if _, err := Reconcile(s.input()); err == nil {
		t.Error("a node listed twice: want an error")
	}
}

func TestReconcileApps(t *testing.T) {
	a, b, db := testApp("/a", 1, 1, 1), testApp("/b", 1, 1, 1), testApp("/db", 2, 1, 1)
	a.Spec.CPUs = 0.5
	a.Spec.DependsOn = []string{"/db"}
	nodes := testNodes(2)
	nodes[0].Capacity.CPUs = 1
	nodes[1].Down = true
	s := newSim(t, nodes, a, b, db)
	// /b holds 0.9 of node-0's CPU; /db is ready on node-0; /b also has
	// a task on the down node.
	s.add(api.Task{ID: "b-0", App: "/b", Config: "c1", Node: "node-0", State: api.TaskRunning, CPUs: 0.9, Mem: 32})
	s.add(api.Task{ID: "b-1", App: "/b", Config: "c1", Node: "node-1", State: api.TaskRunning, CPUs: 0.1, Mem: 32})
	s.addTasks(db, "db", "c1", 2, api.TaskRunning)
	s.tasks["db-1"].Node = "node-0"
	s.tasks["db-0"].CPUs, s.tasks["db-1"].CPUs = 0.001, 0.001
	s.backoff["/b"] = Backoff{Failures: 2, Config: "c1"}

	out, err := ReconcileApps(s.input(), []string{"/a", "/nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Start) != 0 || len(out.Kill) != 0 || len(out.Lost) != 0 {
		t.Errorf("starts %+v, kills %+v, lost %v; want nothing", out.Start, out.Kill, out.Lost)
	}
	if len(out.Apps) != 1 {
		t.Errorf("reports for %d apps, want /a only", len(out.Apps))
	}
	// The dependency is met; placement sees /b's 0.9 CPU.
	if got, want := out.Apps["/a"].Waiting, "1 node down; needs 0.5 CPUs, 1 node has less"; got != want {
		t.Errorf("waiting %q, want %q", got, want)
	}
	if !reflect.DeepEqual(out.Backoff["/b"], s.backoff["/b"]) {
		t.Errorf("backoff of /b %+v, want it passed on", out.Backoff["/b"])
	}
	full, err := Reconcile(s.input())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full.Lost, []string{"b-1"}) {
		t.Errorf("full reconcile: lost %v, want [b-1]", full.Lost)
	}
}

func TestOldVersionResources(t *testing.T) {
	// A record without resources is charged its version's spec: version
	// 1 took 3000 of node-0's 4096 MiB, so version 2's 2000 MiB do not fit
	// next to it (they would with version 2's size charged twice).
	app := testApp("/a", 1, 1, 1)
	v1 := app.Spec
	v1.Mem = 3000
	app.Spec.Mem = 2000
	app.Version, app.Config = 2, "c2"
	app.Versions = map[int64]api.AppSpec{1: v1}
	s := newSim(t, testNodes(1), app)
	s.add(api.Task{ID: "old", App: "/a", Config: "c1", Version: 1, Node: "node-0", State: api.TaskRunning})
	out := s.step()
	if got, want := out.Apps["/a"].Waiting, "needs 2000 MiB, 1 node has less"; len(out.Start) != 0 || got != want {
		t.Errorf("%d starts, waiting %q; want none and %q", len(out.Start), got, want)
	}
	delete(s.apps[0].Versions, 1)
	if out := s.step(); len(out.Start) != 1 {
		t.Errorf("without the old spec: %d starts, want 1", len(out.Start))
	}
}
