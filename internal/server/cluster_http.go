package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/marathon"
	"corral/internal/scheduler/jobs"
	"corral/internal/store"
)

// clusterRoutes registers the apps, tasks, deployments and jobs API
// (docs/api.md). App and job ids are the path tail; a last segment that is
// an action word (api.ActionWords) is the action.
func (s *Server) clusterRoutes(a *httpapi.API) {
	a.Query("GET /api/v1/apps", api.RoleViewer, s.handleListApps)
	a.Query("GET /api/v1/apps/{path...}", api.RoleViewer, s.handleGetApp)
	a.Handle("POST /api/v1/apps/{path...}", api.RoleOperator, s.handleAppAction)
	a.Handle("DELETE /api/v1/apps/{path...}", api.RoleOperator, s.handleDeleteApp)
	a.Query("GET /api/v1/tasks", api.RoleViewer, s.handleListTasks)
	a.Query("GET /api/v1/deployments", api.RoleViewer, s.handleListDeployments)
	a.Query("GET /api/v1/deployments/{id}", api.RoleViewer, s.handleGetDeployment)
	a.Handle("DELETE /api/v1/deployments/{id}", api.RoleOperator, s.handleCancelDeployment)
	a.Query("GET /api/v1/jobs", api.RoleViewer, s.handleListJobs)
	a.Query("GET /api/v1/jobs/{path...}", api.RoleViewer, s.handleGetJob)
	a.Handle("POST /api/v1/jobs/{path...}", api.RoleOperator, s.handleJobAction)
	a.Handle("DELETE /api/v1/jobs/{path...}", api.RoleOperator, s.handleDeleteJob)
	a.Query("GET /api/v1/logs", api.RoleViewer, s.handleLogs) // logs.go
	a.Query("GET /api/v1/logs/count", api.RoleViewer, s.handleLogCount)
	a.Query("GET /api/v1/logs/histogram", api.RoleViewer, s.handleLogHistogram)
	a.Query("GET /api/v1/scheduler", api.RoleViewer, s.handleScheduler)
}

// splitAction splits "shop/api/scale" into ("/shop/api", "scale").
func splitAction(path string) (id, action string) {
	path = "/" + strings.Trim(path, "/")
	i := strings.LastIndexByte(path, '/')
	if last := path[i+1:]; i > 0 && slices.Contains(api.ActionWords, last) {
		return path[:i], last
	}
	return path, ""
}

func notFound(kind, id string) error {
	return api.Errorf(http.StatusNotFound, "%s %q does not exist", kind, id)
}

func (s *Server) handleScheduler(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
	c := s.cluster
	return httpapi.JSON(w, http.StatusOK, api.SchedulerStatus{Leader: c.leaderID.Load().(string), Leading: c.leader.Load()})
}

// marathonInfo is what GET /v2/info says of this server.
func (s *Server) marathonInfo() marathon.InfoParams {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(s.cfg.HTTPAddr)
	p, _ := strconv.Atoi(port)
	return marathon.InfoParams{Version: s.cfg.Version, Elected: s.cluster.leader.Load(), Leader: s.cluster.leaderID.Load().(string),
		FrameworkID: s.ca.Fingerprint(), Hostname: host, HTTPPort: p, HA: len(s.cfg.EtcdEndpoints) > 0,
		LocalPortMin: 31000, LocalPortMax: 32000}
}

// ---- apps

// AppStatuses returns every app with its task counts, by id.
func (s *Server) AppStatuses(_ context.Context, withTasks bool) ([]api.AppStatus, error) {
	c := s.cluster
	specs := c.appSpecs()
	tasks := tasksByApp(c.allTasks(), api.TaskKindApp)
	out := make([]api.AppStatus, 0, len(specs))
	for id, a := range specs {
		out = append(out, s.appStatus(a, tasks[id], withTasks))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.ID < out[j].Spec.ID })
	return out, nil
}

// AppStatus returns one app with its tasks.
func (s *Server) AppStatus(_ context.Context, id string) (api.AppStatus, error) {
	a, ok := s.cluster.appCache.get(id)
	if !ok {
		return api.AppStatus{}, fmt.Errorf("app %s: %w", id, store.ErrNotFound)
	}
	return s.appStatus(a, tasksByApp(s.cluster.allTasks(), api.TaskKindApp)[id], true), nil
}

