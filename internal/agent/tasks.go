package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/exec"
	"corral/internal/driver/health"
)

// The task runner starts, watches, health-checks and stops the tasks the
// server assigns to the node (assignment keys "task/<id>", an
// api.TaskAssignment each), and reports every change of their state as a
// "task" report and their output as "log" reports.
//
//	assignment run ─▶ record.json ─▶ starting ─▶ Start ─▶ running ─▶ healthy ⇄ unhealthy
//	                      │              └─ error ─▶ failed          │
//	kill / key deleted / health ─────────────────────────────▶ killing ─▶ killed (health: failed)
//	the task ends by itself ───────────────────────────────────────────▶ finished / failed / lost
//
// A task is started at most once on a node: its record is written before
// the start, and a task with a record is never started again, also after an
// agent restart. The agent never restarts a task; the server replaces ended
// tasks with new ones. Tasks outlive the agent: a new runner loads the
// records, finds the tasks through their driver handles, re-reports them
// (running, or how they ended meanwhile) and goes on watching them. Tasks a
// driver runs that have no record ("strays") are adopted when assigned and
// stopped otherwise, once the assignments are known (synced).
//
// An ended task is destroyed in its driver at once; its directory (record,
// sandbox with its output) stays until its assignment is deleted, or its
// sandbox until taskSandboxTTL passed.

// taskSandboxTTL is how long the sandbox of an ended task is kept while its
// assignment stays.
const taskSandboxTTL = 24 * time.Hour

// taskOutputWait bounds how long the end of a task waits for the rest of
// its output to be spooled before it is reported.
const taskOutputWait = 30 * time.Second

// taskRunnerConfig configures a taskRunner.
type taskRunnerConfig struct {
	Dir     string // the task directories: <data>/tasks
	Node    string
	Drivers *taskDrivers
	// Report queues a report for the server (Agent.Report).
	Report func(typ string, data any) error
	Probe  health.Probe // nil: a health.Prober
	Logger *slog.Logger
	Now    func() time.Time
}

// taskRunner runs the node's tasks; apply gives it the assignments.
type taskRunner struct {
	cfg     taskRunnerConfig
	log     *slog.Logger
	monitor *health.Monitor
	logs    *logBatcher
	wg      sync.WaitGroup

	mu       sync.Mutex
	ctx      context.Context
	tasks    map[string]*runTask
	broken   map[string]bool               // task dirs with an unreadable record: never started
	strays   map[string]strayTask          // found by Recover without a record
	assigned map[string]api.TaskAssignment // as of the last apply
	synced   bool
}

type strayTask struct {
	drv driver.Driver
	h   driver.Handle
}

// runTask is one task on the node. Its fields are guarded by mu, which is
// also held while a report of the task is queued, so its reports keep
// their order.
type runTask struct {
	id  string
	dir string

	mu     sync.Mutex
	rec    taskRecord
	drv    driver.Driver
	status api.TaskStatus // the last reported
	spec   driver.Spec
	// health of a running task: per check, its state and first success.
	hstates      []health.State
	firstSuccess []time.Time
	startCancel  context.CancelFunc // cancels a Start in flight
	stopping     bool               // a Stop was sent
	ended        chan struct{}      // closed when the task ended: the log tail reads to the end
	done         chan struct{}      // closed when the runner is done with the task
}

func newTaskRunner(cfg taskRunnerConfig) *taskRunner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &taskRunner{cfg: cfg, log: cfg.Logger.With("component", "tasks"),
		tasks: map[string]*runTask{}, broken: map[string]bool{}, strays: map[string]strayTask{}}
	probe := cfg.Probe
	if probe == nil {
		p := health.NewProber()
		probe = p
	}
	r.monitor = health.NewMonitor(health.MonitorConfig{Probe: probe, Now: cfg.Now, Logger: cfg.Logger, OnChange: r.healthChanged})
	r.logs = newLogBatcher(cfg.Report, r.log)
	return r
}

