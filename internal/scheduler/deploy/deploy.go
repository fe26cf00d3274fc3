package deploy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

// KeepFailed is how many ended records of failed and lost tasks are kept
// per app (the newest), so `corral app show` can say why instances fail.
const KeepFailed = 3

// ReasonRemoved is the kill reason of tasks whose app was removed.
const ReasonRemoved = "app removed"

// HealthKillPrefix starts the kill reason of every task killed for failing
// its health checks; a killed task with such a reason counts as a failure.
const HealthKillPrefix = "health check "

// App is an app as the reconciler needs it.
type App struct {
	Spec    api.AppSpec // with Defaults applied
	Version int64
	// Config identifies what the app's tasks must run: tasks with another
	// Task.Config are replaced. A restart or a rollback is a new Config.
	Config  string
	Deleted bool // the app was removed: every task is killed
	// Versions holds the specs of earlier versions tasks still run, by
	// version, for their resources and health checks; tasks of versions
	// missing here are judged by Spec.
	Versions map[int64]api.AppSpec
}

// Backoff is an app's crash backoff, carried by the caller from one call to
// the next (Output.Backoff becomes the next Input.Backoff).
type Backoff struct {
	Failures int
	Until    time.Time // no task of the app is placed before
	Since    time.Time // when the last failure was counted
	Last     string    // the last failure in words: "exit code 1"
	Config   string    // the app config the failures are of
	Counted  []string  // ids of ended task records already counted, sorted
}

// Input is everything a reconcile pass looks at.
type Input struct {
	Now  time.Time
	Apps []App
	// Tasks are the records of app tasks (Kind app), in any state; job
	// tasks are ignored.
	Tasks []api.Task
	// Nodes are all nodes: Down when the lease expired, Drained when
	// drained.
	Nodes   []scheduler.Node
	Backoff map[string]Backoff // by app id
	// NewID returns a new task id for an app (the caller supplies the
	// randomness, for example api.TaskID(app, random suffix)).
	NewID func(app string) string
	// Seed fixes the order placement visits nodes in.
	Seed uint64
}

// Start is a task to store and assign: it has ID, Kind app, App, Version,
// Config, Node, Ports, CPUs, Mem, Disk, Desired run, State staging and
// StagedAt Now.
type Start struct {
	Task api.Task
}

// Kill asks to stop a task: the caller sets Desired kill and KillReason.
type Kill struct {
	TaskID string
	Reason string
}

// AppReport is the state of one app after the call's actions.
type AppReport struct {
	Target  int // instances
	New     int // alive tasks of the target config on nodes not drained
	Healthy int // of those, ready
	Old     int // tasks of other configs or on drained nodes, not ended
	// Done: New == Target, all ready, no other task of the app not ended.
	Done bool
	// Waiting says why the app is not done, in words.
	Waiting string
}

// Output is what the caller carries out.
type Output struct {
	Start []Start
	Kill  []Kill
	// Lost are tasks not ended on down or unknown nodes: the caller marks
	// them lost ("node X is down") and removes their assignment.
	Lost []string
	// Remove are ended task records the caller may delete.
	Remove  []string
	Backoff map[string]Backoff // the new backoff state, by app id
	Apps    map[string]AppReport
	// Wake is the earliest time a backoff ends (zero: none): call again then.
	Wake time.Time
}

// Reconcile decides one pass for every app. It fails only when the nodes
// or tasks cannot form a placement state (a node or task id listed twice)
// or NewID is missing; a bad app spec is reported in its AppReport.Waiting.
func Reconcile(in Input) (Output, error) {
	return reconcile(in, nil)
}

// ReconcileApps is Reconcile for the given apps only, for a caller that
// knows which apps changed: placement still accounts for every task, but
// only the given apps' tasks are looked at, killed, reported lost or
// removed, and only they get an AppReport; every other app's backoff is
// passed on unchanged and tasks of unknown apps are left alone. Ids not in
// in.Apps are ignored. A caller still runs Reconcile when nodes change.
func ReconcileApps(in Input, appIDs []string) (Output, error) {
	only := make(map[string]bool, len(appIDs))
	for _, id := range appIDs {
		only[id] = true
	}
	return reconcile(in, only)
}

