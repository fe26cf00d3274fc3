package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/scheduler"
	"corral/internal/scheduler/deploy"
	"corral/internal/store"
)

// appSpecs returns the applied apps by id, decoded once per version.
func (c *clusterSvc) appSpecs() map[string]appSpec { return c.appCache.all() }

// restartCount returns an app's restart counter.
func (c *clusterSvc) restartCount(app string) int {
	if v, ok := c.restarts.Value(app); ok {
		return v.(int)
	}
	return 0
}

func (c *clusterSvc) appStates() map[string]appState {
	vals, _ := c.appstate.Values()
	out := make(map[string]appState, len(vals))
	for k, v := range vals {
		if st, ok := v.(appState); ok {
			out[k] = st
		}
	}
	return out
}

func (c *clusterSvc) deployment(id string) (api.Deployment, bool) {
	if v, ok := c.deps.Value(id); ok {
		d, ok := v.(api.Deployment)
		return d, ok
	}
	return api.Deployment{}, false
}

// reconcileApps keeps every app at its instance count and carries out its
// deployment: deploy.Reconcile decides, this writes the decisions to etcd
// (task records with their assignments in the same transaction) and keeps
// the deployment records.
func (s *Server) reconcileApps(ctx context.Context, nodes []scheduler.Node, all []api.Task) (time.Time, error) {
	c := s.cluster
	now := s.cfg.Now().UTC()
	specs := c.appSpecs()
	states := c.appStates()

	ids := map[string]bool{}
	for id := range specs {
		ids[id] = true
	}
	for id := range states {
		ids[id] = true
	}
	var tasks []api.Task
	byID := map[string]api.Task{}
	for _, t := range all {
		if t.Kind == api.TaskKindApp {
			tasks = append(tasks, t)
			byID[t.ID] = t
			ids[t.App] = true
		}
	}
	order := make([]string, 0, len(ids))
	for id := range ids {
		order = append(order, id)
	}
	sort.Strings(order)

	in := deploy.Input{Now: now, Tasks: tasks, Nodes: nodes, Backoff: map[string]deploy.Backoff{},
		NewID: func(app string) string { return api.TaskID(app, newTaskSuffix()) }}
	configs := map[string]string{}
	for _, id := range order {
		a, ok := specs[id]
		if !ok {
			in.Apps = append(in.Apps, deploy.App{Spec: api.AppSpec{ID: id}, Deleted: true})
			continue
		}
		cfg := runConfig(a.Spec, c.restartCount(id))
		configs[id] = cfg
		in.Apps = append(in.Apps, deploy.App{Spec: a.Spec, Version: a.Version, Config: cfg})
	}
	c.mu.Lock()
	for k, b := range c.backoff {
		in.Backoff[k] = b
	}
	c.mu.Unlock()

	out, err := deploy.Reconcile(in)
	if err != nil {
		return time.Time{}, err
	}

	var groups [][]store.Op
	for _, st := range out.Start {
		t := st.Task
		a := specs[t.App]
		t.CPUs, t.Mem, t.Disk = a.Spec.CPUs, a.Spec.Mem, a.Spec.Disk
		groups = append(groups, []store.Op{
			store.Put(store.TaskKey(t.ID), t),
			store.Put(store.TaskAssignKey(t.Node, t.ID), assignment(t, a.Spec.RunSpec, a.Spec.HealthChecks)),
		})
	}
	c.placed.Add(int64(len(out.Start)))
	kills := make([]killTask, len(out.Kill))
	for i, k := range out.Kill {
		kills[i] = killTask{TaskID: k.TaskID, Reason: k.Reason}
	}
	groups = append(groups, s.killOps(kills, byID, now)...)
	for _, id := range out.Lost {
		t, ok := byID[id]
		if !ok {
			continue
		}
		t.State, t.Reason, t.FinishedAt = api.TaskLost, fmt.Sprintf("node %s is down", t.Node), now
		groups = append(groups, []store.Op{store.Put(store.TaskKey(id), t), store.Del(store.TaskAssignKey(t.Node, id))})
		c.lost.Add(1)
	}
	for _, id := range out.Remove {
		t, ok := byID[id]
		if !ok {
			continue
		}
		groups = append(groups, removeTask(t))
	}
	if err := s.write(ctx, groups); err != nil {
		return time.Time{}, err
	}
	c.mu.Lock()
	c.backoff = out.Backoff
	c.mu.Unlock()

	for _, id := range order {
		if err := s.trackDeployment(ctx, id, specs, states, configs[id], out.Apps[id], out.Backoff, now); err != nil {
			return time.Time{}, err
		}
	}
	return out.Wake, nil
}

// killTask is a task to stop and why.
type killTask struct{ TaskID, Reason string }

// killOps asks the agents to stop tasks. A task its agent never reported
// on (still staging) is marked killed at once and its assignment removed;
// an agent that started it meanwhile stops it as unassigned.
func (s *Server) killOps(kills []killTask, byID map[string]api.Task, now time.Time) [][]store.Op {
	var groups [][]store.Op
	for _, k := range kills {
		t, ok := byID[k.TaskID]
		if !ok || t.Desired == api.DesiredKill {
			continue
		}
		t.Desired, t.KillReason = api.DesiredKill, k.Reason
		if t.State == api.TaskStaging && t.UpdatedAt.IsZero() {
			t.State, t.Reason, t.FinishedAt = api.TaskKilled, k.Reason, now
			groups = append(groups, []store.Op{store.Put(store.TaskKey(t.ID), t), store.Del(store.TaskAssignKey(t.Node, t.ID))})
		} else {
			as := api.TaskAssignment{ID: t.ID, Kind: t.Kind, App: t.App, Version: t.Version, Desired: api.DesiredKill,
				KillReason: k.Reason, StagedAt: t.StagedAt, Ports: t.Ports}
			if v, ok := s.cluster.appCache.get(t.App); ok && t.Kind == api.TaskKindApp {
				as.Run = v.Spec.RunSpec
			}
			groups = append(groups, []store.Op{store.Put(store.TaskKey(t.ID), t), store.Put(store.TaskAssignKey(t.Node, t.ID), as)})
		}
		s.cluster.killed.Add(1)
	}
	return groups
}