// start loads the task records, finds the tasks of the drivers, and starts
// watching them (and the health monitor and log batcher) until ctx ends;
// wait waits for all of it after that.
func (r *taskRunner) start(ctx context.Context) error {
	if err := os.MkdirAll(r.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("tasks dir: %w", err)
	}
	recs, bad, err := loadTaskRecords(r.cfg.Dir)
	if err != nil {
		return err
	}
	for id, err := range bad {
		r.log.Warn("unreadable task record: the task is left alone", "task", id, "err", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
	for id := range bad {
		r.broken[id] = true
	}
	for _, s := range r.cfg.Drivers.recover(ctx, r.log) {
		id := s.h.TaskID
		switch rec := recs[id]; {
		case r.broken[id]:
		case rec == nil:
			r.strays[id] = s
		case rec.Handle == nil && rec.Final == nil:
			// The agent stopped after the start and before it saved the
			// handle: this is the task.
			h := s.h
			rec.Handle = &h
		}
	}
	r.wg.Go(func() { r.monitor.Run(ctx) })
	r.wg.Go(func() { r.logs.run(ctx) })
	for id, rec := range recs {
		t := r.newTask(id, *rec)
		r.tasks[id] = t
		r.wg.Go(func() { r.lifecycle(t, false) })
	}
	if len(recs) > 0 {
		r.log.Info("tasks found again", "n", len(recs))
	}
	return nil
}

// wait returns once every goroutine of the runner ended (after ctx ended).
func (r *taskRunner) wait() { r.wg.Wait() }

func (r *taskRunner) newTask(id string, rec taskRecord) *runTask {
	return &runTask{id: id, dir: filepath.Join(r.cfg.Dir, id), rec: rec,
		ended: make(chan struct{}), done: make(chan struct{})}
}

// apply brings the tasks in line with the node's task assignments (by task
// id): new ones with Desired "run" are started, those with Desired "kill"
// stopped; once synced (the assignments are complete), tasks without an
// assignment are stopped, ended ones removed, and the strays settled.
func (r *taskRunner) apply(assignments map[string]api.TaskAssignment, synced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil || r.ctx.Err() != nil {
		return
	}
	r.assigned, r.synced = assignments, synced
	for id, as := range assignments {
		if t := r.tasks[id]; t != nil {
			if as.Desired == api.DesiredKill {
				r.kill(t, killReasonOf(as), false)
			}
			continue
		}
		if as.Desired != api.DesiredRun && as.Desired != api.DesiredKill || r.broken[id] {
			continue
		}
		if s, ok := r.strays[id]; ok {
			// Started by an earlier agent that lost its record: adopt it.
			delete(r.strays, id)
			r.adopt(as, s)
			continue
		}
		rec := taskRecord{Assignment: as}
		if as.Desired == api.DesiredKill {
			rec.KillReason = killReasonOf(as) // never started: reported killed
		}
		t := r.newTask(id, rec)
		if err := r.save(t); err != nil {
			// Without a record it could be started twice: not now.
			r.log.Error("cannot record the task; not starting it", "task", id, "err", err)
			continue
		}
		r.tasks[id] = t
		r.wg.Go(func() { r.lifecycle(t, true) })
	}
	if !synced {
		return
	}
	for id, t := range r.tasks {
		if _, ok := assignments[id]; ok {
			r.sweepSandbox(t)
			continue
		}
		select {
		case <-t.done:
			if t.reported() {
				r.remove(t)
			}
		default:
			r.kill(t, reasonUnassigned, false)
		}
	}
	for id, s := range r.strays {
		delete(r.strays, id)
		r.log.Info("stopping a task this agent has no record of", "task", id, "driver", s.drv.Name())
		r.wg.Go(func() { r.stopStray(s) })
	}
}

func killReasonOf(as api.TaskAssignment) string {
	if as.KillReason != "" {
		return as.KillReason
	}
	return reasonKilled
}

// adopt records a stray task that is assigned and watches it. r.mu is held.
func (r *taskRunner) adopt(as api.TaskAssignment, s strayTask) {
	h := s.h
	t := r.newTask(as.ID, taskRecord{Assignment: as, Handle: &h})
	if as.Desired == api.DesiredKill {
		t.rec.KillReason = killReasonOf(as)
	}
	if err := r.save(t); err != nil {
		r.log.Error("cannot record an adopted task", "task", as.ID, "err", err)
	}
	r.tasks[as.ID] = t
	r.log.Info("adopted a running task this agent had no record of", "task", as.ID)
	r.wg.Go(func() { r.lifecycle(t, false) })
}

// stopStray stops and destroys a task that no record or assignment claims.
func (r *taskRunner) stopStray(s strayTask) {
	ctx := r.ctx
	if err := s.drv.Stop(ctx, s.h, defaultKillGrace); err != nil && ctx.Err() == nil {
		r.log.Warn("stop a stray task", "task", s.h.TaskID, "err", err)
		return
	}
	st, _ := s.drv.Inspect(ctx, s.h)
	if err := s.drv.Destroy(ctx, s.h); err != nil && ctx.Err() == nil {
		r.log.Warn("destroy a stray task", "task", s.h.TaskID, "err", err)
	}
	r.sendStatus(api.TaskStatus{ID: s.h.TaskID, State: api.TaskKilled, Reason: reasonUnassigned,
		StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, PID: st.PID})
}

// remove forgets an ended, unassigned task and deletes its directory.
// r.mu is held.
func (r *taskRunner) remove(t *runTask) {
	if r.tasks[t.id] == t {
		delete(r.tasks, t.id)
	}
	if err := os.RemoveAll(t.dir); err != nil {
		r.log.Warn("remove task dir", "task", t.id, "err", err)
	}
}

// sweepSandbox removes the sandbox of a task that ended long ago while its
// assignment stays. r.mu is held.
func (r *taskRunner) sweepSandbox(t *runTask) {
	select {
	case <-t.done:
	default:
		return
	}
	t.mu.Lock()
	old := t.rec.Final != nil && r.cfg.Now().Sub(t.rec.Final.Time) > taskSandboxTTL
	t.mu.Unlock()
	if old {
		os.RemoveAll(filepath.Join(t.dir, taskSandboxDir))
	}
}

// kill asks task t to stop for reason; healthKill reports it failed. The
// first reason wins. r.mu may be held.
func (r *taskRunner) kill(t *runTask, reason string, healthKill bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rec.Final != nil || t.rec.KillReason != "" || healthKill && len(t.hstates) == 0 {
		return
	}
	t.rec.KillReason, t.rec.HealthKill = reason, healthKill
	if err := r.saveLocked(t); err != nil {
		r.log.Warn("record the kill of a task", "task", t.id, "err", err)
	}
	if t.startCancel != nil {
		t.startCancel() // the lifecycle reports it killed
		return
	}
	if api.TaskAlive(t.status.State) {
		r.stopLocked(t) // else watch stops it once it runs
	}
}

// stopLocked reports the task killing and stops it in the background; the
// lifecycle's Wait sees it end. t.mu is held.
func (r *taskRunner) stopLocked(t *runTask) {
	if t.stopping || t.drv == nil || t.rec.Handle == nil {
		return
	}
	t.stopping = true
	r.reportLocked(t, api.TaskKilling, "")
	drv, h, grace := t.drv, *t.rec.Handle, killGrace(t.rec.Assignment.Run)
	r.wg.Go(func() {
		ctx := r.ctx
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			err := drv.Stop(ctx, h, grace)
			if err == nil || ctx.Err() != nil {
				return
			}
			r.log.Warn("stop task; retrying", "task", h.TaskID, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-t.ended:
				return
			case <-time.After(wait):
			}
		}
	})
}

// save writes t's record.
func (r *taskRunner) save(t *runTask) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return r.saveLocked(t)
}