func tasksByApp(all []api.Task, kind string) map[string][]api.Task {
	out := map[string][]api.Task{}
	for _, t := range all {
		if t.Kind == kind {
			out[t.App] = append(out[t.App], t)
		}
	}
	return out
}

func (s *Server) appStatus(a appSpec, tasks []api.Task, withTasks bool) api.AppStatus {
	c := s.cluster
	st := api.AppStatus{Spec: a.Spec, Version: a.Version, UpdatedAt: a.Rec.UpdatedAt, Instances: a.Spec.Count()}
	checks := len(a.Spec.HealthChecks) > 0
	for _, t := range tasks {
		switch {
		case t.State == api.TaskStaging || t.State == api.TaskStarting:
			st.TasksStaged++
		case api.TaskAlive(t.State):
			st.TasksRunning++
			if t.State == api.TaskHealthy || (!checks && t.State == api.TaskRunning) {
				st.TasksHealthy++
			}
			if t.State == api.TaskUnhealthy {
				st.TasksUnhealthy++
			}
		case t.State == api.TaskFailed || t.State == api.TaskLost:
			at := t.FinishedAt
			if at.IsZero() {
				at = t.UpdatedAt
			}
			if st.LastFailure == nil || at.After(st.LastFailure.Time) {
				st.LastFailure = &api.TaskFailure{Task: t.ID, Node: t.Node, State: t.State, Reason: t.Reason, Time: at, Version: t.Version}
			}
		}
	}
	if v, ok := c.appstate.Value(a.Spec.ID); ok {
		as := v.(appState)
		st.Waiting = as.Waiting
		if d, ok := c.deployment(as.Deployment); ok {
			st.Deployments = []api.Deployment{d}
		}
	}
	if withTasks {
		st.Tasks = tasks
		if st.Tasks == nil {
			st.Tasks = []api.Task{}
		}
	}
	return st
}

func (s *Server) handleListApps(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	apps, err := s.AppStatuses(r.Context(), r.URL.Query().Get("embed") == "tasks")
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, apps)
}

func (s *Server) handleGetApp(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id, action := splitAction(r.PathValue("path"))
	a, ok := s.cluster.appCache.get(id)
	if !ok {
		return notFound("app", id)
	}
	switch action {
	case "":
		return httpapi.JSON(w, http.StatusOK, s.appStatus(a, tasksByApp(s.cluster.allTasks(), api.TaskKindApp)[id], true))
	case "tasks":
		ts, _ := s.Tasks(r.Context(), id)
		return httpapi.JSON(w, http.StatusOK, ts)
	case "versions":
		recs, err := s.store.ListVersions(r.Context(), kindApp, id)
		if err != nil {
			return err
		}
		out := make([]api.AppVersion, 0, len(recs))
		for i := len(recs) - 1; i >= 0; i-- {
			var spec api.AppSpec
			if err := json.Unmarshal(recs[i].Spec, &spec); err != nil {
				continue
			}
			out = append(out, api.AppVersion{Version: recs[i].Version, Spec: spec, CreatedAt: recs[i].UpdatedAt, By: recs[i].UpdatedBy})
		}
		return httpapi.JSON(w, http.StatusOK, out)
	}
	return api.Errorf(http.StatusMethodNotAllowed, "GET of %q is not an action on apps (use POST)", action)
}

func (s *Server) handleAppAction(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, action := splitAction(r.PathValue("path"))
	var (
		d   api.Deployment
		err error
	)
	switch action {
	case "scale":
		var req api.ScaleRequest
		if err := httpapi.Decode(r, &req); err != nil {
			return err
		}
		d, err = s.ScaleApp(r.Context(), id, req.Instances, c)
	case "restart":
		d, err = s.RestartApp(r.Context(), id, c)
	case "rollback":
		var req api.RollbackRequest
		if r.ContentLength != 0 {
			if err := httpapi.Decode(r, &req); err != nil {
				return err
			}
		}
		d, err = s.RollbackApp(r.Context(), id, req.Version, c)
	default:
		return api.Errorf(http.StatusNotFound, "no action %q on apps: POST /api/v1/apps/ID/scale, /restart or /rollback (create apps with corral apply)", action)
	}
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, d)
}

