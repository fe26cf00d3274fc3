package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
	"corral/internal/scheduler/jobs"
	"corral/internal/store"
)

// compiledJob is a job's parsed schedule, for one version.
type compiledJob struct {
	version int64
	c       jobs.Compiled
}

// jobSpecs returns the applied jobs by id, decoded once per version.
func (c *clusterSvc) jobSpecs() map[string]jobSpec { return c.jobCache.all() }

// planJob maps a job spec to what the cron planner needs.
func planJob(spec api.JobSpec) jobs.Job {
	return jobs.Job{ID: spec.ID, Schedule: spec.Schedule, Timezone: spec.Timezone,
		ConcurrencyPolicy: jobs.ConcurrencyPolicy(spec.ConcurrencyPolicy),
		StartingDeadline:  time.Duration(spec.StartingDeadline), Retries: spec.Retries}
}

func (c *clusterSvc) compiled(spec jobSpec) (jobs.Compiled, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cj, ok := c.compile[spec.Spec.ID]; ok && cj.version == spec.Version {
		return cj.c, nil
	}
	cj, err := jobs.Compile(planJob(spec.Spec))
	if err != nil {
		return jobs.Compiled{}, err
	}
	if c.compile == nil {
		c.compile = map[string]compiledJob{}
	}
	c.compile[spec.Spec.ID] = compiledJob{version: spec.Version, c: cj}
	return cj, nil
}

// activeRuns returns the active runs by job, oldest first.
func (c *clusterSvc) activeRuns() map[string][]api.JobRun {
	vals, _ := c.jobruns.Values()
	out := map[string][]api.JobRun{}
	for _, v := range vals {
		if r, ok := v.(api.JobRun); ok {
			out[r.Job] = append(out[r.Job], r)
		}
	}
	for _, rs := range out {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	}
	return out
}

// newRunID names a run by its due time, unique with a random suffix:
// "20261125T030000-4f2a9c".
func newRunID(at time.Time) string {
	return at.UTC().Format("20060102T150405") + "-" + newTaskSuffix()[:6]
}

// jobPass is one reconcile of the jobs: the placement state shared by every
// job's new attempts and the writes collected.
type jobPass struct {
	s      *Server
	now    time.Time
	state  *scheduler.State
	tasks  map[string]api.Task
	groups [][]store.Op
	done   []api.JobRun // finished runs, for the history store
}

// reconcileJobs starts due runs of cron jobs, places attempts of active
// runs, retries failed ones and records how runs ended.
func (s *Server) reconcileJobs(ctx context.Context, nodes []scheduler.Node, all []api.Task) (time.Time, error) {
	c := s.cluster
	specs := c.jobSpecs()
	runs := c.activeRuns()
	statesRaw, _ := c.jobstate.Values()
	if len(specs) == 0 && len(runs) == 0 && len(statesRaw) == 0 {
		return time.Time{}, nil
	}
	p := &jobPass{s: s, now: s.cfg.Now().UTC(), tasks: map[string]api.Task{}}
	var schedTasks []scheduler.Task
	for _, t := range all {
		if t.Kind == api.TaskKindJob {
			p.tasks[t.ID] = t
		}
		if !api.TaskTerminal(t.State) {
			schedTasks = append(schedTasks, scheduler.Task{ID: t.ID, App: t.App, Node: t.Node, Ports: t.Ports,
				Resources: scheduler.Resources{CPUs: t.CPUs, MemMiB: t.Mem, DiskMiB: t.Disk}})
		}
	}
	st, err := scheduler.NewState(nodes, schedTasks, scheduler.Options{})
	if err != nil {
		return time.Time{}, err
	}
	p.state = st

	ids := map[string]bool{}
	for id := range specs {
		ids[id] = true
	}
	for id := range runs {
		ids[id] = true
	}
	for id := range statesRaw {
		ids[id] = true
	}
	order := make([]string, 0, len(ids))
	for id := range ids {
		order = append(order, id)
	}
	sort.Strings(order)

	var wake time.Time
	for _, id := range order {
		spec, exists := specs[id]
		if !exists {
			for _, r := range runs[id] {
				p.finishRun(r, api.RunKilled, "job removed", nil)
			}
			p.groups = append(p.groups, []store.Op{store.Del(store.JobStateKey(id))})
			continue
		}
		w, err := p.job(spec, runs[id], statesRaw[id])
		if err != nil {
			s.log.Warn("job", "component", "scheduler", "job", id, "err", err)
			continue
		}
		if !w.IsZero() && (wake.IsZero() || w.Before(wake)) {
			wake = w
		}
	}
	p.orphans(runs)
	for _, r := range p.done {
		if err := s.ledger.PutJobRun(ctx, r); err != nil {
			return time.Time{}, err
		}
	}
	if err := s.write(ctx, p.groups); err != nil {
		return time.Time{}, err
	}
	return wake, nil
}

