package deploy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
)

// Delay is the backoff after the given number of failures in a row:
// initial × factor^(failures-1), at most max; 0 for no failures.
func Delay(b api.Backoff, failures int) time.Duration {
	if failures <= 0 || b.Initial <= 0 {
		return 0
	}
	factor := max(b.Factor, 1)
	d := float64(b.Initial) * math.Pow(factor, float64(failures-1))
	if b.Max > 0 && (d > float64(b.Max) || math.IsInf(d, 0) || math.IsNaN(d)) {
		return time.Duration(b.Max)
	}
	if d > math.MaxInt64/2 {
		return time.Duration(math.MaxInt64 / 2)
	}
	return time.Duration(math.Round(d))
}

// failure reports whether an ended record counts for the app's backoff:
// it ended by itself (failed, finished, or killed by the agent) or was
// killed for failing its health checks. Tasks killed on request and lost
// tasks are not failures.
func failure(t *api.Task) bool {
	if t.Desired == api.DesiredKill {
		return strings.HasPrefix(t.KillReason, HealthKillPrefix)
	}
	switch t.State {
	case api.TaskFailed, api.TaskFinished, api.TaskKilled:
		return true
	}
	return false
}

// failureText says why a task failed.
func failureText(t *api.Task) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.KillReason != "":
		return t.KillReason
	}
	return t.State
}

// backoff counts the app's new failures, resets the backoff when a task
// placed after the last failure became ready, picks the ended records to
// remove and records the new state in the output.
func (r *run) backoff(a *appRun) Backoff {
	id := a.app.Spec.ID
	spec := &a.app.Spec
	prev := r.in.Backoff[id]
	b := Backoff{Failures: prev.Failures, Until: prev.Until, Since: prev.Since, Last: prev.Last, Config: prev.Config}
	if b.Config != a.app.Config {
		b = Backoff{Config: a.app.Config}
	}
	if b.Failures > 0 {
		for _, t := range a.newTasks {
			if ready(t, spec) && !t.StagedAt.Before(b.Since) {
				b = Backoff{Config: a.app.Config}
				break
			}
		}
	}
	var kept, fresh []*api.Task
	for _, t := range a.ended {
		f := failure(t)
		if !f && t.State != api.TaskLost {
			r.out.Remove = append(r.out.Remove, t.ID)
			continue
		}
		kept = append(kept, t)
		if f && t.Config == a.app.Config && !slices.Contains(prev.Counted, t.ID) {
			fresh = append(fresh, t)
		}
	}
	slices.SortFunc(kept, newestFirst)
	if len(kept) > KeepFailed {
		for _, t := range kept[KeepFailed:] {
			r.out.Remove = append(r.out.Remove, t.ID)
		}
		kept = kept[:KeepFailed]
	}
	for _, t := range kept {
		if failure(t) {
			b.Counted = append(b.Counted, t.ID)
		}
	}
	slices.Sort(b.Counted)
	if len(fresh) > 0 {
		slices.SortFunc(fresh, newestFirst)
		b.Failures += len(fresh)
		b.Since = r.in.Now
		b.Until = r.in.Now.Add(Delay(spec.Backoff, b.Failures))
		b.Last = failureText(fresh[0])
	}
	if b.Failures > 0 || len(b.Counted) > 0 {
		r.out.Backoff[id] = b
	}
	return b
}

// backoffText says until when an app backs off.
func backoffText(b Backoff) string {
	return fmt.Sprintf("backing off until %s after %d %s (last: %s)",
		b.Until.UTC().Format("15:04:05.999"), b.Failures, plural(b.Failures, "failure"), b.Last)
}