func (r *taskRunner) saveLocked(t *runTask) error {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(t.rec)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(t.dir, taskRecordFile), b, 0o600)
}

// reportLocked reports the task in state (with the last status's PID,
// times and health). t.mu is held.
func (r *taskRunner) reportLocked(t *runTask, state, reason string) {
	st := t.status
	st.State, st.Reason = state, reason
	t.status = st
	r.sendStatus(st)
}

// sendStatus queues one task status.
func (r *taskRunner) sendStatus(st api.TaskStatus) {
	st.Node, st.Time = r.cfg.Node, r.cfg.Now()
	if err := r.cfg.Report("task", []api.TaskStatus{st}); err != nil {
		r.log.Warn("task status not spooled", "task", st.ID, "state", st.State, "err", err)
	}
}

// lifecycle starts (fresh) or finds again a task, watches it until it
// ends, reports how it ended, and has the driver release it. It returns
// early when the runner's ctx ends (the task keeps running).
func (r *taskRunner) lifecycle(t *runTask, fresh bool) {
	defer func() {
		close(t.done) // before endOf: apply or endOf removes it, not neither
		r.endOf(t)
	}()
	ctx := r.ctx
	t.mu.Lock()
	t.status = api.TaskStatus{ID: t.id, App: t.rec.Assignment.App}
	if f := t.rec.Final; f != nil {
		t.status = *f
	}
	rec := t.rec
	t.mu.Unlock()
	as := rec.Assignment
	t.spec = taskSpec(as, r.cfg.Node, filepath.Join(t.dir, taskSandboxDir))

	if rec.Final != nil { // ended and reported earlier
		if rec.Handle != nil && !rec.Destroyed {
			if drv, err := r.cfg.Drivers.get(ctx, rec.Handle.Driver); err == nil {
				r.destroy(ctx, t, drv)
			}
		}
		return
	}
	if rec.Handle == nil && !fresh {
		// The agent stopped between the record and the start, or the
		// driver lost the task since.
		state, reason := api.TaskFailed, reasonInterrupted
		if rec.KillReason != "" {
			state, reason = api.TaskKilled, rec.KillReason
		}
		r.finish(ctx, t, driver.Status{}, state, reason)
		return
	}
	if !fresh {
		if err := r.save(t); err != nil { // the handle start found
			r.log.Warn("record a task's handle", "task", t.id, "err", err)
		}
	}
	started := false
	if t.rec.Handle == nil {
		if !r.startTask(ctx, t) {
			return
		}
		started = true
	}
	r.watch(ctx, t, started)
}