// job reconciles one job and returns when it is due next.
func (p *jobPass) job(spec jobSpec, active []api.JobRun, rawState any) (time.Time, error) {
	st, _ := rawState.(jobState)
	orig := st
	if st.Since.IsZero() || st.Schedule != spec.Spec.Schedule+"|"+spec.Spec.Timezone {
		st.Since, st.Schedule = p.now, spec.Spec.Schedule+"|"+spec.Spec.Timezone
		st.LastScheduled = time.Time{}
	}
	st.Version = spec.Version
	job := planJob(spec.Spec)
	cj, err := p.s.cluster.compiled(spec)
	if err != nil {
		return time.Time{}, err
	}

	// Runs in progress: place attempts, take ended ones.
	var still []api.JobRun
	for _, r := range active {
		if r.Manual && r.Attempts == 0 && r.Task == "" && r.Reason == "" {
			others := planRuns(still)
			d := jobs.Manual(job, jobs.State{Active: others}, p.now)
			if len(d.Start) == 0 {
				p.finishRun(r, api.RunMissed, "skipped: previous run still active (concurrency policy FORBID)", nil)
				continue
			}
			for _, kill := range d.Kill {
				p.killRun(still, kill, "replaced by a manual run (concurrency policy REPLACE)")
			}
		}
		if r, ok := p.advance(spec, job, r); ok {
			still = append(still, r)
		}
	}

	// Due runs of a cron job.
	var wake time.Time
	if spec.Spec.Schedule != "" {
		d := cj.Plan(jobs.State{LastScheduled: st.LastScheduled, Since: st.Since, Active: planRuns(still)}, p.now)
		for _, kill := range d.Kill {
			p.killRun(still, kill, "replaced by the next scheduled run (concurrency policy REPLACE)")
		}
		for _, rec := range d.Records {
			p.done = append(p.done, api.JobRun{ID: newRunID(rec.Scheduled), Job: spec.Spec.ID, Version: spec.Version,
				Scheduled: rec.Scheduled, State: api.RunMissed, Reason: rec.String(), Finished: p.now})
		}
		for _, at := range d.Start {
			r := api.JobRun{ID: newRunID(at), Job: spec.Spec.ID, Version: spec.Version, Scheduled: at, State: api.RunActive}
			if r, ok := p.advance(spec, job, r); ok {
				p.groups = append(p.groups, []store.Op{store.Put(store.JobRunKey(r.ID), r)})
			}
		}
		st.LastScheduled = d.LastScheduled
		wake = d.Wake
	}
	if st != orig {
		p.groups = append(p.groups, []store.Op{store.Put(store.JobStateKey(spec.Spec.ID), st)})
	}
	return wake, nil
}

func planRuns(rs []api.JobRun) []jobs.Run {
	out := make([]jobs.Run, len(rs))
	for i, r := range rs {
		out[i] = jobs.Run{ID: r.ID, Scheduled: r.Scheduled, Started: r.Started, Attempt: r.Attempts}
	}
	return out
}

