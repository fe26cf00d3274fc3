package event_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"corral/internal/api"
	"corral/internal/monitor/event"
	"corral/internal/monitor/event/sqlstore"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type call struct {
	handler string
	ev      api.Event
}

// notifier records Notify calls and fails those of handlers in fail.
type notifier struct {
	mu    sync.Mutex
	specs map[string]api.HandlerSpec
	calls []call
	fail  map[string]error
}

func newNotifier(specs ...api.HandlerSpec) *notifier {
	n := &notifier{specs: map[string]api.HandlerSpec{}, fail: map[string]error{}}
	for _, s := range specs {
		n.specs[s.Name] = s
	}
	return n
}

func (n *notifier) Expand(names []string) []api.HandlerSpec {
	var out []api.HandlerSpec
	for _, name := range names {
		if s, ok := n.specs[name]; ok {
			out = append(out, s)
		}
	}
	return out
}

func (n *notifier) Notify(_ context.Context, h api.HandlerSpec, ev api.Event) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, call{h.Name, ev})
	return n.fail[h.Name]
}

func (n *notifier) Calls() []call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]call(nil), n.calls...)
}

var pager = api.HandlerSpec{Name: "pager", Type: "pipe", Command: "x"}

type harness struct {
	t   *testing.T
	p   *event.Processor
	n   *notifier
	clk *clock
	ctx context.Context
	// stop ends Run and waits for it.
	stop func()
}

func start(t *testing.T, store event.Store, cfg event.Config, clk *clock, n *notifier) *harness {
	t.Helper()
	cfg.Store, cfg.Notifier, cfg.Now = store, n, clk.Now
	p, err := event.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return &harness{t: t, p: p, n: n, clk: clk, ctx: context.Background(), stop: stop}
}

func (h *harness) submit(entity, check string, status int) {
	h.t.Helper()
	r := api.CheckResult{Entity: entity, Check: check, Status: status, Output: api.StatusName(status), Executed: h.clk.Now().Unix()}
	if err := h.p.Submit(h.ctx, r); err != nil {
		h.t.Fatal(err)
	}
	h.flush()
}

func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if err := h.p.Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) tick(at time.Time) {
	h.t.Helper()
	h.clk.Set(at)
	if err := h.p.Tick(h.ctx, at); err != nil {
		h.t.Fatal(err)
	}
	h.flush()
}

func checks(specs ...api.CheckSpec) func(string) (api.CheckSpec, bool) {
	m := map[string]api.CheckSpec{}
	for _, s := range specs {
		m[s.Name] = s
	}
	return func(n string) (api.CheckSpec, bool) { s, ok := m[n]; return s, ok }
}

