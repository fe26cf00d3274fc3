package check

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"corral/internal/api"
)

// Clock is the time source of a Scheduler. Tests give a fake one.
type Clock interface {
	Now() time.Time
	// After delivers once d has passed, like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultMaxConcurrent is how many command checks run at once by default.
const DefaultMaxConcurrent = 4

// SchedulerOptions configures a Scheduler. Node and Deliver are required.
type SchedulerOptions struct {
	// Node is this node's name: the entity of its results and part of the
	// splay.
	Node string
	// Deliver receives every result. It is called from the check's own
	// goroutine, so concurrently for different checks, and should not
	// block for long.
	Deliver func(api.CheckResult)
	// Clock is the time source; nil is the real clock.
	Clock Clock
	// Logger gets skipped runs and unreadable metrics; nil discards.
	Logger *slog.Logger
	// MaxConcurrent bounds the command checks running at once (builtins
	// do not fork and are not counted); 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// Exec holds the command defaults (output cap, grace, environment);
	// its Timeout is replaced by each check's.
	Exec ExecOptions
	// MetricPrefix starts perfdata metric names; "" is MetricPrefix.
	MetricPrefix string
	// Subscribers returns the nodes subscribed to a proxy check, this one
	// included, for ProxyRunner. Nil, or an empty answer, means this node
	// runs every round of the proxy checks it is given.
	Subscribers func(spec api.CheckSpec) []string
	// Builtins are the builtin checks; nil is Builtins().
	Builtins map[string]Builtin
}

// Scheduler runs a node's checks on their schedules and delivers results.
// Update replaces the set of checks at any time; Run drives them.
//
// Interval checks run at unix times Splay + k*interval; cron checks at the
// schedule's next time (the standard 5 fields, or @hourly, @every 1m, ...,
// in the clock's location). A run whose previous run of the same check is
// still going is skipped and logged, never stacked.
type Scheduler struct {
	opts   SchedulerOptions
	clock  Clock
	log    *slog.Logger
	cmdSem chan struct{}
	wake   chan struct{}

	// idle, when set (by tests), is called with the loop's time each time
	// the loop is about to wait.
	idle func(now time.Time)
	// started, when set (by tests), is called as a run is launched.
	started func(check string)

	mu      sync.Mutex
	entries map[string]*entry
	order   []*entry // entries by name, the order the loop visits them
	running map[string]bool
	skipped map[string]int
}

// entry is one scheduled check.
type entry struct {
	spec     api.CheckSpec
	key      string // runKey(spec): a change means a new entry
	interval time.Duration
	offset   time.Duration
	cron     cron.Schedule
	next     time.Time
	round    uint64 // the run number of next, for proxy checks
	probe    Probe  // builtins
	invalid  string // why the spec cannot run, reported at each run
}

// NewScheduler returns a Scheduler with no checks; call Update and Run.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	s := &Scheduler{opts: opts, clock: opts.Clock, log: opts.Logger,
		wake: make(chan struct{}, 1), entries: map[string]*entry{},
		running: map[string]bool{}, skipped: map[string]int{}}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "check")
	n := opts.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	s.cmdSem = make(chan struct{}, n)
	if s.opts.Deliver == nil {
		s.opts.Deliver = func(api.CheckResult) {}
	}
	if s.opts.Builtins == nil {
		s.opts.Builtins = Builtins()
	}
	return s
}

// Validate checks what the agent needs of a spec beyond api's Validate:
// the cron expression and the builtin's args. The server calls it when a
// Check is applied.
func Validate(spec api.CheckSpec) api.FieldErrors {
	var fe api.FieldErrors
	if spec.Cron != "" {
		if _, err := cron.ParseStandard(spec.Cron); err != nil {
			fe.Add("cron", "%v", err)
		}
	}
	if spec.Builtin != "" {
		for k, v := range ValidateArgs(spec.Builtin, spec.Args) {
			fe.Add(k, "%s", v)
		}
	}
	return fe
}

