package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/monitor/check"
)

// testDefaults stands in for check.Defaults.
func testDefaults() []api.CheckSpec {
	d := func(name string) api.CheckSpec {
		return api.CheckSpec{Name: name, Builtin: name, Interval: api.Duration(30 * time.Second), Subscriptions: []string{"all"}}
	}
	return []api.CheckSpec{d("cpu"), d("disk"), d("memory")}
}

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(specs []api.CheckSpec) []string {
	out := []string{}
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

func TestMergeChecks(t *testing.T) {
	web := api.CheckSpec{Name: "web", Command: "check_http -H localhost", Interval: api.Duration(10 * time.Second), Subscriptions: []string{"web"}}
	diskCmd := api.CheckSpec{Name: "disk", Command: "check_disk -w 20%", Interval: api.Duration(time.Minute)}
	tests := []struct {
		name      string
		assigned  map[string]json.RawMessage
		wantSched []string
		wantKnown []string
		wantBad   []string
		check     func(t *testing.T, sched []api.CheckSpec)
	}{
		{name: "nothing assigned runs the defaults", wantSched: []string{"cpu", "disk", "memory"}, wantKnown: []string{"cpu", "disk", "memory"}},
		{
			name:      "an assigned check is added without looking at its subscriptions",
			assigned:  map[string]json.RawMessage{"check/web": raw(t, web)},
			wantSched: []string{"cpu", "disk", "memory", "web"}, wantKnown: []string{"cpu", "disk", "memory", "web"},
		},
		{
			name:      "an assigned check replaces the default of its name",
			assigned:  map[string]json.RawMessage{"check/disk": raw(t, diskCmd)},
			wantSched: []string{"cpu", "disk", "memory"}, wantKnown: []string{"cpu", "disk", "memory"},
			check: func(t *testing.T, sched []api.CheckSpec) {
				if sched[1].Command != diskCmd.Command || sched[1].Builtin != "" || time.Duration(sched[1].Interval) != time.Minute {
					t.Errorf("disk = %+v, want the assigned command", sched[1])
				}
			},
		},
		{
			name:      "disabled removes a default from the schedule but it can still be run on request",
			assigned:  map[string]json.RawMessage{"check/memory": raw(t, api.CheckSpec{Name: "memory", Builtin: "memory", Interval: api.Duration(time.Minute), Disabled: true})},
			wantSched: []string{"cpu", "disk"}, wantKnown: []string{"cpu", "disk", "memory"},
		},
		{
			name: "ttl-only checks are not run, and one named like a default removes it",
			assigned: map[string]json.RawMessage{
				"check/backup": raw(t, api.CheckSpec{Name: "backup", TTL: api.Duration(time.Hour)}),
				"check/cpu":    raw(t, api.CheckSpec{Name: "cpu", TTL: api.Duration(time.Hour)}),
			},
			wantSched: []string{"disk", "memory"}, wantKnown: []string{"disk", "memory"},
		},
		{
			name: "an assignment that does not parse is reported and the default stays",
			assigned: map[string]json.RawMessage{
				"check/disk": json.RawMessage(`{"name": 7}`),
				"check/web":  raw(t, web),
			},
			wantSched: []string{"cpu", "disk", "memory", "web"}, wantKnown: []string{"cpu", "disk", "memory", "web"},
			wantBad: []string{"check/disk"},
			check: func(t *testing.T, sched []api.CheckSpec) {
				if sched[1].Builtin != "disk" {
					t.Errorf("disk = %+v, want the default", sched[1])
				}
			},
		},
		{
			name:      "the key names the check",
			assigned:  map[string]json.RawMessage{"check/web2": raw(t, web)},
			wantSched: []string{"cpu", "disk", "memory", "web2"}, wantKnown: []string{"cpu", "disk", "memory", "web2"},
		},
		{
			name: "other assignments are not checks",
			assigned: map[string]json.RawMessage{
				"task/web-1":     json.RawMessage(`{"app":"web"}`),
				"checkrun/disk":  json.RawMessage(`{"nonce":"x"}`),
				"checks/bad-key": raw(t, web),
			},
			wantSched: []string{"cpu", "disk", "memory"}, wantKnown: []string{"cpu", "disk", "memory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, known, bad := mergeChecks(testDefaults(), tt.assigned)
			if got := names(sched); !slices.Equal(got, tt.wantSched) {
				t.Errorf("scheduled %v, want %v", got, tt.wantSched)
			}
			var gotKnown, gotBad []string
			for n, s := range known {
				if s.Name != n {
					t.Errorf("known[%q] is named %q", n, s.Name)
				}
				gotKnown = append(gotKnown, n)
			}
			for k := range bad {
				gotBad = append(gotBad, k)
			}
			slices.Sort(gotKnown)
			slices.Sort(gotBad)
			if !slices.Equal(gotKnown, tt.wantKnown) {
				t.Errorf("known %v, want %v", gotKnown, tt.wantKnown)
			}
			if !slices.Equal(gotBad, tt.wantBad) {
				t.Errorf("bad %v, want %v", gotBad, tt.wantBad)
			}
			if tt.check != nil {
				tt.check(t, sched)
			}
		})
	}
}

func TestMergeChecksRealDefaults(t *testing.T) {
	// With nothing assigned and the node's labels of no concern, the agent
	// runs what check.ForNode gives any node.
	sched, _, _ := mergeChecks(check.Defaults(), nil)
	if want := check.ForNode("n1", nil, nil); !reflect.DeepEqual(sched, want) {
		t.Errorf("merged defaults %v, want %v", names(sched), names(want))
	}
}

func TestCheckStateApply(t *testing.T) {
	web := raw(t, api.CheckSpec{Name: "web", Command: "true", Interval: api.Duration(10 * time.Second)})
	run := func(nonce string) json.RawMessage { return raw(t, map[string]string{"nonce": nonce}) }
	type step struct {
		assigned    map[string]json.RawMessage
		synced      bool
		wantUpdate  []string // nil: no update
		wantRun     []string
		wantHandled map[string]string
	}
	steps := []step{
		{wantUpdate: []string{"cpu", "disk", "memory"}, wantHandled: map[string]string{"old": "n0"}},
		{wantHandled: map[string]string{"old": "n0"}}, // nothing changed; the loaded nonce is kept until synced
		{assigned: map[string]json.RawMessage{"check/web": web, "checkrun/disk": run("a")}, synced: true,
			wantUpdate: []string{"cpu", "disk", "memory", "web"}, wantRun: []string{"disk"}, wantHandled: map[string]string{"disk": "a"}},
		{assigned: map[string]json.RawMessage{"check/web": web, "checkrun/disk": run("a")}, synced: true,
			wantHandled: map[string]string{"disk": "a"}}, // re-snapshot: not run again
		{assigned: map[string]json.RawMessage{"check/web": web, "checkrun/disk": run("b"), "checkrun/web": run("a"), "checkrun/nope": run("c")}, synced: true,
			wantRun: []string{"disk", "web"}, wantHandled: map[string]string{"disk": "b", "web": "a"}},
		{assigned: map[string]json.RawMessage{"check/web": web, "checkrun/web": run("a"), "checkrun/nope": run("c"),
			"check/nope": raw(t, api.CheckSpec{Name: "nope", Command: "false", Interval: api.Duration(time.Minute)})}, synced: true,
			wantUpdate: []string{"cpu", "disk", "memory", "nope", "web"}, wantRun: []string{"nope"},
			wantHandled: map[string]string{"web": "a", "nope": "c"}}, // the run waited for its check; disk's nonce is forgotten
		{assigned: map[string]json.RawMessage{"checkrun/web": run("a")}, synced: true,
			wantUpdate: []string{"cpu", "disk", "memory"}, wantHandled: map[string]string{"web": "a"}},
	}
	st := newCheckState(testDefaults(), map[string]string{"old": "n0"})
	for i, s := range steps {
		ch := st.apply(s.assigned, s.synced)
		if s.wantUpdate == nil && ch.update != nil {
			t.Errorf("step %d: update %v, want none", i, names(ch.update))
		}
		if s.wantUpdate != nil && (ch.update == nil || !slices.Equal(names(ch.update), s.wantUpdate)) {
			t.Errorf("step %d: update %v, want %v", i, names(ch.update), s.wantUpdate)
		}
		if got := names(ch.run); !slices.Equal(got, append([]string{}, s.wantRun...)) {
			t.Errorf("step %d: run %v, want %v", i, got, s.wantRun)
		}
		if !reflect.DeepEqual(st.handled, s.wantHandled) {
			t.Errorf("step %d: handled %v, want %v", i, st.handled, s.wantHandled)
		}
	}
}

func TestCheckRunsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), checkRunFile)
	log := slog.New(slog.DiscardHandler)
	if got := loadCheckRuns(path, log); got != nil {
		t.Fatalf("missing file gave %v", got)
	}
	want := map[string]string{"disk": "a", "web": "b"}
	if err := saveCheckRuns(path, want); err != nil {
		t.Fatal(err)
	}
	if got := loadCheckRuns(path, log); !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
}