func TestProcessorIncidentAndResolution(t *testing.T) {
	clk := &clock{t: t0}
	n := newNotifier(pager)
	store := event.NewMemStore()
	h := start(t, store, event.Config{Checks: checks(api.CheckSpec{Name: "disk", Command: "x", Interval: api.Duration(time.Minute), Handlers: []string{"pager"}})}, clk, n)

	h.submit("db-1", "disk", 0)
	if c := n.Calls(); len(c) != 0 {
		t.Fatalf("ok result handled: %v", c)
	}
	clk.Set(t0.Add(time.Minute))
	h.submit("db-1", "disk", 2)
	clk.Set(t0.Add(2 * time.Minute))
	h.submit("db-1", "disk", 2) // within refresh: not again
	clk.Set(t0.Add(3 * time.Minute))
	h.submit("db-1", "disk", 0) // resolution
	c := n.Calls()
	if len(c) != 2 || c[0].ev.Status != 2 || c[0].ev.Occurrences != 1 || c[1].ev.Status != 0 || !c[1].ev.IsResolution() {
		t.Fatalf("calls = %+v, want the incident then the resolution", c)
	}
	ev, ok := h.p.Get("db-1", "disk")
	if !ok || ev.Status != 0 || len(ev.History) != 4 || ev.OccurrencesWatermark != 2 || ev.HandlerStatus["pager"].LastHandled != t0.Add(3*time.Minute).Unix() {
		t.Errorf("event = %+v", ev)
	}
	saved, err := store.Load(h.ctx, "db-1", "disk")
	if err != nil || len(saved.History) != 4 || saved.HandlerStatus["pager"].LastStatus != 0 {
		t.Errorf("stored event = %+v, %v", saved, err)
	}
	st := h.p.Stats()
	if st.Received != 4 || st.Processed != 4 || st.Handled != 2 || st.Events != 1 || st.HandlerFailures != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestProcessorHandlerFailureRecorded(t *testing.T) {
	clk := &clock{t: t0}
	n := newNotifier(pager)
	n.fail["pager"] = errors.New("exit status 3: no route to pager")
	h := start(t, event.NewMemStore(), event.Config{Checks: checks(api.CheckSpec{Name: "disk", Handlers: []string{"pager"}})}, clk, n)
	h.submit("db-1", "disk", 2)
	ev, _ := h.p.Get("db-1", "disk")
	st := ev.HandlerStatus["pager"]
	if st.LastError != "exit status 3: no route to pager" || st.Failures != 1 || st.LastHandled != t0.Unix() {
		t.Errorf("handler status = %+v", st)
	}
	if s := h.p.Stats(); s.HandlerFailures != 1 || s.Handlers["pager"] != (event.HandlerCounts{Runs: 1, Failures: 1}) {
		t.Errorf("stats = %+v, want one failed pager run", s)
	}
	delete(n.fail, "pager")
	clk.Set(t0.Add(time.Minute))
	h.submit("db-1", "disk", 0)
	ev, _ = h.p.Get("db-1", "disk")
	if st := ev.HandlerStatus["pager"]; st.LastError != "" || st.Failures != 0 {
		t.Errorf("after a success: %+v", st)
	}
}

func TestProcessorTTL(t *testing.T) {
	clk := &clock{t: t0}
	n := newNotifier(pager)
	backup := api.CheckSpec{Name: "backup", TTL: api.Duration(time.Hour), Handlers: []string{"pager"}}
	h := start(t, event.NewMemStore(), event.Config{Checks: checks(backup)}, clk, n)
	h.submit("db-1", "backup", 0)
	h.tick(t0.Add(time.Hour - time.Second))
	if ev, _ := h.p.Get("db-1", "backup"); ev.Status != 0 || len(n.Calls()) != 0 {
		t.Fatalf("before the ttl: %+v, calls %v", ev, n.Calls())
	}
	h.tick(t0.Add(time.Hour))
	ev, _ := h.p.Get("db-1", "backup")
	if ev.Status != api.StatusCritical || ev.Output != "Last check execution was 3600 seconds ago" {
		t.Fatalf("after the ttl: %+v", ev)
	}
	if c := n.Calls(); len(c) != 1 || c[0].ev.Status != 2 {
		t.Fatalf("calls = %+v", c)
	}
	// Re-armed one ttl later, still counting from the last real result; an
	// hour is past the default refresh (30m), so it is handled again.
	h.tick(t0.Add(2 * time.Hour))
	if ev, _ := h.p.Get("db-1", "backup"); ev.Occurrences != 2 || ev.Output != "Last check execution was 7200 seconds ago" {
		t.Errorf("second expiry: %+v", ev)
	}
	if s := h.p.Stats(); s.Expired != 2 {
		t.Errorf("Expired = %d", s.Expired)
	}
	clk.Set(t0.Add(2*time.Hour + time.Minute))
	h.submit("db-1", "backup", 0)
	if c := n.Calls(); len(c) != 3 || c[1].ev.Occurrences != 2 || !c[2].ev.IsResolution() {
		t.Errorf("check-in after expiry: calls %+v, want incident, refresh, resolution", c)
	}
}

func TestProcessorKeepalive(t *testing.T) {
	clk := &clock{t: t0}
	n := newNotifier(pager)
	h := start(t, event.NewMemStore(), event.Config{KeepaliveHandlers: []string{"pager"}}, clk, n)
	for i := range 5 { // alive every 20s
		clk.Set(t0.Add(time.Duration(i) * 20 * time.Second))
		if err := h.p.Keepalive(h.ctx, "web-1", 0); err != nil {
			t.Fatal(err)
		}
		h.tick(clk.Now())
	}
	last := clk.Now()
	// The agent stops; the server ticks every second.
	var critical time.Time
	for s := 1; s <= 40; s++ {
		h.tick(last.Add(time.Duration(s) * time.Second))
		if ev, _ := h.p.Get("web-1", api.KeepaliveCheck); ev.Status == api.StatusCritical && critical.IsZero() {
			critical = clk.Now()
		}
	}
	if critical.IsZero() || critical.Sub(last) > 32*time.Second {
		t.Fatalf("keepalive critical after %v, want within 30s + 2s", critical.Sub(last))
	}
	if c := n.Calls(); len(c) != 1 || c[0].ev.Check != api.KeepaliveCheck || c[0].ev.Status != 2 {
		t.Fatalf("calls = %+v, want one keepalive alert", c)
	}
	clk.Set(last.Add(50 * time.Second))
	if err := h.p.Keepalive(h.ctx, "web-1", 0); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if c := n.Calls(); len(c) != 2 || c[1].ev.Status != 0 {
		t.Errorf("agent back: calls = %+v, want the resolution", c)
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	// The settings of the server's history database (package ledger).
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestProcessorRestart: an open keepalive incident and an open check
// incident survive a restart from SQLite without a second notification or a
// false resolution, and restarted timers are spread, not fired at once.
func TestProcessorRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	disk := api.CheckSpec{Name: "disk", Command: "x", Interval: api.Duration(time.Minute), Handlers: []string{"pager"}}
	cfg := event.Config{KeepaliveHandlers: []string{"pager"}, Checks: checks(disk)}
	clk := &clock{t: t0}

	db1 := openDB(t, path)
	s1, err := sqlstore.New(context.Background(), db1)
	if err != nil {
		t.Fatal(err)
	}
	n1 := newNotifier(pager)
	h1 := start(t, s1, cfg, clk, n1)
	for _, e := range []string{"web-1", "web-2", "web-3"} {
		if err := h1.p.Keepalive(h1.ctx, e, 0); err != nil {
			t.Fatal(err)
		}
	}
	h1.submit("db-1", "disk", 2)
	// web-1 dies; web-2 and web-3 keep reporting.
	for s := 10; s <= 35; s += 5 {
		clk.Set(t0.Add(time.Duration(s) * time.Second))
		h1.p.Keepalive(h1.ctx, "web-2", 0)
		h1.p.Keepalive(h1.ctx, "web-3", 0)
		h1.tick(clk.Now())
	}
	if c := n1.Calls(); len(c) != 2 {
		t.Fatalf("before restart: calls %+v, want disk and web-1 keepalive", c)
	}
	h1.stop()
	db1.Close()

	// The server is down for 20s, then starts again.
	restart := t0.Add(55 * time.Second)
	clk.Set(restart)
	db2 := openDB(t, path)
	s2, err := sqlstore.New(context.Background(), db2)
	if err != nil {
		t.Fatal(err)
	}
	n2 := newNotifier(pager)
	h2 := start(t, s2, cfg, clk, n2)
	h2.flush()
	var keys []string
	for _, ev := range h2.p.List(event.Filter{}) {
		keys = append(keys, ev.Key())
	}
	if want := []string{"db-1/disk", "web-1/keepalive", "web-2/keepalive", "web-3/keepalive"}; !slices.Equal(keys, want) {
		t.Fatalf("after restart: events %v, want %v", keys, want)
	}
	// The live agents report again within their timeout, after a few ticks.
	h2.tick(restart.Add(time.Second))
	if c := n2.Calls(); len(c) != 0 {
		t.Fatalf("restart fired at once: %+v", c)
	}
	for s := 2; s <= 70; s++ {
		now := restart.Add(time.Duration(s) * time.Second)
		clk.Set(now)
		if s%10 == 0 {
			h2.p.Keepalive(h2.ctx, "web-2", 0)
			h2.p.Keepalive(h2.ctx, "web-3", 0)
		}
		if s == 30 {
			h2.submit("db-1", "disk", 2)
		}
		h2.tick(now)
	}
	if c := n2.Calls(); len(c) != 0 {
		t.Errorf("after restart: calls %+v, want none (incidents already handled)", c)
	}
	ka, _ := h2.p.Get("web-1", api.KeepaliveCheck)
	if ka.Status != api.StatusCritical || ka.Occurrences < 2 {
		t.Errorf("web-1 keepalive = status %d occurrences %d, want still critical and re-checked", ka.Status, ka.Occurrences)
	}
	if want := fmt.Sprintf("No keepalive sent from web-1 for %d seconds (>= 30)", ka.Issued-t0.Unix()); ka.Output != want || ka.LastSeen != t0.Unix() {
		t.Errorf("web-1 keepalive output %q last_seen %d, want %q %d (counted from its last keepalive)", ka.Output, ka.LastSeen, want, t0.Unix())
	}
	for _, e := range []string{"web-2", "web-3"} {
		if ev, _ := h2.p.Get(e, api.KeepaliveCheck); ev.Status != 0 {
			t.Errorf("%s keepalive = %d, want ok (no false alert)", e, ev.Status)
		}
	}
	if ev, _ := h2.p.Get("db-1", "disk"); ev.Status != 2 || ev.Occurrences != 2 {
		t.Errorf("disk = status %d occurrences %d, want 2 2", ev.Status, ev.Occurrences)
	}
	// The dead agent comes back: exactly one resolution.
	clk.Set(restart.Add(80 * time.Second))
	h2.p.Keepalive(h2.ctx, "web-1", 0)
	h2.flush()
	if c := n2.Calls(); len(c) != 1 || c[0].ev.Entity != "web-1" || !c[0].ev.IsResolution() {
		t.Errorf("web-1 back: calls %+v, want its resolution", c)
	}
}

func TestProcessorSilences(t *testing.T) {
	clk := &clock{t: t0}
	n := newNotifier(pager)
	sil := event.NewSilences()
	sil.Put(api.SilenceSpec{Node: "db-1", Check: "disk", ExpireOnResolve: true, CreatedAt: t0})
	sil.Put(api.SilenceSpec{Subscription: "web", CreatedAt: t0, Expire: api.Duration(time.Hour)})
	var expired []string
	h := start(t, event.NewMemStore(), event.Config{
		Checks:              checks(api.CheckSpec{Name: "disk", Handlers: []string{"pager"}}, api.CheckSpec{Name: "http", Subscriptions: []string{"web"}, Handlers: []string{"pager"}}),
		Silences:            sil,
		SilenceExpired:      func(id string) { expired = append(expired, id) },
		EntitySubscriptions: func(e string) []string { return []string{"linux"} },
	}, clk, n)
	h.submit("db-1", "disk", 2)
	h.submit("web-1", "http", 2)
	if c := n.Calls(); len(c) != 0 {
		t.Fatalf("silenced events handled: %+v", c)
	}
	if ev, _ := h.p.Get("db-1", "disk"); !ev.IsSilenced || len(ev.Silenced) != 1 || ev.Silenced[0] != "entity:db-1:disk" {
		t.Errorf("disk silenced = %v %v", ev.IsSilenced, ev.Silenced)
	}
	clk.Set(t0.Add(time.Minute))
	h.submit("db-1", "disk", 0) // resolution ends the expire_on_resolve silence
	if len(expired) != 1 || expired[0] != "entity:db-1:disk" || sil.Len() != 1 {
		t.Errorf("expired %v, %d silences left", expired, sil.Len())
	}
	clk.Set(t0.Add(2 * time.Minute))
	h.submit("db-1", "disk", 2)
	if c := n.Calls(); len(c) != 1 || c[0].ev.Check != "disk" {
		t.Errorf("after the silence ended: %+v", c)
	}
	// The subscription silence expires after an hour; the still failing
	// http check is handled on its next result (never handled before).
	clk.Set(t0.Add(61 * time.Minute))
	h.submit("web-1", "http", 2)
	if c := n.Calls(); len(c) != 2 || c[1].ev.Check != "http" || c[1].ev.IsSilenced {
		t.Errorf("after expiry: %+v", c)
	}
}

func TestProcessorDelete(t *testing.T) {
	clk := &clock{t: t0}
	store := event.NewMemStore()
	h := start(t, store, event.Config{}, clk, newNotifier())
	h.submit("db-1", "disk", 1)
	if err := h.p.Delete(h.ctx, "db-1", "disk"); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if _, ok := h.p.Get("db-1", "disk"); ok {
		t.Error("event still held")
	}
	if _, err := store.Load(h.ctx, "db-1", "disk"); !errors.Is(err, event.ErrNotFound) {
		t.Errorf("store Load = %v, want ErrNotFound", err)
	}
}

// blocking is a Notifier whose runs wait for release.
type blocking struct {
	notifier
	started chan string
	release chan struct{}
}

func (b *blocking) Notify(ctx context.Context, h api.HandlerSpec, ev api.Event) error {
	b.started <- ev.Entity
	<-b.release
	return b.notifier.Notify(ctx, h, ev)
}

// TestProcessorHandlerQueueFull: a slow handler never blocks ingest; runs
// beyond the bounded queue are dropped and recorded on the event.
func TestProcessorHandlerQueueFull(t *testing.T) {
	clk := &clock{t: t0}
	b := &blocking{notifier: *newNotifier(pager), started: make(chan string, 10), release: make(chan struct{})}
	cfg := event.Config{Store: event.NewMemStore(), Notifier: b, Now: clk.Now, HandlerQueue: 1, HandlerWorkers: 1,
		Checks: checks(api.CheckSpec{Name: "disk", Handlers: []string{"pager"}})}
	p, err := event.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	submit := func(e string) {
		if err := p.Submit(ctx, api.CheckResult{Entity: e, Check: "disk", Status: 2}); err != nil {
			t.Fatal(err)
		}
	}
	submit("a")
	if got := <-b.started; got != "a" {
		t.Fatalf("first run for %s", got)
	}
	submit("b") // queued
	submit("c") // dropped
	for range 100 {
		submit("d") // ingest goes on
	}
	for p.Stats().Processed < 103 { // all applied while a's run still blocks
		time.Sleep(time.Millisecond)
	}
	close(b.release)
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	ev, _ := p.Get("c", "disk")
	if st := ev.HandlerStatus["pager"]; st.LastError != "handler queue full: not run" || st.LastHandled != 0 {
		t.Errorf("dropped run: %+v", st)
	}
	// The worker held a, the queue held b: c and every d were dropped (d
	// was never handled, so each result tries again).
	if ev, _ := p.Get("d", "disk"); ev.HandlerStatus["pager"].Failures != 100 {
		t.Errorf("d: %+v", ev.HandlerStatus["pager"])
	}
	s := p.Stats()
	if s.HandlerDropped != 101 || s.Processed != 103 || len(b.Calls()) != 2 || s.Handlers["pager"] != (event.HandlerCounts{Runs: 2, Failures: 101}) {
		t.Errorf("stats %+v, %d calls; want 101 dropped, 103 processed, 2 calls", s, len(b.Calls()))
	}
}