// Update makes specs the node's checks (use ForNode to pick them). Checks
// whose spec is unchanged keep their schedule and state; new or changed
// ones are scheduled from now; others stop being scheduled (a run in
// progress finishes). Disabled specs and specs with neither interval nor
// cron are left out.
func (s *Scheduler) Update(specs []api.CheckSpec) {
	now := s.clock.Now()
	s.mu.Lock()
	next := make(map[string]*entry, len(specs))
	for _, spec := range specs {
		if spec.Disabled || (spec.Interval <= 0 && spec.Cron == "") || (spec.Command == "" && spec.Builtin == "") {
			continue
		}
		key := runKey(spec)
		if old, ok := s.entries[spec.Name]; ok && old.key == key {
			old.spec = spec // handlers and the like may differ; they do not matter here
			next[spec.Name] = old
			continue
		}
		next[spec.Name] = s.newEntry(spec, key, now)
	}
	s.entries = next
	s.order = s.order[:0]
	for _, name := range slices.Sorted(maps.Keys(next)) {
		s.order = append(s.order, next[name])
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runKey is what of a spec decides how and when the agent runs it: a
// change in anything else (handlers, occurrences, ttl) keeps the check's
// schedule and state.
func runKey(spec api.CheckSpec) string {
	b, _ := json.Marshal(api.CheckSpec{Name: spec.Name, Command: spec.Command, Builtin: spec.Builtin,
		Args: spec.Args, Interval: spec.Interval, Cron: spec.Cron, Timeout: spec.Timeout,
		ProxyEntity: spec.ProxyEntity, OutputMetricFormat: spec.OutputMetricFormat})
	return string(b)
}

func (s *Scheduler) newEntry(spec api.CheckSpec, key string, now time.Time) *entry {
	e := &entry{spec: spec, key: key}
	if spec.Cron != "" {
		sched, err := cron.ParseStandard(spec.Cron)
		if err != nil {
			e.invalid = fmt.Sprintf("cron %q: %v", spec.Cron, err)
			e.interval = time.Minute
		}
		e.cron = sched
	} else {
		e.interval = time.Duration(spec.Interval)
		e.offset = Splay(s.opts.Node, spec, e.interval)
	}
	if spec.Builtin != "" && e.invalid == "" {
		b, ok := s.opts.Builtins[spec.Builtin]
		if !ok {
			e.invalid = fmt.Sprintf("unknown builtin %q", spec.Builtin)
		} else if p, fe := b(Args(spec.Args)); len(fe) > 0 {
			var msgs []string
			for _, k := range slices.Sorted(maps.Keys(fe)) {
				msgs = append(msgs, fmt.Sprintf("args.%s: %s", k, fe[k]))
			}
			e.invalid = strings.Join(msgs, "; ")
		} else {
			e.probe = p
		}
	}
	if e.cron != nil || e.interval > 0 {
		e.schedule(now)
	}
	return e
}

// schedule sets next to the first run time after now.
func (e *entry) schedule(now time.Time) {
	if e.cron != nil {
		e.next = e.cron.Next(now)
		// Cron times have no run number; a hash of the time spreads the
		// rounds over the subscribers (every 5 minutes counted in minutes
		// would land on the same one of 5 subscribers each time).
		e.round = hash64(strconv.FormatInt(e.next.Unix(), 10))
		return
	}
	var k int64
	e.next, k = nextSlot(now, e.offset, e.interval)
	e.round = uint64(k)
}

// Run drives the checks until ctx ends, then waits for the runs in
// progress (their commands are killed as at a timeout) and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		now := s.clock.Now()
		wait := time.Duration(-1)
		s.mu.Lock()
		for _, e := range s.order {
			if !e.next.After(now) {
				round := e.round
				e.schedule(now)
				s.start(ctx, &wg, e, round)
			}
			if d := e.next.Sub(now); wait < 0 || d < wait {
				wait = d
			}
		}
		s.mu.Unlock()
		var timer <-chan time.Time
		if wait >= 0 {
			timer = s.clock.After(wait)
		}
		if s.idle != nil {
			s.idle(now)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
		case <-s.wake:
		}
	}
}

