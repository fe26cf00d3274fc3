package deploy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
)

// appRun is one app during a call.
type appRun struct {
	app      *App
	selected bool        // reconciled in this call
	needed   bool        // a dependency of an app reconciled in this call
	classed  bool        // classify ran
	tasks    []ref       // every record, by id
	newTasks []*api.Task // alive, target config, node not drained
	oldTasks []*api.Task // alive, other config or drained node
	ending   []*api.Task // asked to stop (or killed now), not ended, not lost
	ended    []*api.Task // terminal records
	lost     int         // not ended on down or unknown nodes
	ready    int         // ready alive tasks of any config, before this call
	kills    []Kill      // health kills
}

// classify sorts an app's tasks into their roles and finds health kills.
func (r *run) classify(a *appRun) {
	a.classed = true
	if !slices.IsSortedFunc(a.tasks, refByID) {
		slices.SortFunc(a.tasks, refByID)
	}
	for _, rf := range a.tasks {
		t := rf.Task
		spec := a.app.specOf(t.Version)
		switch {
		case api.TaskTerminal(t.State):
			a.ended = append(a.ended, t)
		case rf.lost:
			a.lost++
		case t.Desired == api.DesiredKill || t.State == api.TaskKilling:
			a.ending = append(a.ending, t)
		case a.app.Deleted:
			a.oldTasks = append(a.oldTasks, t)
		default:
			if reason := r.healthKill(t, spec); reason != "" {
				a.kills = append(a.kills, Kill{TaskID: t.ID, Reason: reason})
				a.ending = append(a.ending, t)
				continue
			}
			if ready(t, spec) {
				a.ready++
			}
			if t.Config == a.app.Config && !rf.drained {
				a.newTasks = append(a.newTasks, t)
			} else {
				a.oldTasks = append(a.oldTasks, t)
			}
		}
	}
}

// ready reports whether a task serves: healthy, or running without health
// checks.
func ready(t *api.Task, spec *api.AppSpec) bool {
	return t.State == api.TaskHealthy || t.State == api.TaskRunning && len(spec.HealthChecks) == 0
}

// healthKill returns the kill reason when a health check of the task has
// failed its maximum times in a row, or "".
func (r *run) healthKill(t *api.Task, spec *api.AppSpec) string {
	if t.State == api.TaskStaging || t.State == api.TaskStarting {
		return ""
	}
	for i, h := range t.Health {
		if i >= len(spec.HealthChecks) {
			break
		}
		hc := spec.HealthChecks[i]
		if hc.MaxConsecutiveFailures <= 0 || h.ConsecutiveFailures < hc.MaxConsecutiveFailures {
			continue
		}
		if h.FirstSuccess.IsZero() && !t.StartedAt.IsZero() && r.in.Now.Before(t.StartedAt.Add(time.Duration(hc.GracePeriod))) {
			continue
		}
		reason := fmt.Sprintf("%s%d failed %d times", HealthKillPrefix, i, h.ConsecutiveFailures)
		if h.LastFailureCause != "" {
			reason += ": " + h.LastFailureCause
		}
		return reason
	}
	return ""
}

// bounds returns the least number of ready tasks a rolling replacement
// keeps and the most alive tasks it allows.
func bounds(n int, minHealth, overCap float64, oldLeft bool) (minReady, maxAlive int) {
	const eps = 1e-9 // 10 × 0.3 is 3.0000000000000004
	minReady = int(math.Ceil(float64(n)*minHealth - eps))
	maxAlive = int(math.Floor(float64(n)*(1+overCap) + eps))
	minReady = min(max(minReady, 0), n)
	maxAlive = max(maxAlive, n)
	if oldLeft && n > 0 && maxAlive <= minReady {
		maxAlive = minReady + 1
	}
	return minReady, maxAlive
}

func strategy(s *api.AppSpec) (minHealth, overCap float64) {
	minHealth, overCap = 1, 1
	if p := s.UpgradeStrategy.MinimumHealthCapacity; p != nil {
		minHealth = *p
	}
	if p := s.UpgradeStrategy.MaximumOverCapacity; p != nil {
		overCap = *p
	}
	return minHealth, overCap
}