// advance moves an active run on: it places an attempt when none runs,
// takes an ended attempt (success, retry or failure), and writes the run
// when it changed. It returns the run and whether it is still active.
func (p *jobPass) advance(spec jobSpec, job jobs.Job, r api.JobRun) (api.JobRun, bool) {
	orig := r
	if r.Task != "" {
		t, ok := p.tasks[r.Task]
		switch {
		case !ok:
			// The attempt's record is gone (removed by hand): start again.
			r.Task, r.Node = "", ""
		case !api.TaskTerminal(t.State):
			return p.write(orig, r), true
		default:
			p.groups = append(p.groups, removeTask(t))
			r.ExitCode, r.Reason = t.ExitCode, t.Reason
			switch {
			case t.State == api.TaskFinished:
				p.finishRun(r, api.RunSucceeded, "", &t)
				return r, false
			case t.Desired == api.DesiredKill:
				p.finishRun(r, api.RunKilled, t.KillReason, &t)
				return r, false
			}
			code := 1
			if t.ExitCode != nil && *t.ExitCode > 0 {
				code = *t.ExitCode
			}
			retry, _ := job.OnRunEnded(jobs.Run{ID: r.ID, Attempt: r.Attempts}, code)
			if !retry {
				p.finishRun(r, api.RunFailed, fmt.Sprintf("%s after %d attempt(s)", t.Reason, r.Attempts), &t)
				return r, false
			}
			r.Task, r.Node = "", ""
		}
	}
	if dl := time.Duration(spec.Spec.StartingDeadline); dl > 0 && r.Attempts == 0 && !r.Scheduled.IsZero() && p.now.Sub(r.Scheduled) > dl {
		p.finishRun(r, api.RunMissed, fmt.Sprintf("missed: not started within the starting deadline %s (%s)", dl, r.Reason), nil)
		return r, false
	}
	ports := make([]scheduler.PortRequest, len(spec.Spec.Ports))
	for i, pt := range spec.Spec.Ports {
		ports[i] = scheduler.PortRequest{Name: pt.Name, Port: pt.Port}
	}
	cons, err := scheduler.ParseConstraints(constraintStrings(spec.Spec.Constraints))
	if err != nil {
		r.Reason = err.Error()
		return p.write(orig, r), true
	}
	plan, err := scheduler.Place(p.state, scheduler.AppSpec{ID: spec.Spec.ID, Instances: 1, Ports: ports, Constraints: cons,
		Resources: scheduler.Resources{CPUs: spec.Spec.CPUs, MemMiB: spec.Spec.Mem, DiskMiB: spec.Spec.Disk}}, 1)
	if err != nil || len(plan.Placements) == 0 {
		if err != nil {
			r.Reason = err.Error()
		} else {
			r.Reason = "cannot be placed: " + plan.Explain()
		}
		return p.write(orig, r), true
	}
	pl := plan.Placements[0]
	t := api.Task{ID: api.TaskID(spec.Spec.ID, newTaskSuffix()), Kind: api.TaskKindJob, App: spec.Spec.ID, Version: spec.Version,
		Run: r.ID, Node: pl.Node, Ports: pl.Ports, CPUs: spec.Spec.CPUs, Mem: spec.Spec.Mem, Disk: spec.Spec.Disk,
		Desired: api.DesiredRun, State: api.TaskStaging, StagedAt: p.now}
	p.groups = append(p.groups, []store.Op{
		store.Put(store.TaskKey(t.ID), t),
		store.Put(store.TaskAssignKey(t.Node, t.ID), assignment(t, spec.Spec.RunSpec, nil)),
	})
	p.s.cluster.placed.Add(1)
	r.Task, r.Node, r.Reason = t.ID, t.Node, ""
	r.Tasks = append(r.Tasks, t.ID)
	r.Attempts++
	if r.Started.IsZero() {
		r.Started = p.now
	}
	return p.write(orig, r), true
}

// write queues r when it changed.
func (p *jobPass) write(orig, r api.JobRun) api.JobRun {
	if !sameRun(orig, r) {
		p.groups = append(p.groups, []store.Op{store.Put(store.JobRunKey(r.ID), r)})
	}
	return r
}

func sameRun(a, b api.JobRun) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// killRun asks the attempt of an active run to stop; the run ends as
// killed once its task has.
func (p *jobPass) killRun(active []api.JobRun, runID, reason string) {
	for _, r := range active {
		if r.ID != runID || r.Task == "" {
			continue
		}
		if t, ok := p.tasks[r.Task]; ok && t.Desired != api.DesiredKill {
			groups := p.s.killOps([]killTask{{TaskID: t.ID, Reason: reason}}, p.tasks, p.now)
			p.groups = append(p.groups, groups...)
		}
	}
}

// finishRun records how a run ended and removes it (and its attempt's
// task) from etcd.
func (p *jobPass) finishRun(r api.JobRun, state, reason string, t *api.Task) {
	r.State, r.Finished = state, p.now
	if reason != "" || state != api.RunSucceeded {
		r.Reason = reason
	}
	if t != nil {
		r.ExitCode = t.ExitCode
		if !t.FinishedAt.IsZero() {
			r.Finished = t.FinishedAt
		}
		if !t.StartedAt.IsZero() {
			r.Started = t.StartedAt
		}
	}
	if !r.Started.IsZero() && r.Finished.After(r.Started) {
		r.Duration = r.Finished.Sub(r.Started).Seconds()
	}
	p.done = append(p.done, r)
	p.groups = append(p.groups, []store.Op{store.Del(store.JobRunKey(r.ID))})
	if t == nil && r.Task != "" {
		if tt, ok := p.tasks[r.Task]; ok && !api.TaskTerminal(tt.State) {
			// The task record stays for its agent to report on; once ended
			// it is removed as an orphan.
			p.groups = append(p.groups, p.s.killOps([]killTask{{TaskID: tt.ID, Reason: reason}}, p.tasks, p.now)...)
		}
	}
}

// orphans removes ended job tasks whose run is no longer active.
func (p *jobPass) orphans(active map[string][]api.JobRun) {
	live := map[string]bool{}
	for _, rs := range active {
		for _, r := range rs {
			live[r.ID] = true
		}
	}
	for _, t := range p.tasks {
		if !live[t.Run] && api.TaskTerminal(t.State) {
			p.groups = append(p.groups, removeTask(t))
		}
	}
}

// constraintStrings turns API constraints into the lists placement parses.
func constraintStrings(cs []api.Constraint) [][]string {
	out := make([][]string, len(cs))
	for i, c := range cs {
		out[i] = []string(c)
	}
	return out
}
