package event

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
)

// Notifier runs handlers. Package handler provides one (handler.Runner).
type Notifier interface {
	// Expand resolves handler names (sets included) to the specs to run,
	// de-duplicated; unknown names are skipped.
	Expand(names []string) []api.HandlerSpec
	// Notify runs one handler for one event.
	Notify(ctx context.Context, h api.HandlerSpec, ev api.Event) error
}

// Config builds a Processor. Store and Notifier are required.
type Config struct {
	Store    Store
	Notifier Notifier
	// Checks returns the current spec of a check; unknown checks get a
	// spec with the name only.
	Checks func(name string) (api.CheckSpec, bool)
	// Silences is the live silence index; nil means none.
	Silences *Silences
	// EntitySubscriptions adds an entity's own subscriptions to the check's
	// when matching silences by subscription; optional.
	EntitySubscriptions func(entity string) []string
	// SilenceExpired is called (from the processing goroutine: it must not
	// block) with a silence that expire_on_resolve ends; the server deletes
	// it from etcd. The index drops it at once.
	SilenceExpired func(id string)
	// KeepaliveHandlers handle keepalive events; KeepaliveTimeout is the
	// default timeout (30s).
	KeepaliveHandlers []string
	KeepaliveTimeout  time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
	// QueueSize bounds queued results (default 65536), BatchSize the results
	// taken from the queue between saves and the events per Store.Save
	// (default 4096), HandlerQueue the queued handler runs
	// (default 4096) and HandlerWorkers the handlers running at once
	// (default 16).
	QueueSize, BatchSize, HandlerQueue, HandlerWorkers int
}

// Stats are the Processor's counters for self metrics.
type Stats struct {
	Received        uint64 // results and keepalives taken
	Processed       uint64 // applied to events
	Expired         uint64 // TTL and keepalive expiries fired
	Saved           uint64 // events written to the store
	SaveErrors      uint64
	Handled         uint64 // handler runs started
	HandlerFailures uint64
	HandlerDropped  uint64 // runs dropped because the handler queue was full
	Events          int    // events held
	Queued          int    // results waiting
	// Handlers counts finished runs and failures (dropped runs included)
	// per handler name.
	Handlers map[string]HandlerCounts
}

// HandlerCounts are one handler's counters.
type HandlerCounts struct {
	Runs, Failures uint64
}

// Processor ingests check results into events, persists them in batches
// and dispatches handlers. Results of one (entity, check) are applied in the
// order submitted. All methods are safe for concurrent use.
type Processor struct {
	cfg Config
	log *slog.Logger
	in  chan msg
	// urgent carries non-ok results ahead of the queue in, so a failure
	// reaches its handlers in well under a second however long in is. A
	// result goes there only while in holds no result of the same (entity,
	// check), which keeps each event's results in order; pending counts
	// those held in in.
	urgent  chan msg
	pendMu  sync.Mutex
	pending map[string]int

	mu     sync.RWMutex // guards events and perHandler; the loop is the only writer
	events map[string]*api.Event
	// perHandler counts runs and failures by handler name.
	perHandler map[string]HandlerCounts

	// Owned by the loop goroutine.
	deadline map[string]time.Time // TTL expiry per event key
	dirty    map[string]struct{}
	inflight int
	waiters  []chan struct{}

	jobs    chan job
	results chan jobResult
	batches chan []api.Event
	ready   chan struct{}

	st struct {
		received, processed, expired, saved, saveErrors, handled, failures, dropped atomic.Uint64
	}
}

type msgKind int

const (
	msgResult msgKind = iota
	msgKeepalive
	msgTick
	msgFlush
	msgDelete
)

type msg struct {
	kind    msgKind
	res     api.CheckResult
	timeout time.Duration
	now     time.Time
	done    chan struct{}
}

type job struct {
	h  api.HandlerSpec
	ev api.Event
}

type jobResult struct {
	key, handler string
	err          error
}