// startTask starts a new task; false when it did not start (reported) or
// the runner is stopping.
func (r *taskRunner) startTask(ctx context.Context, t *runTask) bool {
	as := t.rec.Assignment
	t.mu.Lock()
	if t.rec.KillReason != "" {
		t.mu.Unlock()
		r.finish(ctx, t, driver.Status{}, api.TaskKilled, t.rec.KillReason)
		return false
	}
	r.reportLocked(t, api.TaskStarting, "")
	sctx, cancel := context.WithCancel(ctx)
	t.startCancel = cancel
	t.mu.Unlock()
	defer cancel()

	drv, err := r.cfg.Drivers.get(sctx, driverName(as.Run))
	var h driver.Handle
	if err == nil {
		err = os.MkdirAll(t.spec.Sandbox, 0o755)
	}
	if err == nil {
		h, err = drv.Start(sctx, t.spec)
	}
	t.mu.Lock()
	t.startCancel = nil
	killed := t.rec.KillReason
	if err == nil {
		t.drv, t.rec.Handle = drv, &h
		if serr := r.saveLocked(t); serr != nil {
			r.log.Error("record a task's handle", "task", t.id, "err", serr)
		}
	}
	t.mu.Unlock()
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		return false // stopping; the restarted agent reports it
	case killed != "":
		r.finish(ctx, t, driver.Status{}, api.TaskKilled, killed)
	default:
		r.finish(ctx, t, driver.Status{}, api.TaskFailed, startFailure(err))
	}
	return false
}

