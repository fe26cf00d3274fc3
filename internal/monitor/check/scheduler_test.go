package check

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

// fakeClock moves only when told. After fires once the time reaches its
// deadline. The scheduler waits on its latest timer only, so a new After
// forgets the earlier ones.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	c  chan time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	if d <= 0 {
		c <- f.now
		return c
	}
	f.waiters = []fakeWaiter{{f.now.Add(d), c}}
	return c
}

// set moves the clock to t and reports whether a timer fired.
func (f *fakeClock) set(t time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
	fired := false
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
			continue
		}
		w.c <- t
		fired = true
	}
	f.waiters = kept
	return fired
}

// countingProbe says how many times it ran: state kept between runs.
type countingProbe struct {
	n       int
	release chan struct{} // when set, each run waits for it
}

func (p *countingProbe) Probe(ctx context.Context, _ Env) Outcome {
	if p.release != nil {
		select {
		case <-p.release:
		case <-ctx.Done():
		}
	}
	p.n++
	return Outcome{api.StatusOK, fmt.Sprintf("run %d", p.n)}
}

// harness runs a Scheduler on a fake clock. Every loop iteration stops at
// idle until the test takes it, so the test moves time only while the loop
// waits.
type harness struct {
	t       *testing.T
	clock   *fakeClock
	s       *Scheduler
	idle    chan time.Time
	results chan api.CheckResult
	probes  map[string]*countingProbe // by "name" arg
	release chan struct{}
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

func newHarness(t *testing.T, start time.Time, opts SchedulerOptions) *harness {
	h := &harness{t: t, clock: &fakeClock{now: start}, idle: make(chan time.Time),
		results: make(chan api.CheckResult, 100), probes: map[string]*countingProbe{}}
	opts.Clock = h.clock
	opts.Deliver = func(r api.CheckResult) { h.results <- r }
	var mu sync.Mutex
	opts.Builtins = map[string]Builtin{
		"count": func(a Args) (Probe, api.FieldErrors) {
			p := &countingProbe{release: h.release}
			mu.Lock()
			h.probes[fmt.Sprint(a["name"])] = p
			mu.Unlock()
			return p, nil
		},
	}
	h.s = NewScheduler(opts)
	h.s.idle = func(now time.Time) { h.idle <- now }
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	h.waitIdle()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.stopped.Do(func() {
		h.cancel()
		for {
			select {
			case <-h.idle:
			case <-h.done:
				return
			}
		}
	})
}

// nextWake is when the loop's timer fires.
func (h *harness) nextWake() time.Time {
	h.clock.mu.Lock()
	defer h.clock.mu.Unlock()
	if len(h.clock.waiters) != 1 {
		h.t.Fatalf("%d timers", len(h.clock.waiters))
	}
	return h.clock.waiters[0].at
}

// guard bounds every wait so that a broken scheduler fails the test
// instead of hanging it; it is not a timing assertion.
const guard = 10 * time.Second

func (h *harness) waitIdle() time.Time {
	h.t.Helper()
	select {
	case now := <-h.idle:
		return now
	case <-time.After(guard):
		h.t.Fatal("scheduler loop never went idle")
	}
	return time.Time{}
}

func (h *harness) update(specs ...api.CheckSpec) {
	h.s.Update(specs)
	h.waitIdle()
}

// advance moves the clock to t and, when that woke the loop, waits for it
// to settle.
func (h *harness) advance(t time.Time) {
	h.t.Helper()
	if h.clock.set(t) {
		h.waitIdle()
	}
}

func (h *harness) result() api.CheckResult {
	h.t.Helper()
	select {
	case r := <-h.results:
		return r
	case <-time.After(guard):
		h.t.Fatal("no result delivered")
	}
	return api.CheckResult{}
}

func (h *harness) noResult() {
	h.t.Helper()
	select {
	case r := <-h.results:
		h.t.Fatalf("unexpected result %+v", r)
	default:
	}
}

func countSpec(name string, every time.Duration) api.CheckSpec {
	return api.CheckSpec{Name: name, Builtin: "count", Args: map[string]any{"name": name}, Interval: api.Duration(every)}
}

func TestSchedulerInterval(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC() // a multiple of 10 s
	h := newHarness(t, t0, SchedulerOptions{Node: "n1"})
	spec := countSpec("disk", 10*time.Second)
	h.update(spec)
	off := Splay("n1", spec, 10*time.Second)
	first := t0.Add(off)

	h.advance(first.Add(-time.Nanosecond))
	h.noResult()
	for k := range 3 {
		at := first.Add(time.Duration(k) * 10 * time.Second)
		h.advance(at)
		r := h.result()
		want := api.CheckResult{Check: "disk", Entity: "n1", Status: 0, Output: fmt.Sprintf("run %d", k+1), Executed: at.Unix()}
		if r.Check != want.Check || r.Entity != want.Entity || r.Output != want.Output || r.Executed != want.Executed {
			t.Fatalf("run %d: %+v, want %+v", k, r, want)
		}
		h.advance(at.Add(9 * time.Second))
		h.noResult()
	}
}

func TestSchedulerSplayPhaseIsStable(t *testing.T) {
	// Started at different times, the same node runs the check at the same
	// phase of the interval.
	spec := countSpec("cpu", 30*time.Second)
	iv := 30 * time.Second
	want := Splay("web-7", spec, iv)
	for _, start := range []int64{1_700_000_003, 1_700_000_017, 1_700_000_029} {
		h := newHarness(t, time.Unix(start, 0), SchedulerOptions{Node: "web-7"})
		h.update(spec)
		at := h.nextWake()
		if phase := time.Duration(at.UnixNano() % int64(iv)); phase != want {
			t.Errorf("started at %d: runs at phase %v, want %v", start, phase, want)
		}
		if d := at.Sub(time.Unix(start, 0)); d <= 0 || d > iv {
			t.Errorf("started at %d: first run %v later, want within one interval", start, d)
		}
		h.advance(at)
		if r := h.result(); r.Executed != at.Unix() {
			t.Errorf("executed %d, want %d", r.Executed, at.Unix())
		}
		h.stop()
	}
}

func TestSchedulerCron(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 1, 30, 0, time.UTC)
	h := newHarness(t, t0, SchedulerOptions{Node: "n1"})
	spec := api.CheckSpec{Name: "report", Builtin: "count", Args: map[string]any{"name": "report"}, Cron: "*/5 * * * *"}
	h.update(spec)
	h.advance(time.Date(2026, 11, 25, 12, 4, 59, 0, time.UTC))
	h.noResult()
	for _, at := range []time.Time{
		time.Date(2026, 11, 25, 12, 5, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 12, 10, 0, 0, time.UTC),
	} {
		h.advance(at)
		if r := h.result(); r.Executed != at.Unix() {
			t.Errorf("ran at %v, want %v", time.Unix(r.Executed, 0).UTC(), at)
		}
	}
	h.advance(time.Date(2026, 11, 25, 12, 14, 59, 0, time.UTC))
	h.noResult()
}