func reconcile(in Input, only map[string]bool) (Output, error) {
	if in.NewID == nil {
		return Output{}, errors.New("reconcile: NewID is required")
	}
	r := newRun(in, only)
	for _, id := range r.order {
		if err := r.reconcileApp(r.apps[id]); err != nil {
			return Output{}, err
		}
	}
	for _, id := range r.orphans {
		r.removeOrphan(id)
	}
	r.finish()
	return r.out, nil
}

// run is one Reconcile call.
type run struct {
	in      Input
	out     Output
	nodes   map[string]*scheduler.Node
	apps    map[string]*appRun
	order   []string         // ids of the apps to reconcile, sorted
	orphans []string         // app ids of tasks without an app, sorted
	orphan  map[string][]ref // their tasks
	st      *scheduler.State // built on first use
	stErr   error
	last    *appRun // the app of the previous task schedTask looked at
}

// ref is a task record with where its node stands.
type ref struct {
	*api.Task
	lost    bool // not ended, on a down or unknown node
	drained bool // on a drained node
}

func newRun(in Input, only map[string]bool) *run {
	r := &run{
		in:     in,
		nodes:  make(map[string]*scheduler.Node, len(in.Nodes)),
		apps:   make(map[string]*appRun, len(in.Apps)),
		orphan: map[string][]ref{},
		out: Output{
			Backoff: map[string]Backoff{},
			Apps:    make(map[string]AppReport, len(in.Apps)),
		},
	}
	for i := range in.Nodes {
		r.nodes[in.Nodes[i].Name] = &in.Nodes[i]
	}
	for i := range in.Apps {
		a := &in.Apps[i]
		ar := &appRun{app: a}
		r.apps[a.Spec.ID] = ar
		if only == nil || only[a.Spec.ID] {
			ar.selected = true
			r.order = append(r.order, a.Spec.ID)
		} else if b, ok := in.Backoff[a.Spec.ID]; ok {
			r.out.Backoff[a.Spec.ID] = b
		}
	}
	slices.Sort(r.order)
	for _, id := range r.order {
		// Dependencies are looked at for their ready tasks.
		for _, dep := range r.apps[id].app.Spec.DependsOn {
			if d := r.apps[dep]; d != nil {
				d.needed = true
			}
		}
	}
	var last *appRun // tasks sorted by id come grouped by app
	for i := range in.Tasks {
		t := &in.Tasks[i]
		if t.Kind != "" && t.Kind != api.TaskKindApp {
			continue
		}
		a := last
		if a == nil || a.app.Spec.ID != t.App {
			a = r.apps[t.App]
			last = a
		}
		if a == nil && only != nil || a != nil && !a.selected && !a.needed {
			continue
		}
		rf := ref{Task: t}
		if !api.TaskTerminal(t.State) {
			n := r.nodes[t.Node]
			rf.lost = n == nil || n.Down
			rf.drained = n != nil && n.Drained
			if rf.lost && (a == nil || a.selected) {
				r.out.Lost = append(r.out.Lost, t.ID)
			}
		}
		if a != nil {
			a.tasks = append(a.tasks, rf)
			continue
		}
		if r.orphan[t.App] == nil {
			r.orphans = append(r.orphans, t.App)
		}
		r.orphan[t.App] = append(r.orphan[t.App], rf)
	}
	slices.Sort(r.orphans)
	slices.Sort(r.out.Lost)
	for _, id := range r.order {
		r.classify(r.apps[id])
	}
	return r
}

// lostNode reports whether tasks on the node are lost: it is down or not
// known.
func (r *run) lostNode(name string) bool {
	n := r.nodes[name]
	return n == nil || n.Down
}

func (r *run) drained(name string) bool {
	n := r.nodes[name]
	return n != nil && n.Drained
}

// state returns the placement state, built from the nodes and every task
// that is not ended and not lost.
func (r *run) state() (*scheduler.State, error) {
	if r.st != nil || r.stErr != nil {
		return r.st, r.stErr
	}
	tasks := make([]scheduler.Task, 0, len(r.in.Tasks))
	for i := range r.in.Tasks {
		t := &r.in.Tasks[i]
		if t.Kind != "" && t.Kind != api.TaskKindApp || api.TaskTerminal(t.State) || r.lostNode(t.Node) {
			continue
		}
		tasks = append(tasks, r.schedTask(t))
	}
	r.st, r.stErr = scheduler.NewState(r.in.Nodes, tasks, scheduler.Options{Seed: r.in.Seed})
	if r.stErr != nil {
		r.stErr = fmt.Errorf("reconcile: placement state: %w", r.stErr)
	}
	return r.st, r.stErr
}