// watch follows a started task: reports it running, runs its health
// checks and output, stops it when asked, and waits for its end. A task
// just started is reported running even if it ended already (it ran); one
// found again only if it still runs.
func (r *taskRunner) watch(ctx context.Context, t *runTask, started bool) {
	t.mu.Lock()
	h := *t.rec.Handle
	t.mu.Unlock()
	drv, err := r.cfg.Drivers.get(ctx, h.Driver)
	for wait := time.Second; err != nil; wait = min(2*wait, time.Minute) {
		r.log.Warn("driver of a task not available; retrying", "task", t.id, "err", err)
		if !sleep(ctx, wait) {
			return
		}
		drv, err = r.cfg.Drivers.get(ctx, h.Driver)
	}
	st, err := drv.Inspect(ctx, h)
	if err != nil {
		st.State = driver.StateRunning // Wait tells
	}
	t.mu.Lock()
	t.drv = drv
	t.status.PID, t.status.StartedAt = st.PID, st.StartedAt
	running := st.State == driver.StateRunning
	if running || started {
		r.reportLocked(t, api.TaskRunning, "")
	}
	if running && t.rec.KillReason != "" {
		r.stopLocked(t)
	}
	t.mu.Unlock()

	tailDone := make(chan struct{})
	tail := &logTail{task: t.id, app: t.rec.Assignment.App, node: r.cfg.Node, dir: t.dir,
		batcher: r.logs, now: r.cfg.Now, log: r.log}
	r.wg.Go(func() {
		defer close(tailDone)
		if drv.Name() == exec.Name {
			tail.followFiles(ctx, t.spec.Sandbox, t.ended)
		} else if lg, ok := drv.(driver.Logger); ok {
			tail.followStream(ctx, lg, h)
		}
	})
	if running {
		r.startHealth(t, st)
		st = r.waitEnd(ctx, drv, h)
		r.monitor.Remove(t.id)
		t.mu.Lock()
		t.hstates = nil // the task ended: its health no longer matters
		t.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
	close(t.ended)
	select { // the output first, then the end (unless it takes long)
	case <-tailDone:
	case <-time.After(taskOutputWait):
		r.log.Warn("task output still being read; reporting its end", "task", t.id)
	case <-ctx.Done():
		return
	}
	t.mu.Lock()
	state, reason := terminalState(st, t.rec.KillReason, t.rec.HealthKill)
	t.mu.Unlock()
	r.finish(ctx, t, st, state, reason)
}

// waitEnd waits for the task's end, riding out driver errors.
func (r *taskRunner) waitEnd(ctx context.Context, drv driver.Driver, h driver.Handle) driver.Status {
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 30*time.Second) {
		st, err := drv.Wait(ctx, h)
		if err == nil || ctx.Err() != nil {
			return st
		}
		r.log.Warn("wait for task; retrying", "task", h.TaskID, "err", err)
		if !sleep(ctx, wait) {
			return st
		}
		if st, err := drv.Inspect(ctx, h); err == nil && st.State != driver.StateRunning {
			return st
		}
	}
}

// startHealth adds a running task with health checks to the monitor.
func (r *taskRunner) startHealth(t *runTask, st driver.Status) {
	checks := healthChecks(t.rec.Assignment.HealthChecks)
	if len(checks) == 0 {
		return
	}
	started := st.StartedAt
	if started.IsZero() {
		started = r.cfg.Now()
	}
	t.mu.Lock()
	t.hstates = make([]health.State, len(checks))
	t.firstSuccess = make([]time.Time, len(checks))
	t.mu.Unlock()
	r.monitor.Add(health.Task{ID: t.id, Started: started, Checks: checks, Target: health.Target{
		Ports: t.rec.Assignment.Ports, Env: exec.TaskEnv(t.spec), Dir: t.spec.Sandbox,
	}})
}