// New checks cfg and returns a Processor; Run starts it.
func New(cfg Config) (*Processor, error) {
	if cfg.Store == nil || cfg.Notifier == nil {
		return nil, errors.New("event processor: store and notifier are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Checks == nil {
		cfg.Checks = func(string) (api.CheckSpec, bool) { return api.CheckSpec{}, false }
	}
	if cfg.KeepaliveTimeout <= 0 {
		cfg.KeepaliveTimeout = 30 * time.Second
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.QueueSize, 65536)
	def(&cfg.BatchSize, 4096)
	def(&cfg.HandlerQueue, 4096)
	def(&cfg.HandlerWorkers, 16)
	return &Processor{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "event"),
		in:         make(chan msg, cfg.QueueSize),
		urgent:     make(chan msg, urgentQueue),
		pending:    map[string]int{},
		events:     map[string]*api.Event{},
		perHandler: map[string]HandlerCounts{},
		deadline:   map[string]time.Time{},
		dirty:      map[string]struct{}{},
		jobs:       make(chan job, cfg.HandlerQueue),
		results:    make(chan jobResult, cfg.HandlerQueue),
		batches:    make(chan []api.Event, 1),
		ready:      make(chan struct{}, 1),
	}, nil
}

// urgentQueue bounds the lane of non-ok results; past it they wait in the
// ordinary queue.
const urgentQueue = 4096

// Submit queues a check result, waiting while the queue is full. Non-ok
// results skip ahead of queued ok results of other checks.
func (p *Processor) Submit(ctx context.Context, res api.CheckResult) error {
	if fe := res.Validate(); len(fe) > 0 {
		return fe.Err("invalid check result")
	}
	m := msg{kind: msgResult, res: res}
	key := res.Entity + "/" + res.Check
	p.pendMu.Lock()
	if res.Status != api.StatusOK && p.pending[key] == 0 {
		select {
		case p.urgent <- m:
			p.pendMu.Unlock()
			p.st.received.Add(1)
			return nil
		default:
		}
	}
	p.pending[key]++
	p.pendMu.Unlock()
	if err := p.send(ctx, m); err != nil {
		p.unpend(key)
		return err
	}
	return nil
}

// unpend counts a result of key out of the queue in.
func (p *Processor) unpend(key string) {
	p.pendMu.Lock()
	if p.pending[key] <= 1 {
		delete(p.pending, key)
	} else {
		p.pending[key]--
	}
	p.pendMu.Unlock()
}

// take handles a message from the queue in.
func (p *Processor) take(m msg) {
	if m.kind == msgResult {
		p.unpend(m.res.Entity + "/" + m.res.Check)
	}
	p.handle(m)
}

// Keepalive records that entity's agent is alive; its keepalive event turns
// critical when no keepalive follows within timeout (0: the default).
func (p *Processor) Keepalive(ctx context.Context, entity string, timeout time.Duration) error {
	if entity == "" {
		return errors.New("keepalive: entity is required")
	}
	return p.send(ctx, msg{kind: msgKeepalive, res: api.CheckResult{Check: api.KeepaliveCheck, Entity: entity, Output: "keepalive ok"}, timeout: timeout})
}

// Tick fires the TTL and keepalive timers due at now. The server calls it
// from its clock about every second (the precision of the timers).
func (p *Processor) Tick(ctx context.Context, now time.Time) error {
	return p.send(ctx, msg{kind: msgTick, now: now})
}

// Delete removes the event of (entity, check), from the store too.
func (p *Processor) Delete(ctx context.Context, entity, check string) error {
	return p.send(ctx, msg{kind: msgDelete, res: api.CheckResult{Entity: entity, Check: check}})
}