// trackDeployment keeps an app's deployment record in step with what the
// reconciler reports: a new target (version, config, instance count) starts
// a deployment, replacing a running one; progress and what it waits for
// are written when they change; a done deployment moves to the history
// store.
func (s *Server) trackDeployment(ctx context.Context, id string, specs map[string]appSpec, states map[string]appState,
	cfg string, rep deploy.AppReport, backoff map[string]deploy.Backoff, now time.Time) error {
	c := s.cluster
	st, has := states[id]
	a, exists := specs[id]
	progress := api.DeploymentProgress{New: rep.New, Healthy: rep.Healthy, Old: rep.Old}

	if !exists {
		if !has {
			return nil // tasks of an app never tracked: the reconciler kills them
		}
		d, running := c.deployment(st.Deployment)
		fresh := !running || d.Kind != api.DeployStop
		if fresh {
			if running {
				if err := s.finishDeployment(ctx, d, api.DeploymentReplaced, now); err != nil {
					return err
				}
			}
			d = api.Deployment{ID: stopDeploymentID(id, st.Version), App: id, Kind: api.DeployStop,
				Version: st.Version, FromVersion: st.Version, State: api.DeploymentRunning, Started: now}
			st.Deployment = d.ID
		}
		changed := fresh || d.Progress != progress || d.Waiting != rep.Waiting
		d.Progress, d.Waiting = progress, rep.Waiting
		if rep.Done {
			if err := s.finishDeployment(ctx, d, api.DeploymentSucceeded, now); err != nil {
				return err
			}
			return s.write(ctx, [][]store.Op{{store.Del(store.AppStateKey(id)), store.Del(store.RestartKey(id))}})
		}
		if !changed {
			return nil // written already: nothing new to say
		}
		return s.write(ctx, [][]store.Op{{store.Put(store.DeploymentKey(d.ID), d), store.Put(store.AppStateKey(id), st)}})
	}

	restart := c.restartCount(id)
	target := appState{Version: a.Version, Config: cfg, Instances: a.Spec.Count(), Restart: restart, Deployment: st.Deployment,
		Waiting: rep.Waiting, Since: st.Since}
	if b, ok := backoff[id]; ok {
		target.Backoff = &b
	}
	changed := !has || st.Version != target.Version || st.Config != target.Config || st.Instances != target.Instances || st.Restart != target.Restart
	if changed {
		depID := deploymentID(id, a.Version, restart)
		if old, running := c.deployment(st.Deployment); running && old.ID != depID {
			state := api.DeploymentReplaced
			if old.State == api.DeploymentCanceled {
				state = api.DeploymentCanceled
			}
			if err := s.finishDeployment(ctx, old, state, now); err != nil {
				return err
			}
		}
		kind := api.DeployUpgrade
		switch {
		case !has:
			kind = api.DeployStart
		case strings.HasPrefix(a.Rec.Cause, "rollback"):
			kind = api.DeployRollback
		case st.Config == cfg:
			kind = api.DeployScale
		case st.Restart != restart && st.Version == a.Version:
			kind = api.DeployRestart
		}
		d := api.Deployment{ID: depID, App: id, Kind: kind, Version: a.Version, FromVersion: st.Version, State: api.DeploymentRunning,
			Instances: target.Instances, Started: now, Progress: progress, Waiting: rep.Waiting, By: a.Rec.UpdatedBy}
		target.Since = now
		if rep.Done {
			target.Deployment = ""
			if err := s.finishDeployment(ctx, d, api.DeploymentSucceeded, now); err != nil {
				return err
			}
			return s.write(ctx, [][]store.Op{{store.Put(store.AppStateKey(id), target)}})
		}
		target.Deployment = depID
		return s.write(ctx, [][]store.Op{{store.Put(store.DeploymentKey(depID), d), store.Put(store.AppStateKey(id), target)}})
	}

	var ops []store.Op
	if d, running := c.deployment(st.Deployment); running {
		if rep.Done {
			d.Progress = progress
			if err := s.finishDeployment(ctx, d, api.DeploymentSucceeded, now); err != nil {
				return err
			}
			target.Deployment = ""
		} else if d.Progress != progress || d.Waiting != rep.Waiting {
			d.Progress, d.Waiting = progress, rep.Waiting
			ops = append(ops, store.Put(store.DeploymentKey(d.ID), d))
		}
	} else {
		target.Deployment = ""
	}
	if !sameAppState(target, st) {
		ops = append(ops, store.Put(store.AppStateKey(id), target))
	}
	if len(ops) == 0 {
		return nil
	}
	return s.write(ctx, [][]store.Op{ops})
}

// finishDeployment moves a deployment to the history store and removes it
// from etcd.
func (s *Server) finishDeployment(ctx context.Context, d api.Deployment, state string, now time.Time) error {
	d.State, d.Finished = state, now
	if state == api.DeploymentSucceeded {
		d.Waiting = ""
	}
	if err := s.ledger.PutDeployment(ctx, d); err != nil {
		return err
	}
	s.log.Info("deployment finished", "component", "scheduler", "deployment", d.ID, "app", d.App, "kind", d.Kind, "state", state,
		"took", now.Sub(d.Started).Round(time.Millisecond).String())
	return s.write(ctx, [][]store.Op{{store.Del(store.DeploymentKey(d.ID))}})
}