// healthChanged is the monitor's OnChange: it reports the task healthy or
// unhealthy with the health of each check, and kills it when a check says
// it is no longer alive.
func (r *taskRunner) healthChanged(c health.Change) {
	r.mu.Lock()
	t := r.tasks[c.TaskID]
	r.mu.Unlock()
	if t == nil {
		return
	}
	sts, ok := r.monitor.Status(c.TaskID)
	if !ok {
		return
	}
	t.mu.Lock()
	if t.rec.Final != nil || t.rec.KillReason != "" || len(t.hstates) != len(sts) {
		t.mu.Unlock()
		return
	}
	hs := make([]api.TaskHealth, len(sts))
	for i, s := range sts {
		t.hstates[i] = s.State
		if !s.LastSuccess.IsZero() && t.firstSuccess[i].IsZero() {
			t.firstSuccess[i] = s.LastSuccess
		}
		hs[i] = api.TaskHealth{Alive: s.State == health.Healthy, ConsecutiveFailures: s.ConsecutiveFailures,
			FirstSuccess: t.firstSuccess[i], LastSuccess: s.LastSuccess,
			LastFailure: s.LastFailure.At, LastFailureCause: s.LastFailure.Message}
	}
	t.status.Health = hs
	if !c.Alive {
		t.mu.Unlock()
		r.monitor.Remove(c.TaskID)
		r.kill(t, c.Failure.Reason, true)
		return
	}
	r.reportLocked(t, aliveState(t.hstates), "")
	t.mu.Unlock()
}

// finish reports the task's end, records it, and has the driver release
// the task.
func (r *taskRunner) finish(ctx context.Context, t *runTask, st driver.Status, state, reason string) {
	t.mu.Lock()
	s := t.status
	s.State, s.Reason = state, reason
	if st.StartedAt.IsZero() {
		st.StartedAt = s.StartedAt
	}
	s.StartedAt, s.FinishedAt = st.StartedAt, st.FinishedAt
	if s.FinishedAt.IsZero() {
		s.FinishedAt = r.cfg.Now()
	}
	if st.PID != 0 {
		s.PID = st.PID
	}
	if t.rec.Handle != nil && st.State == driver.StateExited {
		code := st.ExitCode
		s.ExitCode, s.Signal, s.OOM = &code, st.Signal, st.OOM
	}
	r.sendStatus(s)
	t.status = s
	s.Time = r.cfg.Now()
	t.rec.Final = &s
	if err := r.saveLocked(t); err != nil {
		r.log.Warn("record the end of a task", "task", t.id, "err", err)
	}
	drv := t.drv
	t.mu.Unlock()
	r.log.Info("task ended", "task", t.id, "app", t.rec.Assignment.App, "state", state, "reason", reason)
	if drv != nil && t.rec.Handle != nil {
		r.destroy(ctx, t, drv)
	}
}

// destroy has the driver release an ended task, and records that.
func (r *taskRunner) destroy(ctx context.Context, t *runTask, drv driver.Driver) {
	t.mu.Lock()
	h := *t.rec.Handle
	t.mu.Unlock()
	if err := drv.Destroy(ctx, h); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("destroy an ended task", "task", t.id, "err", err)
		}
		return
	}
	t.mu.Lock()
	t.rec.Destroyed = true
	if err := r.saveLocked(t); err != nil {
		r.log.Warn("record a destroyed task", "task", t.id, "err", err)
	}
	t.mu.Unlock()
}

// endOf removes an ended task whose assignment is gone already.
func (r *taskRunner) endOf(t *runTask) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.assigned[t.id]; r.synced && !ok && t.reported() {
		r.remove(t)
	}
}

// reported says whether the task's end is reported.
func (t *runTask) reported() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rec.Final != nil
}

// errNoDriver is the reason of a task whose driver the node does not have.
var errNoDriver = errors.New("no such driver on this node")