// Flush waits until everything submitted before it is applied, handled
// (handler runs finished) and saved.
func (p *Processor) Flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := p.send(ctx, msg{kind: msgFlush, done: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Processor) send(ctx context.Context, m msg) error {
	if m.kind == msgResult || m.kind == msgKeepalive {
		p.st.received.Add(1)
	}
	select {
	case p.in <- m:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue event input: %w", ctx.Err())
	}
}

// Get returns a copy of the current event of (entity, check).
func (p *Processor) Get(entity, check string) (api.Event, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	ev, ok := p.events[entity+"/"+check]
	if !ok {
		return api.Event{}, false
	}
	return clone(*ev), true
}

// List returns copies of the current events that match f, sorted by entity
// and check.
func (p *Processor) List(f Filter) []api.Event {
	p.mu.RLock()
	var out []api.Event
	for _, ev := range p.events {
		if f.Match(ev) {
			out = append(out, clone(*ev))
		}
	}
	p.mu.RUnlock()
	sortEvents(out)
	return out
}

// Stats returns the counters.
func (p *Processor) Stats() Stats {
	p.mu.RLock()
	n := len(p.events)
	hs := make(map[string]HandlerCounts, len(p.perHandler))
	for k, v := range p.perHandler {
		hs[k] = v
	}
	p.mu.RUnlock()
	return Stats{
		Handlers: hs,
		Received: p.st.received.Load(), Processed: p.st.processed.Load(), Expired: p.st.expired.Load(),
		Saved: p.st.saved.Load(), SaveErrors: p.st.saveErrors.Load(), Handled: p.st.handled.Load(),
		HandlerFailures: p.st.failures.Load(), HandlerDropped: p.st.dropped.Load(),
		Events: n, Queued: len(p.in) + len(p.urgent),
	}
}

// Run loads the events from the store, then processes until ctx ends. After
// a load, TTL and keepalive timers restart spread over one TTL past their
// TTL, so a restart does not fire a storm of expiries.
func (p *Processor) Run(ctx context.Context) error {
	evs, err := p.cfg.Store.List(ctx, Filter{})
	if err != nil {
		return fmt.Errorf("load events: %w", err)
	}
	start := p.cfg.Now()
	p.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		k := ev.Key()
		p.events[k] = ev
		if ttl := time.Duration(ev.TTL); ttl > 0 {
			p.deadline[k] = start.Add(ttl + spread(k, ttl))
		}
	}
	p.mu.Unlock()
	p.log.Info("events loaded", "events", len(evs))

	var wg sync.WaitGroup
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { cancel(); wg.Wait() }()
	for range p.cfg.HandlerWorkers {
		wg.Go(func() { p.worker(hctx) })
	}
	wctx := context.WithoutCancel(ctx)
	wg.Go(func() { p.writer(wctx) })

	writerIdle := false
	for {
		select {
		case <-ctx.Done():
			p.drainOnStop(wctx, writerIdle)
			return nil
		case m := <-p.urgent:
			p.handle(m)
		case m := <-p.in:
			// Urgent results queued before m go first (Flush relies on it).
			for drained := false; !drained; {
				select {
				case u := <-p.urgent:
					p.handle(u)
				default:
					drained = true
				}
			}
			p.take(m)
			// Take what else is queued, up to a batch, before saving;
			// urgent results first.
			for n := 1; n < p.cfg.BatchSize; n++ {
				select {
				case u := <-p.urgent:
					p.handle(u)
					continue
				default:
				}
				select {
				case m := <-p.in:
					p.take(m)
					continue
				default:
				}
				break
			}
		case r := <-p.results:
			p.jobDone(r)
		case <-p.ready:
			writerIdle = true
		}
		if writerIdle && len(p.dirty) > 0 {
			p.batches <- p.takeBatch()
			writerIdle = false
		}
		if writerIdle && p.inflight == 0 && len(p.dirty) == 0 && len(p.waiters) > 0 {
			for _, w := range p.waiters {
				close(w)
			}
			p.waiters = nil
		}
	}
}

// drainOnStop saves what is dirty once the writer finished its batch.
func (p *Processor) drainOnStop(ctx context.Context, writerIdle bool) {
	if !writerIdle {
		<-p.ready
	}
	close(p.batches)
	for len(p.dirty) > 0 {
		p.save(ctx, p.takeBatch())
	}
}