// fakeAfter hands out timers the test fires by hand.
type fakeAfter struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newFakeAfter() *fakeAfter {
	return &fakeAfter{asked: make(chan time.Duration, 10), fire: make(chan time.Time, 1)}
}

func (f *fakeAfter) After(d time.Duration) <-chan time.Time {
	f.asked <- d
	return f.fire
}

// startShipper runs shipCheckResults with a fake timer and a sink that
// hands each report to the test.
func startShipper(t *testing.T, max int) (*resultBatcher, *fakeAfter, chan []api.CheckResult, context.CancelFunc) {
	t.Helper()
	b := newResultBatcher(max)
	fa := newFakeAfter()
	reports := make(chan []api.CheckResult, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- shipCheckResults(ctx, b, checkReportEvery, fa.After, func(rs []api.CheckResult) error {
			reports <- rs
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return b, fa, reports, cancel
}

func waitReport(t *testing.T, reports chan []api.CheckResult) []api.CheckResult {
	t.Helper()
	select {
	case rs := <-reports:
		return rs
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
		return nil
	}
}

func waitAsked(t *testing.T, fa *fakeAfter) time.Duration {
	t.Helper()
	select {
	case d := <-fa.asked:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the shipper set no timer")
		return 0
	}
}

func noReport(t *testing.T, reports chan []api.CheckResult) {
	t.Helper()
	select {
	case rs := <-reports:
		t.Fatalf("unexpected report %v", rs)
	default:
	}
}

func res(check string, status int) api.CheckResult {
	return api.CheckResult{Check: check, Entity: "n1", Status: status, Output: api.StatusName(status)}
}

func checksOf(rs []api.CheckResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Check+"="+api.StatusName(r.Status))
	}
	return out
}

func TestShipCheckResultsBatchesOK(t *testing.T) {
	b, fa, reports, _ := startShipper(t, 100)
	b.add(res("cpu", api.StatusOK))
	if d := waitAsked(t, fa); d != checkReportEvery {
		t.Errorf("timer of %s, want %s", d, checkReportEvery)
	}
	b.add(res("disk", api.StatusOK))
	b.add(res("memory", api.StatusOK))
	noReport(t, reports) // the timer has not fired: the results wait
	fa.fire <- time.Now()
	if got, want := checksOf(waitReport(t, reports)), []string{"cpu=ok", "disk=ok", "memory=ok"}; !slices.Equal(got, want) {
		t.Errorf("report %v, want %v", got, want)
	}
	// The same statuses again: batched again, one timer for the batch.
	b.add(res("cpu", api.StatusOK))
	waitAsked(t, fa)
	noReport(t, reports)
	fa.fire <- time.Now()
	if got := checksOf(waitReport(t, reports)); !slices.Equal(got, []string{"cpu=ok"}) {
		t.Errorf("report %v", got)
	}
}

func TestShipCheckResultsUrgent(t *testing.T) {
	tests := []struct {
		name  string
		first []api.CheckResult // reported before, with the timer
		add   func(b *resultBatcher)
		want  []string
	}{
		{name: "a failing result goes at once with what waits",
			add: func(b *resultBatcher) {
				b.add(res("cpu", api.StatusOK))
				b.add(res("disk", api.StatusCritical))
			},
			want: []string{"cpu=ok", "disk=critical"}},
		{name: "a warning goes at once",
			add:  func(b *resultBatcher) { b.add(res("load", api.StatusWarning)) },
			want: []string{"load=warning"}},
		{name: "a recovery goes at once",
			first: []api.CheckResult{res("disk", api.StatusCritical)},
			add:   func(b *resultBatcher) { b.add(res("disk", api.StatusOK)) },
			want:  []string{"disk=ok"}},
		{name: "a requested run goes at once",
			add:  func(b *resultBatcher) { b.addNow(res("disk", api.StatusOK)) },
			want: []string{"disk=ok"}},
		{name: "a full batch goes at once",
			add: func(b *resultBatcher) {
				for range 5 {
					b.add(res("cpu", api.StatusOK))
				}
			},
			want: []string{"cpu=ok", "cpu=ok", "cpu=ok", "cpu=ok", "cpu=ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, reports, _ := startShipper(t, 5)
			for _, r := range tt.first {
				b.add(r)
				waitReport(t, reports)
			}
			tt.add(b)
			// The fake timer never fires: only an urgent batch is reported.
			var got []string
			for len(got) < len(tt.want) {
				got = append(got, checksOf(waitReport(t, reports))...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reported %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShipCheckResultsFlushesOnStop(t *testing.T) {
	b, fa, reports, cancel := startShipper(t, 100)
	b.add(res("cpu", api.StatusOK))
	waitAsked(t, fa)
	cancel()
	if got := checksOf(waitReport(t, reports)); !slices.Equal(got, []string{"cpu=ok"}) {
		t.Errorf("report at stop %v", got)
	}
}

// stubProbe is a builtin that answers with its "status" arg.
type stubProbe struct{ status int }

func (p stubProbe) Probe(context.Context, check.Env) check.Outcome {
	return check.Outcome{Status: p.status, Output: "stub " + api.StatusName(p.status)}
}

func stubBuiltins() map[string]check.Builtin {
	return map[string]check.Builtin{"stub": func(args check.Args) (check.Probe, api.FieldErrors) {
		st, _ := args["status"].(float64)
		return stubProbe{int(st)}, nil
	}}
}

// TestFollowChecksRunsOnRequest drives followChecks through the agent's
// assignments: a checkrun nonce runs the check once and its result is
// queued at once; the same nonce after a re-snapshot or a restart does not
// run again; a new nonce does.
func TestFollowChecksRunsOnRequest(t *testing.T) {
	dir := t.TempDir()
	// Disabled: never scheduled, so every result comes from a request.
	spec := api.CheckSpec{Name: "probe", Builtin: "stub", Args: map[string]any{"status": 2.0}, Interval: api.Duration(time.Hour), Disabled: true}
	newAgent := func() *Agent {
		return &Agent{cfg: Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)}, log: slog.New(slog.DiscardHandler), checksWake: make(chan struct{}, 1),
			assignments: map[string]json.RawMessage{}}
	}
	var wg sync.WaitGroup
	start := func(a *Agent) (*resultBatcher, context.CancelFunc) {
		b := newResultBatcher(100)
		s := check.NewScheduler(check.SchedulerOptions{Node: "n1", Deliver: b.add, Builtins: stubBuiltins()})
		ctx, cancel := context.WithCancel(context.Background())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.followChecks(ctx, s, b, nil); err != nil {
				t.Error(err)
			}
		}()
		return b, cancel
	}
	put := func(a *Agent, key string, v any) {
		a.mu.Lock()
		a.assignments[key] = raw(t, v)
		a.synced = true
		a.wakeChecks(api.Assignment{Type: "put", Key: key}, false)
		a.mu.Unlock()
	}
	waitResult := func(b *resultBatcher) api.CheckResult {
		t.Helper()
		select {
		case <-b.sig:
		case <-time.After(10 * time.Second):
			t.Fatal("no result")
		}
		rs := b.take()
		if len(rs) != 1 {
			t.Fatalf("results %v, want one", rs)
		}
		return rs[0]
	}

	a := newAgent()
	b, cancel := start(a)
	put(a, "check/probe", spec)
	put(a, "checkrun/probe", map[string]string{"nonce": "one"})
	r := waitResult(b)
	if r.Check != "probe" || r.Entity != "n1" || r.Status != api.StatusCritical || r.Output != "stub critical" {
		t.Errorf("result %+v", r)
	}
	if _, urgent := b.state(); urgent {
		t.Error("the batch is still urgent after take")
	}
	cancel()
	wg.Wait()

	// A restart sees the same nonce and does not run it; a new one runs.
	a2 := newAgent()
	a2.assignments = a.assignments
	a2.synced = true
	b2, cancel2 := start(a2)
	defer func() { cancel2(); wg.Wait() }()
	a2.mu.Lock()
	a2.wakeChecks(api.Assignment{Type: "sync"}, false)
	a2.mu.Unlock()
	spec.Args = map[string]any{"status": 1.0}
	put(a2, "check/probe", spec)
	put(a2, "checkrun/probe", map[string]string{"nonce": "two"})
	r = waitResult(b2)
	if r.Status != api.StatusWarning {
		t.Errorf("second run %+v, want the new spec's warning", r)
	}
	if !strings.Contains(string(mustRead(t, filepath.Join(dir, checkRunFile))), `"two"`) {
		t.Error("nonce two not saved")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWakeChecks(t *testing.T) {
	tests := []struct {
		name       string
		as         api.Assignment
		snapshot   bool
		wantWake   bool
		wantSynced bool
	}{
		{name: "a check put", as: api.Assignment{Type: "put", Key: "check/disk"}, wantWake: true},
		{name: "a check delete", as: api.Assignment{Type: "delete", Key: "check/disk"}, wantWake: true},
		{name: "a run request", as: api.Assignment{Type: "put", Key: "checkrun/disk"}, wantWake: true},
		{name: "a task", as: api.Assignment{Type: "put", Key: "task/web-1"}},
		{name: "a check inside a snapshot waits for its sync", as: api.Assignment{Type: "put", Key: "check/disk"}, snapshot: true},
		{name: "sync", as: api.Assignment{Type: "sync"}, wantWake: true, wantSynced: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{checksWake: make(chan struct{}, 1)}
			a.wakeChecks(tt.as, tt.snapshot)
			a.wakeChecks(tt.as, tt.snapshot) // a second wake never blocks
			woke := len(a.checksWake) == 1
			if woke != tt.wantWake || a.synced != tt.wantSynced {
				t.Errorf("woke %v synced %v, want %v %v", woke, a.synced, tt.wantWake, tt.wantSynced)
			}
		})
	}
}