func TestSchedulerUpdateKeepsUnchanged(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	h := newHarness(t, t0, SchedulerOptions{Node: "n1"})
	a, b := countSpec("a", 10*time.Second), countSpec("b", 10*time.Second)
	h.update(a, b)
	now := t0
	runs := map[string]string{}
	step := func() {
		now = now.Add(10 * time.Second)
		h.advance(now)
		runs = map[string]string{}
		for range 2 {
			r := h.result()
			runs[r.Check] = r.Output
		}
	}
	step()
	step()
	if runs["a"] != "run 2" || runs["b"] != "run 2" {
		t.Fatalf("before update: %v", runs)
	}
	// a gets new handlers only, which do not change how it runs; b gets a
	// new arg, so it starts afresh.
	a.Handlers = []string{"pagerduty"}
	b2 := b
	b2.Args = map[string]any{"name": "b", "extra": 1}
	h.update(a, b2)
	step()
	if runs["a"] != "run 3" || runs["b"] != "run 1" {
		t.Errorf("after update: %v, want a to keep counting and b to restart", runs)
	}
	// Removing b stops it.
	h.update(a)
	now = now.Add(10 * time.Second)
	h.advance(now)
	if r := h.result(); r.Check != "a" || r.Output != "run 4" {
		t.Errorf("got %+v", r)
	}
	h.noResult()
	// Disabled and ttl-only specs are not scheduled.
	d := countSpec("d", 10*time.Second)
	d.Disabled = true
	h.update(a, d, api.CheckSpec{Name: "ttl", TTL: api.Duration(time.Minute)})
	now = now.Add(10 * time.Second)
	h.advance(now)
	if r := h.result(); r.Check != "a" {
		t.Errorf("got %+v", r)
	}
	h.noResult()
}