// takeBatch takes up to BatchSize dirty events, copied for the writer.
func (p *Processor) takeBatch() []api.Event {
	b := make([]api.Event, 0, min(len(p.dirty), p.cfg.BatchSize))
	p.mu.RLock()
	for k := range p.dirty {
		if len(b) == p.cfg.BatchSize {
			break
		}
		delete(p.dirty, k)
		if ev, ok := p.events[k]; ok {
			c := *ev
			c.HandlerStatus = cloneStatus(ev.HandlerStatus)
			b = append(b, c)
		}
	}
	p.mu.RUnlock()
	return b
}

func (p *Processor) writer(ctx context.Context) {
	p.ready <- struct{}{}
	for b := range p.batches {
		p.save(ctx, b)
		p.ready <- struct{}{}
	}
}

func (p *Processor) save(ctx context.Context, b []api.Event) {
	if len(b) == 0 {
		return
	}
	if err := p.cfg.Store.Save(ctx, b); err != nil {
		p.st.saveErrors.Add(1)
		p.log.Error("save events", "events", len(b), "err", err)
		return
	}
	p.st.saved.Add(uint64(len(b)))
}

func (p *Processor) handle(m msg) {
	switch m.kind {
	case msgResult:
		spec, ok := p.cfg.Checks(m.res.Check)
		if !ok {
			spec = api.CheckSpec{Name: m.res.Check}
		}
		p.apply(m.res, spec, p.cfg.Now(), true)
	case msgKeepalive:
		to := m.timeout
		if to <= 0 {
			to = p.cfg.KeepaliveTimeout
		}
		now := p.cfg.Now()
		m.res.Executed = now.Unix()
		p.apply(m.res, p.keepaliveSpec(to), now, true)
	case msgTick:
		p.tick(m.now)
	case msgFlush:
		p.waiters = append(p.waiters, m.done)
	case msgDelete:
		k := m.res.Entity + "/" + m.res.Check
		p.mu.Lock()
		delete(p.events, k)
		p.mu.Unlock()
		delete(p.deadline, k)
		delete(p.dirty, k)
		if err := p.cfg.Store.Delete(context.Background(), m.res.Entity, m.res.Check); err != nil {
			p.log.Error("delete event", "event", k, "err", err)
		}
	}
}

func (p *Processor) keepaliveSpec(timeout time.Duration) api.CheckSpec {
	return api.CheckSpec{Name: api.KeepaliveCheck, TTL: api.Duration(timeout), Handlers: p.cfg.KeepaliveHandlers}
}

// apply runs one result through Apply, silences, timers and filters. real
// is false for the stand-in results of expired timers.
func (p *Processor) apply(res api.CheckResult, spec api.CheckSpec, now time.Time, real bool) {
	k := res.Entity + "/" + res.Check
	p.mu.RLock()
	prev := p.events[k]
	p.mu.RUnlock()
	next, change := Apply(prev, res, spec, now)
	if real {
		next.LastSeen = now.Unix()
	}
	subs := spec.Subscriptions
	if f := p.cfg.EntitySubscriptions; f != nil {
		subs = append(subs[:len(subs):len(subs)], f(res.Entity)...)
	}
	MarkSilenced(&next, p.cfg.Silences.Match(res.Entity, res.Check, subs, now))
	if ttl := time.Duration(spec.TTL); ttl > 0 {
		p.deadline[k] = now.Add(ttl)
	} else {
		delete(p.deadline, k)
	}
	p.st.processed.Add(1)
	p.dispatch(&next, spec, now)
	if change == Resolved {
		p.expireOnResolve(&next)
	}
	p.mu.Lock()
	p.events[k] = &next
	p.mu.Unlock()
	p.dirty[k] = struct{}{}
}