func (s *Server) handleDeleteApp(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, _ := splitAction(r.PathValue("path"))
	if _, err := s.DeleteApp(r.Context(), id, c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PutApp validates spec and stores it as the app's next version (nothing
// is stored when it equals the current one). It returns the version and the
// id of the deployment that carries it out.
func (s *Server) PutApp(ctx context.Context, spec api.AppSpec, c httpapi.Caller, mustCreate bool) (int64, string, bool, error) {
	return s.putApp(ctx, spec, c, mustCreate, "")
}

func (s *Server) putApp(ctx context.Context, spec api.AppSpec, c httpapi.Caller, mustCreate bool, cause string) (int64, string, bool, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return 0, "", false, err
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return 0, "", false, err
	}
	body["kind"] = kindApp
	dec, fe := s.kinds.Decode(body)
	if err := fe.Err("invalid app"); err != nil {
		return 0, "", false, err
	}
	if mustCreate {
		if _, ok := s.cluster.appCache.get(dec.Name); ok {
			return 0, "", false, api.Conflict("app %q already exists", dec.Name)
		}
	}
	plans, err := s.store.Apply(ctx, []store.Change{{Kind: kindApp, Name: dec.Name, Spec: dec.Canonical, Versioned: true, Cause: cause}}, c.Subject, false)
	if err != nil {
		return 0, "", false, mapStoreError(err)
	}
	p := plans[0]
	return p.Version, deploymentID(dec.Name, p.Version, s.cluster.restartCount(dec.Name)), p.Action == api.ActionCreated, nil
}

// appRecord reads an app's stored spec as written (without defaults).
func (s *Server) appRecord(ctx context.Context, id string) (api.AppSpec, store.ResourceRecord, error) {
	rec, err := s.store.GetResource(ctx, kindApp, id)
	if errors.Is(err, store.ErrNotFound) {
		return api.AppSpec{}, rec, notFound("app", id)
	} else if err != nil {
		return api.AppSpec{}, rec, err
	}
	var spec api.AppSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return spec, rec, err
	}
	return spec, rec, nil
}

// pendingDeployment describes a deployment the leader is about to start.
func (s *Server) pendingDeployment(id, app, kind string, version, from int64, c httpapi.Caller) api.Deployment {
	if d, ok := s.cluster.deployment(id); ok {
		return d
	}
	d := api.Deployment{ID: id, App: app, Kind: kind, Version: version, FromVersion: from, State: api.DeploymentRunning,
		Started: s.cfg.Now().UTC(), By: c.Subject}
	if a, ok := s.cluster.appCache.get(app); ok && kind != api.DeployStop {
		d.Instances = a.Spec.Count()
	}
	return d
}

// ScaleApp stores a new version of the app with n instances.
func (s *Server) ScaleApp(ctx context.Context, id string, n int, c httpapi.Caller) (api.Deployment, error) {
	if n < 0 {
		return api.Deployment{}, &api.Error{Status: http.StatusBadRequest, Message: "invalid scale", Fields: map[string]string{"instances": "must not be negative"}}
	}
	spec, rec, err := s.appRecord(ctx, id)
	if err != nil {
		return api.Deployment{}, err
	}
	spec.Instances = &n
	v, dep, _, err := s.putApp(ctx, spec, c, false, "scale")
	if err != nil {
		return api.Deployment{}, err
	}
	return s.pendingDeployment(dep, id, api.DeployScale, v, rec.Version, c), nil
}

// RestartApp replaces every task of the app, following its upgrade
// strategy, without changing its spec.
func (s *Server) RestartApp(ctx context.Context, id string, c httpapi.Caller) (api.Deployment, error) {
	_, rec, err := s.appRecord(ctx, id)
	if err != nil {
		return api.Deployment{}, err
	}
	n, err := s.store.IncrRestart(ctx, id)
	if err != nil {
		return api.Deployment{}, mapStoreError(err)
	}
	return s.pendingDeployment(deploymentID(id, rec.Version, n), id, api.DeployRestart, rec.Version, rec.Version, c), nil
}

