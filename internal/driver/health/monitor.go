package health

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"
)

// Probe runs one probe; *Prober is the real one, tests pass fakes.
type Probe interface {
	Probe(ctx context.Context, c Check, t Target) Result
}

var _ Probe = (*Prober)(nil)

// Task is one running task whose checks the Monitor runs.
type Task struct {
	ID      string
	Started time.Time // when the task started running; the grace period counts from here
	Target  Target
	Checks  []Check // with defaults applied
}

// Change is a change of a task's health for one of its checks, or the
// verdict that it must be killed (Alive false).
type Change struct {
	TaskID  string
	Check   int // index in Task.Checks
	State   State
	Alive   bool    // false: kill the task, with Failure.Reason as the reason
	Failure Failure // the last counted failure (zero At if none)
	At      time.Time
}

// Status is the current health of a task for one check, for the API.
type Status struct {
	Check               Check
	State               State
	Alive               bool
	ConsecutiveFailures int
	LastSuccess         time.Time
	LastFailure         Failure
	LastMessage         string
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	Probe  Probe            // required
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
	// Workers bounds the probes in flight; default 32.
	Workers int
	// StartupInterval probes a task that has not passed a check yet, and is
	// still within its grace period, this often instead of Interval (when
	// shorter), so a task is seen healthy soon after it starts listening.
	// Failures are not counted in that time, so Marathon's semantics hold.
	// Default 1 s; negative disables it.
	StartupInterval time.Duration
	// OnChange is called on every change of a check's State or Alive, from
	// the worker that ran the probe: it must not block for long. Changes of
	// one (task, check) arrive in order. On a Change with Alive false the
	// agent kills the task (reason Failure.Reason) and calls Remove; until
	// then the Monitor goes on probing it.
	OnChange func(Change)
}

// Monitor runs every check of every task on a node. Checks wait in one
// min-heap ordered by their next run; one loop sleeps until the earliest
// and hands due checks to a fixed pool of workers, so the cost is per probe,
// not per task (no goroutine or ticker per task).
type Monitor struct {
	cfg  MonitorConfig
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex
	tasks map[string]*task
	queue queue
}

type task struct {
	Task
	removed  bool
	trackers []*Tracker
}

type entry struct {
	due   time.Time
	task  *task
	check int
	index int // in queue; -1 when not queued (probe running, or removed)
}

// NewMonitor returns a Monitor; Run runs it.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	if cfg.StartupInterval == 0 {
		cfg.StartupInterval = time.Second
	}
	return &Monitor{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "health"),
		wake:  make(chan struct{}, 1),
		tasks: map[string]*task{},
	}
}

// Add starts checking t, replacing a task with the same ID. Its first
// probes are due at once.
func (m *Monitor) Add(t Task) {
	now := m.cfg.Now()
	m.mu.Lock()
	if old := m.tasks[t.ID]; old != nil {
		m.removeLocked(old)
	}
	tk := &task{Task: t, trackers: make([]*Tracker, len(t.Checks))}
	for i, c := range t.Checks {
		tk.trackers[i] = NewTracker(c, t.Started)
		heap.Push(&m.queue, &entry{due: now, task: tk, check: i})
	}
	m.tasks[t.ID] = tk
	m.mu.Unlock()
	m.poke()
}

// Remove stops checking the task; a probe in flight is discarded.
func (m *Monitor) Remove(id string) {
	m.mu.Lock()
	if tk := m.tasks[id]; tk != nil {
		m.removeLocked(tk)
	}
	m.mu.Unlock()
}

func (m *Monitor) removeLocked(tk *task) {
	tk.removed = true
	delete(m.tasks, tk.ID)
	// Entries of a removed task are dropped when they reach the top of the
	// queue or when their probe returns: no search of the heap.
}

// Len is the number of tasks checked.
func (m *Monitor) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tasks)
}

// Status is the health of task id for each of its checks.
func (m *Monitor) Status(id string) ([]Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tk := m.tasks[id]
	if tk == nil {
		return nil, false
	}
	out := make([]Status, len(tk.trackers))
	for i, tr := range tk.trackers {
		out[i] = Status{
			Check: tr.Check(), State: tr.State(), Alive: tr.Alive(),
			ConsecutiveFailures: tr.ConsecutiveFailures(), LastSuccess: tr.LastSuccess(),
			LastFailure: tr.LastFailure(), LastMessage: tr.LastMessage(),
		}
	}
	return out, true
}

// Run runs due checks until ctx ends, then waits for the probes in flight.
func (m *Monitor) Run(ctx context.Context) error {
	work := make(chan *entry)
	var wg sync.WaitGroup
	for range m.cfg.Workers {
		wg.Go(func() {
			for e := range work {
				m.run(ctx, e)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, next := m.popDue(m.cfg.Now())
		for _, e := range due {
			select {
			case work <- e:
			case <-ctx.Done():
				return nil
			}
		}
		if len(due) > 0 {
			continue // the clock moved while dispatching
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(m.cfg.Now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// Step runs the checks due now (by the Monitor's clock) and waits for them;
// it returns when the next check is due (zero if none). Run does the same
// on its own; Step is for driving a Monitor with a fake clock.
func (m *Monitor) Step(ctx context.Context) time.Time {
	due, _ := m.popDue(m.cfg.Now())
	sem := make(chan struct{}, m.cfg.Workers)
	var wg sync.WaitGroup
	for _, e := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m.run(ctx, e)
		})
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		return time.Time{}
	}
	return m.queue[0].due
}

// popDue takes the entries due at now off the queue, dropping those of
// removed tasks, and returns the due time of the next one left.
func (m *Monitor) popDue(now time.Time) (due []*entry, next time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.queue) > 0 {
		e := m.queue[0]
		if e.task.removed {
			heap.Pop(&m.queue)
			continue
		}
		if e.due.After(now) {
			return due, e.due
		}
		heap.Pop(&m.queue)
		due = append(due, e)
	}
	return due, time.Time{}
}

// run probes one entry, records the result and queues the entry again.
func (m *Monitor) run(ctx context.Context, e *entry) {
	tk := e.task
	c := tk.Checks[e.check]
	res := m.cfg.Probe.Probe(ctx, c, tk.Target)
	if ctx.Err() != nil {
		return // stopping: not a result of the task
	}
	now := m.cfg.Now()
	m.mu.Lock()
	if tk.removed {
		m.mu.Unlock()
		return
	}
	tr := tk.trackers[e.check]
	changed := false
	if !res.Ignore {
		changed = tr.Observe(res.OK, res.Msg, now)
	}
	interval := c.Interval
	if si := m.cfg.StartupInterval; si > 0 && si < interval && tr.LastSuccess().IsZero() && now.Sub(tk.Started) < c.GracePeriod {
		interval = si
	}
	// Fixed rate from the scheduled time; beats missed (slow probe, busy
	// node) are skipped, not caught up.
	e.due = e.due.Add(interval)
	if !e.due.After(now) {
		e.due = now.Add(interval)
	}
	heap.Push(&m.queue, e)
	first := e.index == 0
	var ch Change
	if changed {
		ch = Change{TaskID: tk.ID, Check: e.check, State: tr.State(), Alive: tr.Alive(), Failure: tr.LastFailure(), At: now}
	}
	m.mu.Unlock()
	if first {
		m.poke()
	}
	if changed {
		if !ch.Alive {
			m.log.Info("task failed its health check", "task", ch.TaskID, "reason", ch.Failure.Reason)
		}
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(ch)
		}
	}
}

func (m *Monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// queue is a min-heap of entries by due time.
type queue []*entry

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *queue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}