// schedTask converts a task for placement, with the resources it was
// placed with or, for records without them, its version's spec (none for a
// task without an app).
func (r *run) schedTask(t *api.Task) scheduler.Task {
	st := scheduler.Task{ID: t.ID, App: t.App, Node: t.Node, Ports: t.Ports, Started: t.StartedAt}
	var spec *api.AppSpec
	a := r.last
	if a == nil || a.app.Spec.ID != t.App {
		a = r.apps[t.App]
		r.last = a
	}
	if a != nil {
		spec = a.app.specOf(t.Version)
	}
	switch t.State {
	case api.TaskStaging, api.TaskStarting:
		st.Status = scheduler.TaskStaging
	case api.TaskRunning:
		if spec != nil && len(spec.HealthChecks) > 0 {
			// Not known healthy yet: scale down takes it before ready ones.
			st.Status = scheduler.TaskStaging
		}
	case api.TaskUnhealthy:
		st.Status = scheduler.TaskUnhealthy
	}
	switch {
	case t.CPUs != 0 || t.Mem != 0 || t.Disk != 0:
		st.Resources = scheduler.Resources{CPUs: t.CPUs, MemMiB: t.Mem, DiskMiB: t.Disk}
	case spec != nil:
		st.Resources = scheduler.Resources{CPUs: spec.CPUs, MemMiB: spec.Mem, DiskMiB: spec.Disk}
	}
	return st
}

// specOf returns the spec tasks of a version run.
func (a *App) specOf(version int64) *api.AppSpec {
	if version != a.Version {
		if s, ok := a.Versions[version]; ok {
			return &s
		}
	}
	return &a.Spec
}

// placementSpec converts an app's spec for placement.
func placementSpec(s *api.AppSpec) (scheduler.AppSpec, error) {
	raw := make([][]string, len(s.Constraints))
	for i, c := range s.Constraints {
		raw[i] = c
	}
	cs, err := scheduler.ParseConstraints(raw)
	if err != nil {
		return scheduler.AppSpec{}, err
	}
	ps := scheduler.AppSpec{
		ID:          s.ID,
		Instances:   s.Count(),
		Resources:   scheduler.Resources{CPUs: s.CPUs, MemMiB: s.Mem, DiskMiB: s.Disk},
		Constraints: cs,
	}
	for _, p := range s.Ports {
		ps.Ports = append(ps.Ports, scheduler.PortRequest{Name: p.Name, Port: p.Port})
	}
	return ps, nil
}

// removeOrphan kills the alive tasks of an app that is not known and
// removes their ended records.
func (r *run) removeOrphan(id string) {
	tasks := r.orphan[id]
	slices.SortFunc(tasks, refByID)
	for _, t := range tasks {
		switch {
		case api.TaskTerminal(t.State):
			r.out.Remove = append(r.out.Remove, t.ID)
		case t.Desired != api.DesiredKill && !t.lost:
			r.out.Kill = append(r.out.Kill, Kill{TaskID: t.ID, Reason: ReasonRemoved})
		}
	}
}

// finish computes Wake.
func (r *run) finish() {
	for _, id := range r.order {
		b, ok := r.out.Backoff[id]
		if !ok || !b.Until.After(r.in.Now) {
			continue
		}
		if r.out.Wake.IsZero() || b.Until.Before(r.out.Wake) {
			r.out.Wake = b.Until
		}
	}
}

func refByID(a, b ref) int { return strings.Compare(a.ID, b.ID) }

// endTime is when a record ended, as well as it is known.
func endTime(t *api.Task) time.Time {
	switch {
	case !t.FinishedAt.IsZero():
		return t.FinishedAt
	case !t.UpdatedAt.IsZero():
		return t.UpdatedAt
	}
	return t.StagedAt
}

// newestFirst orders records by end time, newest first, then by id.
func newestFirst(a, b *api.Task) int {
	return cmp.Or(endTime(b).Compare(endTime(a)), strings.Compare(a.ID, b.ID))
}