// RollbackApp applies an earlier version of the app's spec again, as its
// next version; version 0 is the one before the current.
func (s *Server) RollbackApp(ctx context.Context, id string, version int64, c httpapi.Caller) (api.Deployment, error) {
	_, cur, err := s.appRecord(ctx, id)
	if err != nil {
		return api.Deployment{}, err
	}
	if version == 0 {
		version = cur.Version - 1
	}
	if version < 1 || version >= cur.Version {
		return api.Deployment{}, &api.Error{Status: http.StatusBadRequest, Message: "invalid rollback",
			Fields: map[string]string{"version": fmt.Sprintf("must be an earlier version of %s: 1 to %d", id, cur.Version-1)}}
	}
	old, err := s.store.GetVersion(ctx, kindApp, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return api.Deployment{}, api.Errorf(http.StatusNotFound, "version %d of app %s is not kept", version, id)
	} else if err != nil {
		return api.Deployment{}, err
	}
	var spec api.AppSpec
	if err := json.Unmarshal(old.Spec, &spec); err != nil {
		return api.Deployment{}, err
	}
	v, dep, _, err := s.putApp(ctx, spec, c, false, fmt.Sprintf("rollback to %d", version))
	if err != nil {
		return api.Deployment{}, err
	}
	if v == cur.Version {
		return api.Deployment{}, api.Conflict("version %d of %s is the same spec as the current version %d: nothing to roll back", version, id, cur.Version)
	}
	return s.pendingDeployment(dep, id, api.DeployRollback, v, cur.Version, c), nil
}

// DeleteApp removes the app; the leader kills its tasks.
func (s *Server) DeleteApp(ctx context.Context, id string, _ httpapi.Caller) (string, error) {
	_, rec, err := s.appRecord(ctx, id)
	if err != nil {
		return "", err
	}
	if err := s.store.DeleteResource(ctx, kindApp, id, 0); err != nil {
		return "", mapStoreError(err)
	}
	return stopDeploymentID(id, rec.Version), nil
}

// stopDeploymentID names the deployment that stops a removed app.
func stopDeploymentID(app string, version int64) string {
	return api.TaskID(app, "stop.v"+strconv.FormatInt(version, 10))
}

// ---- tasks and deployments