func TestSchedulerNoOverlap(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	release := make(chan struct{})
	hh := newHarnessWithRelease(t, t0, release)
	spec := countSpec("slow", 10*time.Second)
	hh.update(spec)
	hh.advance(t0.Add(10 * time.Second)) // first run starts and blocks
	hh.advance(t0.Add(20 * time.Second)) // due again: skipped
	hh.advance(t0.Add(30 * time.Second)) // and again
	if n := hh.s.Skipped("slow"); n != 2 {
		t.Errorf("skipped %d runs, want 2", n)
	}
	close(release)
	if r := hh.result(); r.Output != "run 1" {
		t.Errorf("got %+v", r)
	}
	// Once it finished, the next due run happens.
	hh.advance(t0.Add(40 * time.Second))
	if r := hh.result(); r.Output != "run 2" {
		t.Errorf("got %+v", r)
	}
	hh.noResult()
}

func newHarnessWithRelease(t *testing.T, start time.Time, release chan struct{}) *harness {
	h := &harness{t: t, clock: &fakeClock{now: start}, idle: make(chan time.Time),
		results: make(chan api.CheckResult, 100), probes: map[string]*countingProbe{}, release: release}
	opts := SchedulerOptions{Node: "n1", Clock: h.clock, Deliver: func(r api.CheckResult) { h.results <- r }}
	opts.Builtins = map[string]Builtin{
		"count": func(Args) (Probe, api.FieldErrors) { return &countingProbe{release: release}, nil },
	}
	h.s = NewScheduler(opts)
	h.s.idle = func(now time.Time) { h.idle <- now }
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	h.waitIdle()
	t.Cleanup(h.stop)
	return h
}

func TestSchedulerProxyRoundRobin(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	iv := 10 * time.Second
	subs := []string{"n1", "n2", "n3"}
	byInterval := countSpec("shop", iv)
	byInterval.ProxyEntity = "shop-api"
	byCron := api.CheckSpec{Name: "shop", Builtin: "count", Args: map[string]any{"name": "shop"}, Cron: "*/5 * * * *", ProxyEntity: "shop-api"}
	tests := []struct {
		name   string
		spec   api.CheckSpec
		strict bool // rounds strictly in turn: 2 of 6 each
	}{
		{"interval", byInterval, true},
		{"cron", byCron, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var times []time.Time
			ran := make([]int, 6)
			for n, node := range subs {
				h := newHarness(t, t0, SchedulerOptions{Node: node, Subscribers: func(api.CheckSpec) []string { return subs }})
				started := 0 // only the loop goroutine writes it, before going idle
				h.s.mu.Lock()
				h.s.started = func(string) { started++ }
				h.s.mu.Unlock()
				h.update(tt.spec)
				mine := 0
				for k := range 6 {
					at := h.nextWake()
					if n == 0 {
						times = append(times, at)
					} else if !at.Equal(times[k]) {
						t.Fatalf("%s: round %d at %v, n1 had it at %v", node, k, at, times[k])
					}
					before := started
					h.advance(at)
					if started == before {
						continue
					}
					mine++
					ran[k]++
					r := h.result()
					if r.Entity != "shop-api" || r.Executed != at.Unix() {
						t.Errorf("%s: got %+v, want entity shop-api at %d", node, r, at.Unix())
					}
				}
				h.stop() // waits for runs in progress
				if got := h.probes["shop"].n; got != mine {
					t.Errorf("%s ran %d rounds, want %d", node, got, mine)
				}
				if tt.strict && mine != 2 {
					t.Errorf("%s had %d of 6 rounds, want 2", node, mine)
				}
			}
			for k, n := range ran {
				if n != 1 {
					t.Errorf("round %d ran on %d nodes, want 1", k, n)
				}
			}
		})
	}
}