// reconcileApp decides the actions for one app.
func (r *run) reconcileApp(a *appRun) error {
	id := a.app.Spec.ID
	r.out.Kill = append(r.out.Kill, a.kills...)
	if a.app.Deleted {
		r.deleteApp(a)
		return nil
	}
	spec := &a.app.Spec
	n := spec.Count()
	var waiting []string
	b := r.backoff(a)

	// 1. New tasks beyond the instance count.
	if extra := len(a.newTasks) - n; extra > 0 {
		killed, err := r.scaleDown(a, extra)
		if err != nil {
			return err
		}
		a.newTasks = slices.DeleteFunc(a.newTasks, func(t *api.Task) bool {
			_, ok := killed[t.ID]
			return ok
		})
	}

	// 2. and 3. Old tasks.
	minHealth, overCap := strategy(spec)
	minReady, maxAlive := bounds(n, minHealth, overCap, len(a.oldTasks) > 0)
	readyNew := 0
	for _, t := range a.newTasks {
		if ready(t, spec) {
			readyNew++
		}
	}
	var oldReady []*api.Task
	for _, t := range a.oldTasks {
		if ready(t, a.app.specOf(t.Version)) {
			oldReady = append(oldReady, t)
			continue
		}
		r.kill(a, t, r.oldReason(a, t))
	}
	slices.SortFunc(oldReady, func(x, y *api.Task) int {
		return cmp.Or(
			-cmp.Compare(btoi(r.drained(x.Node)), btoi(r.drained(y.Node))),
			cmp.Compare(x.Version, y.Version),
			y.StartedAt.Compare(x.StartedAt),
			strings.Compare(x.ID, y.ID))
	})
	keep := len(oldReady)
	if excess := readyNew + len(oldReady) - minReady; excess > 0 {
		for _, t := range oldReady[:min(excess, len(oldReady))] {
			r.kill(a, t, r.oldReason(a, t))
		}
		keep = len(oldReady) - min(excess, len(oldReady))
	}
	oldAlive := keep

	// 4. Start new tasks.
	started := 0
	want := min(n-len(a.newTasks), maxAlive-len(a.newTasks)-oldAlive)
	if want > 0 {
		if w := r.dependencies(a); w != "" {
			waiting = append(waiting, w)
			want = 0
		}
	}
	if want > 0 && r.in.Now.Before(b.Until) {
		waiting = append(waiting, backoffText(b))
		want = 0
	}
	if want > 0 {
		placed, w, err := r.place(a, want)
		if err != nil {
			return err
		}
		started = placed
		if w != "" {
			waiting = append(waiting, w)
		}
	}

	rep := AppReport{
		Target:  n,
		New:     len(a.newTasks) + started,
		Healthy: readyNew,
		Old:     oldAlive,
	}
	others := a.lost
	for _, t := range a.ending {
		if t.Config != a.app.Config || r.drained(t.Node) {
			rep.Old++
		}
		others++
	}
	others += oldAlive
	rep.Done = rep.New == n && rep.Healthy == n && others == 0 && len(waiting) == 0
	if !rep.Done && len(waiting) == 0 {
		waiting = append(waiting, progressText(rep, others))
	}
	rep.Waiting = strings.Join(waiting, "; ")
	r.out.Apps[id] = rep
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// oldReason is the kill reason of an old task.
func (r *run) oldReason(a *appRun, t *api.Task) string {
	if t.Config == a.app.Config && r.drained(t.Node) {
		return "node " + t.Node + " is drained"
	}
	return fmt.Sprintf("replaced by version %d", a.app.Version)
}

// kill asks a task to stop and moves it to the app's ending tasks.
func (r *run) kill(a *appRun, t *api.Task, reason string) {
	r.out.Kill = append(r.out.Kill, Kill{TaskID: t.ID, Reason: reason})
	a.ending = append(a.ending, t)
}

// deleteApp kills every alive task of a removed app and removes its ended
// records.
func (r *run) deleteApp(a *appRun) {
	for _, t := range a.oldTasks {
		r.kill(a, t, ReasonRemoved)
	}
	for _, t := range a.ended {
		r.out.Remove = append(r.out.Remove, t.ID)
	}
	rep := AppReport{Old: len(a.ending) + a.lost}
	rep.Done = rep.Old == 0
	if !rep.Done {
		rep.Waiting = fmt.Sprintf("waiting for %d %s to stop", rep.Old, plural(rep.Old, "task"))
	}
	r.out.Apps[a.app.Spec.ID] = rep
}

// scaleDown kills count of the app's new tasks, chosen by
// scheduler.ScaleDown among the new tasks only.
func (r *run) scaleDown(a *appRun, count int) (map[string]struct{}, error) {
	st, err := r.state()
	if err != nil {
		return nil, err
	}
	ps, err := placementSpec(&a.app.Spec)
	if err != nil {
		// Without valid constraints, staging first, then the newest.
		ps = scheduler.AppSpec{ID: a.app.Spec.ID}
	}
	isNew := make(map[string]struct{}, len(a.newTasks))
	for _, t := range a.newTasks {
		isNew[t.ID] = struct{}{}
	}
	var aside []scheduler.Task
	for _, t := range st.Tasks(a.app.Spec.ID) {
		if _, ok := isNew[t.ID]; !ok {
			st.RemoveTask(t.ID)
			aside = append(aside, t)
		}
	}
	victims, err := scheduler.ScaleDown(st, ps, count)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: scale down: %w", a.app.Spec.ID, err)
	}
	// Tasks being killed hold their resources until they end.
	for _, t := range append(aside, victims...) {
		if err := st.AddTask(t); err != nil {
			return nil, fmt.Errorf("reconcile %s: scale down: %w", a.app.Spec.ID, err)
		}
	}
	killed := make(map[string]struct{}, len(victims))
	byTask := make(map[string]*api.Task, len(a.newTasks))
	for _, t := range a.newTasks {
		byTask[t.ID] = t
	}
	for _, v := range victims {
		killed[v.ID] = struct{}{}
		r.kill(a, byTask[v.ID], fmt.Sprintf("scaled down to %d", a.app.Spec.Count()))
	}
	return killed, nil
}

