package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fakeTasks answers probes by task port: task i listens from readyAt[i]
// (never if zero and never[i]) and answers 503 from failAt[i] (if set).
type fakeTasks struct {
	clock   *fakeClock
	t0      time.Time
	readyAt map[int]time.Duration
	never   map[int]bool
	failAt  map[int]time.Duration
	mu      sync.Mutex
	probes  map[int]int
}

func (f *fakeTasks) Probe(_ context.Context, c Check, t Target) Result {
	i := t.Ports[c.PortIndex]
	f.mu.Lock()
	f.probes[i]++
	f.mu.Unlock()
	el := f.clock.Now().Sub(f.t0)
	switch {
	case f.never[i] || el < f.readyAt[i]:
		return Result{Msg: "connection refused"}
	case f.failAt[i] > 0 && el >= f.failAt[i]:
		return Result{Msg: "status 503"}
	}
	return Result{OK: true, Msg: "status 200"}
}

func TestMonitor200Tasks(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	fake := &fakeTasks{clock: clock, t0: t0, readyAt: map[int]time.Duration{}, never: map[int]bool{199: true}, failAt: map[int]time.Duration{}, probes: map[int]int{}}
	var mu sync.Mutex
	var changes []Change
	m := NewMonitor(MonitorConfig{
		Probe: fake, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnChange: func(c Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() },
	})
	check := Check{Protocol: HTTP, Path: "/health", GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3}
	for i := range 200 {
		fake.readyAt[i] = time.Duration(i%10) * time.Second
		if i%50 == 7 {
			fake.failAt[i] = 60 * time.Second
		}
		m.Add(Task{ID: fmt.Sprint("t", i), Started: t0, Target: Target{Ports: []int{i}}, Checks: []Check{check}})
	}
	if m.Len() != 200 {
		t.Fatalf("Len = %d", m.Len())
	}
	removed := false
	for now := t0; now.Before(t0.Add(100 * time.Second)); {
		if !removed && !now.Before(t0.Add(50*time.Second)) {
			m.Remove("t0") // t0's probes stop
			removed = true
		}
		next := m.Step(context.Background())
		if !next.After(now) {
			t.Fatalf("Step at %v: next %v is not later", now, next)
		}
		now = next
		clock.Set(now)
	}

	// Expected, computed from the scenario: with the 1 s startup interval a
	// task is healthy at the first whole second it listens; one failing
	// from 60 s (healthy at 7 s, probed every 5 s: 62, 67, 72) is unhealthy
	// at 62 s and killed at 72 s; task 199 never listens: probed every
	// second within the 30 s grace period, counted from 30 s, then every
	// 5 s: unhealthy at 30 s, killed at 40 s.
	type key struct {
		task  string
		state State
		alive bool
	}
	want := map[key]time.Duration{}
	for i := range 199 {
		want[key{fmt.Sprint("t", i), Healthy, true}] = time.Duration(i%10) * time.Second
		if i%50 == 7 {
			want[key{fmt.Sprint("t", i), Unhealthy, true}] = 62 * time.Second
			want[key{fmt.Sprint("t", i), Unhealthy, false}] = 72 * time.Second
		}
	}
	want[key{"t199", Unhealthy, true}] = 30 * time.Second
	want[key{"t199", Unhealthy, false}] = 40 * time.Second
	got := map[key]time.Duration{}
	for _, c := range changes {
		k := key{c.TaskID, c.State, c.Alive}
		if _, dup := got[k]; dup {
			t.Errorf("change %+v reported twice", k)
		}
		got[k] = c.At.Sub(t0)
	}
	if len(got) != len(want) {
		t.Errorf("%d changes, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%v at %v (reported %v), want at %v", k, g, ok, w)
		}
	}
	for _, c := range changes {
		if c.TaskID == "t57" && !c.Alive && c.Failure.Reason != "health check HTTP /health failed 3 times: status 503" {
			t.Errorf("t57 killed with reason %q", c.Failure.Reason)
		}
	}
	// The monitor goes on probing a task it condemned until the agent
	// removes it: from 62 s every 5 s to 97 s is 8 failures.
	st, ok := m.Status("t57")
	if !ok || st[0].Alive || st[0].State != Unhealthy || st[0].ConsecutiveFailures != 8 {
		t.Errorf("Status(t57) = %+v, %v", st, ok)
	}
	if _, ok := m.Status("t0"); ok {
		t.Error("removed task t0 still has a status")
	}
	// Probe counts: t1 (ready at 1 s): probes at 0, 1, then every 5 s from
	// 6 s to 96 s: 2 + 19 = 21. t0: probed at 0 (healthy), then every 5 s
	// until removed at 50 s: 0, 5, ..., 45 = 10.
	if fake.probes[1] != 21 || fake.probes[0] != 10 {
		t.Errorf("probes of t1, t0 = %d, %d; want 21, 10", fake.probes[1], fake.probes[0])
	}
}