func TestSchedulerCommandMetricsAndInvalid(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	h := newHarness(t, t0, SchedulerOptions{Node: "db-1"})
	h.update(
		api.CheckSpec{Name: "pg", Command: "echo 'PG OK | connections=12;80;90'; exit 1",
			Interval: api.Duration(10 * time.Second), OutputMetricFormat: api.MetricFormatNagios},
		api.CheckSpec{Name: "bad", Builtin: "nope", Interval: api.Duration(10 * time.Second)},
	)
	h.advance(t0.Add(10 * time.Second))
	got := map[string]api.CheckResult{}
	for range 2 {
		r := h.result()
		got[r.Check] = r
	}
	pg := got["pg"]
	if pg.Status != api.StatusWarning || pg.Output != "PG OK | connections=12;80;90\n" {
		t.Errorf("pg: %+v", pg)
	}
	want := []api.MetricPoint{{Name: "corral.db-1.checks.pg.connections", Value: 12, Time: pg.Executed}}
	if !slices.Equal(pg.Metrics, want) {
		t.Errorf("metrics %+v, want %+v", pg.Metrics, want)
	}
	if bad := got["bad"]; bad.Status != api.StatusUnknown || bad.Output != `UNKNOWN - invalid check: unknown builtin "nope"` {
		t.Errorf("bad: %+v", bad)
	}
}

func TestSchedulerExecute(t *testing.T) {
	s := NewScheduler(SchedulerOptions{Node: "n1"})
	r := s.Execute(context.Background(), api.CheckSpec{Name: "f", Builtin: "file_age", Args: map[string]any{"path": "/nonexistent"}})
	if r.Status != api.StatusCritical || r.Entity != "n1" || r.Check != "f" {
		t.Errorf("got %+v", r)
	}
}

type panicProbe struct{}

func (panicProbe) Probe(context.Context, Env) Outcome { panic("boom") }

func TestSchedulerRealClockAndPanic(t *testing.T) {
	results := make(chan api.CheckResult, 10)
	s := NewScheduler(SchedulerOptions{Node: "n1", Deliver: func(r api.CheckResult) { results <- r },
		Builtins: map[string]Builtin{"boom": func(Args) (Probe, api.FieldErrors) { return panicProbe{}, nil }}})
	s.Update([]api.CheckSpec{{Name: "boom", Builtin: "boom", Interval: api.Duration(time.Second)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	select {
	case r := <-results:
		if r.Status != api.StatusUnknown || r.Output != "UNKNOWN - builtin panicked: boom" {
			t.Errorf("got %+v", r)
		}
	case <-time.After(guard):
		t.Error("no result within a 1 s interval")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func TestSchedulerCommandBound(t *testing.T) {
	// Each command takes a lock directory for a moment and fails when it
	// is taken: with one slot, no two ever run at once.
	lock := t.TempDir() + "/lock"
	cmd := "mkdir " + lock + " || { echo overlap; exit 2; }; sleep 0.2; rmdir " + lock
	t0 := time.Unix(1_700_000_000, 0)
	h := newHarness(t, t0, SchedulerOptions{Node: "n1", MaxConcurrent: 1})
	var specs []api.CheckSpec
	for i := range 4 {
		specs = append(specs, api.CheckSpec{Name: fmt.Sprintf("c%d", i), Command: cmd, Interval: api.Duration(10 * time.Second)})
	}
	h.update(specs...)
	h.advance(t0.Add(10 * time.Second)) // all four are due
	for range 4 {
		if r := h.result(); r.Status != api.StatusOK {
			t.Errorf("%s: %d %q", r.Check, r.Status, r.Output)
		}
	}
}