// start launches a due run unless the last one is still going or another
// subscriber has this proxy round. s.mu is held.
func (s *Scheduler) start(ctx context.Context, wg *sync.WaitGroup, e *entry, round uint64) {
	name := e.spec.Name
	if s.running[name] {
		s.skipped[name]++
		s.log.Warn("check still running, skipping this run", "check", name, "skipped", s.skipped[name])
		return
	}
	if e.spec.ProxyEntity != "" && s.opts.Subscribers != nil {
		if subs := s.opts.Subscribers(e.spec); len(subs) > 0 && ProxyRunner(e.spec, subs, round) != s.opts.Node {
			return
		}
	}
	s.running[name] = true
	spec := e.spec
	if s.started != nil {
		s.started(name)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := s.execute(ctx, e, spec)
		s.mu.Lock()
		delete(s.running, name)
		s.mu.Unlock()
		if ctx.Err() == nil {
			s.opts.Deliver(r)
		}
	}()
}

// Skipped returns how many runs of the check were skipped because the
// previous one was still going.
func (s *Scheduler) Skipped(check string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped[check]
}

// Execute runs spec once now, outside its schedule (an ad hoc check
// request), and returns the result without delivering it.
func (s *Scheduler) Execute(ctx context.Context, spec api.CheckSpec) api.CheckResult {
	return s.execute(ctx, s.newEntry(spec, runKey(spec), s.clock.Now()), spec)
}

// execute runs e once. spec is e.spec as it was at launch (Update may
// replace e.spec meanwhile).
func (s *Scheduler) execute(ctx context.Context, e *entry, spec api.CheckSpec) api.CheckResult {
	timeout := time.Duration(spec.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var o Outcome
	if e.probe == nil && e.invalid == "" {
		// A command waits for a slot first; its run starts when it has one.
		select {
		case s.cmdSem <- struct{}{}:
			defer func() { <-s.cmdSem }()
		case <-ctx.Done():
			return api.CheckResult{}
		}
	}
	start := s.clock.Now()
	switch {
	case e.invalid != "":
		o = Outcome{api.StatusUnknown, "UNKNOWN - invalid check: " + e.invalid}
	case e.probe != nil:
		pctx, cancel := context.WithTimeout(ctx, timeout)
		o = probeSafely(pctx, e.probe, Env{Now: s.clock.Now, Timeout: timeout})
		if pctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			o = Outcome{api.StatusCritical, joinOutput(fmt.Sprintf("Execution timed out after %s", timeout), o.Output)}
		}
		cancel()
	default:
		opts := s.opts.Exec
		opts.Timeout = timeout
		o = Exec(ctx, spec.Command, opts)
	}
	end := s.clock.Now()
	entity := spec.ProxyEntity
	if entity == "" {
		entity = s.opts.Node
	}
	r := api.CheckResult{Check: spec.Name, Entity: entity, Status: o.Status, Output: o.Output,
		Executed: start.Unix(), Duration: end.Sub(start).Seconds()}
	if spec.OutputMetricFormat != "" {
		pts, err := Metrics(spec.OutputMetricFormat, o.Output, s.opts.MetricPrefix, entity, spec.Name, start.Unix())
		if err != nil {
			s.log.Debug("check output has unreadable metrics", "check", spec.Name, "err", err)
		}
		r.Metrics = pts
	}
	return r
}

// probeSafely runs a probe, turning a panic into an unknown outcome so that
// one broken builtin cannot take the agent down.
func probeSafely(ctx context.Context, p Probe, env Env) (o Outcome) {
	defer func() {
		if v := recover(); v != nil {
			o = Outcome{api.StatusUnknown, fmt.Sprintf("UNKNOWN - builtin panicked: %v", v)}
		}
	}()
	return p.Probe(ctx, env)
}