// TestMonitorRun runs the real loop and prober against a loopback server
// and waits for the changes it must report.
func TestMonitorRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /bad", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	prober := NewProber()
	defer prober.Close()
	changes := make(chan Change, 100)
	m := NewMonitor(MonitorConfig{Probe: prober, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnChange: func(c Change) { changes <- c }})
	p := port(t, srv.Listener.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	// The good check's timeout is long: on a loaded machine a 20 ms answer
	// is not guaranteed, and a timeout would make it unhealthy.
	fast := Check{Protocol: HTTP, Interval: 20 * time.Millisecond, Timeout: 20 * time.Millisecond, MaxConsecutiveFailures: 2}
	ok, bad := fast, fast
	ok.Path, bad.Path = "/ok", "/bad"
	ok.Timeout = 10 * time.Second
	m.Add(Task{ID: "good", Started: time.Now(), Target: Target{Ports: []int{p}}, Checks: []Check{ok}})
	m.Add(Task{ID: "sick", Started: time.Now(), Target: Target{Ports: []int{p}}, Checks: []Check{bad}})
	seen := map[string]bool{}
	for len(seen) < 2 {
		c := <-changes // the test's own timeout bounds this
		switch {
		case c.TaskID == "good" && c.State == Healthy:
			seen["good"] = true
		case c.TaskID == "sick" && !c.Alive:
			if c.Failure.Reason != "health check HTTP /bad failed 2 times: status 500" {
				t.Errorf("reason %q", c.Failure.Reason)
			}
			seen["sick"] = true
		case c.TaskID == "good":
			t.Errorf("good task: %+v", c)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMonitor200Tasks runs 200 tasks × 1 HTTP check every 5 s against
// one local server for 10 s of wall time per iteration, and reports the
// CPU time of the whole process (monitor, prober and server) per second.
func BenchmarkMonitor200Tasks(b *testing.B) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
	}))
	defer srv.Close()
	p := port(b, srv.Listener.Addr().String())
	prober := NewProber()
	defer prober.Close()
	check := Check{Protocol: HTTP, GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3}
	for b.Loop() {
		var healthy sync.WaitGroup
		healthy.Add(200)
		m := NewMonitor(MonitorConfig{Probe: prober, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnChange: func(c Change) {
			if c.State == Healthy {
				healthy.Done()
			}
		}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		for i := range 200 {
			c := check
			c.Path = "/t" + strconv.Itoa(i)
			m.Add(Task{ID: strconv.Itoa(i), Started: time.Now(), Target: Target{Ports: []int{p}}, Checks: []Check{c}})
		}
		healthy.Wait()
		cpu0 := cpuTime()
		time.Sleep(10 * time.Second)
		cpu := cpuTime() - cpu0
		cancel()
		<-done
		b.ReportMetric(float64(cpu.Microseconds())/1000/10, "cpu-ms/s")
	}
}

// scripted answers each probe of a task with the next result of its script
// (the last one repeating).
type scripted struct {
	mu     sync.Mutex
	script map[int][]Result
}

func (s *scripted) Probe(_ context.Context, c Check, t Target) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := t.Ports[c.PortIndex]
	r := s.script[i][0]
	if len(s.script[i]) > 1 {
		s.script[i] = s.script[i][1:]
	}
	return r
}

func TestMonitorIgnoredAndReplaced(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	ok := Result{OK: true, Msg: "status 200"}
	info := Result{Ignore: true, Msg: "status 101"}
	bad := Result{Msg: "status 500"}
	probe := &scripted{script: map[int][]Result{
		1: {ok, info, info, info, bad},
		2: {bad},
	}}
	var changes []Change
	var mu sync.Mutex
	m := NewMonitor(MonitorConfig{Probe: probe, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workers: 1, StartupInterval: -1,
		OnChange: func(c Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() }})
	check := Check{Protocol: HTTP, Path: "/", Interval: time.Second, Timeout: time.Second, MaxConsecutiveFailures: 1}
	m.Add(Task{ID: "a", Started: t0, Target: Target{Ports: []int{1}}, Checks: []Check{check}})
	step := func(n int) {
		for range n {
			clock.Set(m.Step(context.Background()))
		}
	}
	step(4) // ok, then three ignored 1xx: still healthy, nothing reported
	if st, _ := m.Status("a"); st[0].State != Healthy || st[0].LastMessage != "status 200" || len(changes) != 1 {
		t.Fatalf("after 1xx: %+v, changes %+v", st, changes)
	}
	// Replacing task a (same ID, now on port 2) starts from Unknown.
	m.Add(Task{ID: "a", Started: clock.Now(), Target: Target{Ports: []int{2}}, Checks: []Check{check}})
	if st, _ := m.Status("a"); st[0].State != Unknown {
		t.Fatalf("replaced task: %+v", st)
	}
	step(1)
	if len(changes) != 2 || changes[1].Alive || changes[1].Failure.Reason != "health check HTTP / failed 1 time: status 500" {
		t.Errorf("changes %+v", changes)
	}
	if n := len(probe.script[1]); n != 1 {
		t.Errorf("the replaced task was probed again: %d results left", n)
	}
}