func (p *Processor) dispatch(ev *api.Event, spec api.CheckSpec, now time.Time) {
	if len(spec.Handlers) == 0 {
		return
	}
	for _, h := range p.cfg.Notifier.Expand(spec.Handlers) {
		st := ev.HandlerStatus[h.Name]
		var last time.Time
		if st.LastHandled != 0 {
			last = time.Unix(st.LastHandled, 0)
		}
		ok, _ := ShouldHandle(*ev, h, spec, last, now)
		if !ok {
			continue
		}
		jev := *ev
		jev.HandlerStatus = nil
		select {
		case p.jobs <- job{h: h, ev: jev}:
			p.inflight++
			p.st.handled.Add(1)
			st.LastHandled, st.LastStatus = now.Unix(), ev.Status
		default:
			p.st.dropped.Add(1)
			st.LastError, st.Failures = "handler queue full: not run", st.Failures+1
			p.mu.Lock()
			c := p.perHandler[h.Name]
			c.Failures++
			p.perHandler[h.Name] = c
			p.mu.Unlock()
		}
		if ev.HandlerStatus == nil {
			ev.HandlerStatus = map[string]api.HandlerStatus{}
		}
		ev.HandlerStatus[h.Name] = st
	}
}

func (p *Processor) expireOnResolve(ev *api.Event) {
	for _, id := range ev.Silenced {
		if sp, ok := p.cfg.Silences.Get(id); ok && sp.ExpireOnResolve {
			p.cfg.Silences.Delete(id)
			if p.cfg.SilenceExpired != nil {
				p.cfg.SilenceExpired(id)
			}
		}
	}
}

func (p *Processor) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-p.jobs:
			to := time.Duration(j.h.Timeout)
			if to <= 0 {
				to = 10 * time.Second
			}
			jctx, cancel := context.WithTimeout(ctx, to)
			err := p.cfg.Notifier.Notify(jctx, j.h, j.ev)
			cancel()
			if err != nil {
				p.st.failures.Add(1)
				p.log.Warn("handler failed", "handler", j.h.Name, "event", j.ev.Key(), "err", err)
			}
			select {
			case p.results <- jobResult{key: j.ev.Key(), handler: j.h.Name, err: err}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (p *Processor) jobDone(r jobResult) {
	p.inflight--
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.perHandler[r.handler]
	c.Runs++
	if r.err != nil {
		c.Failures++
	}
	p.perHandler[r.handler] = c
	ev, ok := p.events[r.key]
	if !ok {
		return
	}
	// Replace, not mutate: readers may hold copies of the map.
	next := *ev
	next.HandlerStatus = cloneStatus(ev.HandlerStatus)
	if next.HandlerStatus == nil {
		next.HandlerStatus = map[string]api.HandlerStatus{}
	}
	st := next.HandlerStatus[r.handler]
	if r.err != nil {
		st.LastError, st.Failures = r.err.Error(), st.Failures+1
	} else {
		st.LastError, st.Failures = "", 0
	}
	next.HandlerStatus[r.handler] = st
	p.events[r.key] = &next
	p.dirty[r.key] = struct{}{}
}

// tick fires every timer due at now and re-arms it one TTL later, so an
// event whose results stay away is re-applied (occurrences grow, refresh
// works) every TTL.
func (p *Processor) tick(now time.Time) {
	for k, d := range p.deadline {
		if now.Before(d) {
			continue
		}
		p.mu.RLock()
		ev := p.events[k]
		p.mu.RUnlock()
		if ev == nil {
			delete(p.deadline, k)
			continue
		}
		var spec api.CheckSpec
		if ev.Check == api.KeepaliveCheck {
			spec = p.keepaliveSpec(time.Duration(ev.TTL))
		} else {
			s, ok := p.cfg.Checks(ev.Check)
			if !ok || s.TTL <= 0 {
				delete(p.deadline, k)
				continue
			}
			spec = s
		}
		seen := ev.LastSeen
		if seen == 0 {
			seen = ev.Issued
		}
		p.st.expired.Add(1)
		p.apply(ExpiredResult(ev, time.Unix(seen, 0), now), spec, now, false)
	}
}

// spread is a stable offset in [0, ttl) for key, to spread restarted timers.
func spread(key string, ttl time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(ttl))
}