// Tasks returns the task records of an app ("" for every app and job).
func (s *Server) Tasks(_ context.Context, app string) ([]api.Task, error) {
	out := []api.Task{}
	for _, t := range s.cluster.allTasks() {
		if app == "" || t.App == app {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	q := r.URL.Query()
	app := q.Get("app")
	if app != "" {
		app = "/" + strings.Trim(app, "/")
	}
	ts, _ := s.Tasks(r.Context(), app)
	out := ts[:0]
	for _, t := range ts {
		if (q.Get("node") == "" || t.Node == q.Get("node")) && (q.Get("state") == "" || t.State == q.Get("state")) {
			out = append(out, t)
		}
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

// Deployments returns the running deployments, oldest first.
func (s *Server) Deployments(_ context.Context) ([]api.Deployment, error) {
	vals, _ := s.cluster.deps.Values()
	out := make([]api.Deployment, 0, len(vals))
	for _, v := range vals {
		if d, ok := v.(api.Deployment); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

func (s *Server) handleListDeployments(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	q := r.URL.Query()
	app := q.Get("app")
	if app != "" {
		app = "/" + strings.Trim(app, "/")
	}
	running, _ := s.Deployments(r.Context())
	out := []api.Deployment{}
	for _, d := range running {
		if app == "" || d.App == app {
			out = append(out, d)
		}
	}
	if q.Get("all") == "true" {
		limit, err := httpapi.QueryInt(r, "limit", 100)
		if err != nil {
			return err
		}
		done, err := s.ledger.ListDeployments(r.Context(), app, int(limit))
		if err != nil {
			return err
		}
		slices.Reverse(out)
		out = append(out, done...)
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleGetDeployment(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id := r.PathValue("id")
	if d, ok := s.cluster.deployment(id); ok {
		return httpapi.JSON(w, http.StatusOK, d)
	}
	d, ok, err := s.ledger.Deployment(r.Context(), id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("deployment", id)
	}
	return httpapi.JSON(w, http.StatusOK, d)
}

func (s *Server) handleCancelDeployment(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	d, err := s.CancelDeployment(r.Context(), r.PathValue("id"), c)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, d)
}

// CancelDeployment stops a running deployment the way Marathon does: the
// app goes back to the version before it (a new app is removed). The
// answer is the deployment that rolls back.
func (s *Server) CancelDeployment(ctx context.Context, id string, c httpapi.Caller) (api.Deployment, error) {
	d, ok := s.cluster.deployment(id)
	if !ok {
		if _, done, _ := s.ledger.Deployment(ctx, id); done {
			return api.Deployment{}, api.Conflict("deployment %s has already finished", id)
		}
		return api.Deployment{}, notFound("deployment", id)
	}
	if _, err := store.UpdateJSON(ctx, s.store, store.DeploymentKey(id), func(cur *api.Deployment) error {
		cur.State = api.DeploymentCanceled
		return nil
	}); err != nil {
		return api.Deployment{}, mapStoreError(err)
	}
	switch {
	case d.Kind == api.DeployStop:
		return api.Deployment{}, api.Conflict("a removed app cannot be brought back by canceling its stop; apply it again")
	case d.FromVersion == 0:
		dep, err := s.DeleteApp(ctx, d.App, c)
		if err != nil {
			return api.Deployment{}, err
		}
		return s.pendingDeployment(dep, d.App, api.DeployStop, d.Version, d.Version, c), nil
	case d.Kind == api.DeployRestart:
		// Nothing to roll back to: the restart stops where it is.
		return d, nil
	}
	return s.RollbackApp(ctx, d.App, d.FromVersion, c)
}

// ---- jobs

func (s *Server) jobStatus(ctx context.Context, j jobSpec) api.JobStatus {
	st := api.JobStatus{Spec: j.Spec, Version: j.Version, UpdatedAt: j.Rec.UpdatedAt}
	st.NextRun = jobs.Next(planJob(j.Spec), s.cfg.Now())
	st.Active = s.cluster.activeRuns()[j.Spec.ID]
	if runs, err := s.ledger.ListJobRuns(ctx, j.Spec.ID, 1); err == nil && len(runs) > 0 {
		st.LastRun = &runs[0]
	}
	return st
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	specs := s.cluster.jobSpecs()
	out := make([]api.JobStatus, 0, len(specs))
	for _, j := range specs {
		out = append(out, s.jobStatus(r.Context(), j))
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Spec.ID < out[k].Spec.ID })
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id, action := splitAction(r.PathValue("path"))
	j, ok := s.cluster.jobCache.get(id)
	if !ok {
		return notFound("job", id)
	}
	switch action {
	case "":
		return httpapi.JSON(w, http.StatusOK, s.jobStatus(r.Context(), j))
	case "runs":
		limit, err := httpapi.QueryInt(r, "limit", 20)
		if err != nil {
			return err
		}
		runs := slices.Clone(s.cluster.activeRuns()[id])
		slices.Reverse(runs)
		done, err := s.ledger.ListJobRuns(r.Context(), id, int(limit))
		if err != nil {
			return err
		}
		runs = append(runs, done...)
		if len(runs) > int(limit) {
			runs = runs[:limit]
		}
		if runs == nil {
			runs = []api.JobRun{}
		}
		return httpapi.JSON(w, http.StatusOK, runs)
	}
	return api.Errorf(http.StatusMethodNotAllowed, "GET of %q is not an action on jobs", action)
}

func (s *Server) handleJobAction(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id, action := splitAction(r.PathValue("path"))
	if action != "run" {
		return api.Errorf(http.StatusNotFound, "no action %q on jobs: POST /api/v1/jobs/ID/run (create jobs with corral apply)", action)
	}
	j, ok := s.cluster.jobCache.get(id)
	if !ok {
		return notFound("job", id)
	}
	now := s.cfg.Now().UTC()
	run := api.JobRun{ID: newRunID(now), Job: id, Version: j.Version, Manual: true, State: api.RunActive}
	if err := s.store.PutJSONIfAbsent(r.Context(), store.JobRunKey(run.ID), run); err != nil {
		return mapStoreError(err)
	}
	s.cluster.poke()
	return httpapi.JSON(w, http.StatusOK, run)
}

func (s *Server) handleDeleteJob(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id, _ := splitAction(r.PathValue("path"))
	if err := s.store.DeleteResource(r.Context(), kindJob, id, 0); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("job", id)
		}
		return mapStoreError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