// place places want new tasks and returns how many were placed and the
// explanation for those that were not.
func (r *run) place(a *appRun, want int) (int, string, error) {
	ps, err := placementSpec(&a.app.Spec)
	if err != nil {
		return 0, "invalid spec: " + err.Error(), nil
	}
	st, err := r.state()
	if err != nil {
		return 0, "", err
	}
	plan, err := scheduler.Place(st, ps, want)
	if err != nil {
		return 0, "invalid spec: " + err.Error(), nil
	}
	for _, p := range plan.Placements {
		r.out.Start = append(r.out.Start, Start{Task: api.Task{
			ID:       r.in.NewID(a.app.Spec.ID),
			Kind:     api.TaskKindApp,
			App:      a.app.Spec.ID,
			Version:  a.app.Version,
			Config:   a.app.Config,
			Node:     p.Node,
			Ports:    p.Ports,
			CPUs:     a.app.Spec.CPUs,
			Mem:      a.app.Spec.Mem,
			Disk:     a.app.Spec.Disk,
			Desired:  api.DesiredRun,
			State:    api.TaskStaging,
			StagedAt: r.in.Now,
		}})
	}
	return len(plan.Placements), plan.Explain(), nil
}

// dependencies says what a first start waits for, or "".
func (r *run) dependencies(a *appRun) string {
	if len(a.app.Spec.DependsOn) == 0 || len(a.newTasks)+len(a.oldTasks) > 0 {
		return ""
	}
	if cycle := r.cycle(a.app.Spec.ID); cycle != nil {
		return "dependency cycle: " + strings.Join(cycle, " → ")
	}
	var out []string
	for _, dep := range a.app.Spec.DependsOn {
		d := r.apps[dep]
		if d != nil && !d.classed {
			r.classify(d)
		}
		switch {
		case d == nil || d.app.Deleted:
			out = append(out, fmt.Sprintf("waiting for %s, which does not exist", dep))
		case d.ready < d.app.Spec.Count():
			out = append(out, fmt.Sprintf("waiting for %s to be healthy (%d of %d ready)", dep, d.ready, d.app.Spec.Count()))
		}
	}
	return strings.Join(out, "; ")
}

// cycle returns a dependency path from the app back to itself, or nil.
func (r *run) cycle(start string) []string {
	seen := map[string]bool{}
	var path []string
	var walk func(id string) bool
	walk = func(id string) bool {
		path = append(path, id)
		a := r.apps[id]
		if a != nil && !a.app.Deleted {
			for _, dep := range a.app.Spec.DependsOn {
				if dep == start {
					path = append(path, dep)
					return true
				}
				if !seen[dep] {
					seen[dep] = true
					if walk(dep) {
						return true
					}
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

// progressText says what a rollout waits for when nothing holds it back.
func progressText(rep AppReport, others int) string {
	var parts []string
	if rep.New > rep.Healthy {
		parts = append(parts, fmt.Sprintf("waiting for %d of %d new %s to be ready", rep.New-rep.Healthy, rep.New, plural(rep.New, "instance")))
	}
	if others > 0 {
		parts = append(parts, fmt.Sprintf("waiting for %d %s to stop", others, plural(others, "task")))
	}
	if len(parts) == 0 && rep.New < rep.Target {
		parts = append(parts, fmt.Sprintf("%d of %d instances placed", rep.New, rep.Target))
	}
	return strings.Join(parts, "; ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
