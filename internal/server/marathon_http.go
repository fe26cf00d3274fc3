package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/marathon"
	"corral/internal/store"
)

// marathonBackend is what the /v2 API needs of the cluster core.
type marathonBackend interface {
	AppStatuses(ctx context.Context, withTasks bool) ([]api.AppStatus, error)
	// AppStatus returns an error wrapping store.ErrNotFound when the app is
	// absent.
	AppStatus(ctx context.Context, id string) (api.AppStatus, error)
	// PutApp validates spec (api.FieldErrors in an *api.Error) and stores
	// a new version; with mustCreate it fails with a conflict when the app
	// exists.
	PutApp(ctx context.Context, spec api.AppSpec, c httpapi.Caller, mustCreate bool) (version int64, deploymentID string, created bool, err error)
	DeleteApp(ctx context.Context, id string, c httpapi.Caller) (deploymentID string, err error)
	RestartApp(ctx context.Context, id string, c httpapi.Caller) (api.Deployment, error)
	Tasks(ctx context.Context, app string) ([]api.Task, error) // app "" = all
	Deployments(ctx context.Context) ([]api.Deployment, error) // running ones
	CancelDeployment(ctx context.Context, id string, c httpapi.Caller) (api.Deployment, error)
}

// marathonAPI serves Marathon's /v2 REST API (apps, tasks, deployments,
// info, leader) over the cluster core, so Marathon clients and deploy scripts work
// unchanged. Bodies and answers are Marathon's JSON (package marathon);
// errors are Marathon's {"message", "details"} rather than the API's
// {"error", "fields"}, except for authentication and role failures, which
// httpapi answers for every route alike.
//
// Versions: Marathon names an app version by the time it was stored, so
// "version" is the AppStatus's UpdatedAt ("2026-03-10T12:00:00.000Z").
// Corral's own version number is kept out of labels (which would flow back
// into the spec on a GET-then-PUT) and is written as
// versionInfo.corralVersion, a field FromMarathon ignores.
type marathonAPI struct {
	b    marathonBackend
	info func() marathon.InfoParams // read per request: leadership changes
	now  func() time.Time
}

// registerMarathon registers the /v2 routes with the API's tokens and
// roles: viewers read, operators change.
func registerMarathon(a *httpapi.API, b marathonBackend, info func() marathon.InfoParams) {
	m := &marathonAPI{b: b, info: info, now: time.Now}
	m.routes(a)
}

func (m *marathonAPI) routes(a *httpapi.API) {
	a.Handle("GET /v2/apps", api.RoleViewer, m.listApps)
	a.Handle("POST /v2/apps", api.RoleOperator, m.createApp)
	// An app id is the path tail and may contain "/"; a last segment
	// "tasks", "versions" or "restart" is the action on the app before it.
	a.Handle("GET /v2/apps/{id...}", api.RoleViewer, m.getApp)
	a.Handle("PUT /v2/apps/{id...}", api.RoleOperator, m.putApp)
	a.Handle("PATCH /v2/apps/{id...}", api.RoleOperator, m.putApp)
	a.Handle("DELETE /v2/apps/{id...}", api.RoleOperator, m.deleteApp)
	a.Handle("POST /v2/apps/{id...}", api.RoleOperator, m.postAppAction)
	a.Handle("GET /v2/tasks", api.RoleViewer, m.listTasks)
	a.Handle("GET /v2/deployments", api.RoleViewer, m.listDeployments)
	a.Handle("DELETE /v2/deployments/{id}", api.RoleOperator, m.cancelDeployment)
	a.Handle("GET /v2/info", api.RoleViewer, m.getInfo)
	a.Handle("GET /v2/leader", api.RoleViewer, m.getLeader)
}

// v2AppAction splits the path tail of /v2/apps/... into the app id (with a
// leading "/") and the action: "", "tasks", "versions" or "restart".
func v2AppAction(tail string) (id, action string) {
	tail = strings.Trim(tail, "/")
	if i := strings.LastIndexByte(tail, '/'); i >= 0 {
		switch last := tail[i+1:]; last {
		case "tasks", "versions", "restart":
			return "/" + tail[:i], last
		}
	}
	if tail == "" {
		return "", ""
	}
	return "/" + tail, ""
}

// v2App is an app as /v2/apps shows it: Marathon's app with the status
// fields package marathon leaves to the server.
type v2App struct {
	marathon.App
	VersionInfo v2VersionInfo `json:"versionInfo"`
	// Tasks overrides App.Tasks so that an asked-for embed shows [] rather
	// than nothing (marathon-lb reads app["tasks"]).
	Tasks           *[]marathon.Task `json:"tasks,omitempty"`
	LastTaskFailure *v2TaskFailure   `json:"lastTaskFailure,omitempty"`
}

// v2VersionInfo is Marathon's versionInfo plus Corral's version number.
type v2VersionInfo struct {
	LastScalingAt      marathon.Time `json:"lastScalingAt"`
	LastConfigChangeAt marathon.Time `json:"lastConfigChangeAt"`
	CorralVersion      int64         `json:"corralVersion"`
}

// v2TaskFailure is Marathon's lastTaskFailure.
type v2TaskFailure struct {
	AppID     string        `json:"appId"`
	Host      string        `json:"host"`
	Message   string        `json:"message"`
	State     string        `json:"state"`
	TaskID    string        `json:"taskId"`
	Timestamp marathon.Time `json:"timestamp"`
	Version   string        `json:"version,omitempty"`
	SlaveID   string        `json:"slaveId"`
}

// v2Embeds reads ?embed= (repeatable, or comma-separated) for scope "app" or
// "apps": whether tasks and the last failure are asked for.
func v2Embeds(r *http.Request, scope string) (tasks, failure bool) {
	for _, v := range r.URL.Query()["embed"] {
		for e := range strings.SplitSeq(v, ",") {
			switch strings.TrimSpace(e) {
			case scope + ".tasks":
				tasks = true
			case scope + ".lastTaskFailure":
				failure = true
			case scope + ".failures":
				tasks, failure = true, true
			}
		}
	}
	return tasks, failure
}

// v2ToApp renders an app status as /v2/apps shows it.
func v2ToApp(st api.AppStatus, tasks, failure bool) v2App {
	ms := marathon.AppStatus{
		Version: st.UpdatedAt, TasksRunning: st.TasksRunning, TasksHealthy: st.TasksHealthy,
		TasksUnhealthy: st.TasksUnhealthy, TasksStaged: st.TasksStaged,
	}
	for _, d := range st.Deployments {
		if d.State == "" || d.State == api.DeploymentRunning {
			ms.Deployments = append(ms.Deployments, d.ID)
		}
	}
	out := v2App{
		App: marathon.ToMarathon(st.Spec, ms),
		VersionInfo: v2VersionInfo{LastScalingAt: marathon.Time(st.UpdatedAt),
			LastConfigChangeAt: marathon.Time(st.UpdatedAt), CorralVersion: st.Version},
	}
	versions := map[int64]time.Time{st.Version: st.UpdatedAt}
	if tasks {
		ts := v2Tasks(st.Tasks, versions)
		out.Tasks = &ts
	}
	if f := st.LastFailure; failure && f != nil {
		out.LastTaskFailure = &v2TaskFailure{
			AppID: st.Spec.ID, Host: f.Node, Message: f.Reason, State: v2TaskState(f.State),
			TaskID: f.Task, Timestamp: marathon.Time(f.Time), Version: v2VersionString(versions, f.Version), SlaveID: f.Node,
		}
	}
	return out
}

func v2VersionString(versions map[int64]time.Time, v int64) string {
	if t, ok := versions[v]; ok && !t.IsZero() {
		return marathon.FormatTime(t)
	}
	return ""
}

// v2TaskState maps Corral's task states to the Mesos names Marathon shows.
// A lost task (its node went down) is TASK_UNREACHABLE, as Marathon 1.4+
// shows the tasks of partitioned agents.
func v2TaskState(s string) string {
	switch s {
	case api.TaskStaging:
		return marathon.TaskStaging
	case api.TaskStarting:
		return marathon.TaskStarting
	case api.TaskRunning, api.TaskHealthy, api.TaskUnhealthy:
		return marathon.TaskRunning
	case api.TaskKilling:
		return marathon.TaskKilling
	case api.TaskFinished:
		return marathon.TaskFinished
	case api.TaskFailed:
		return marathon.TaskFailed
	case api.TaskKilled:
		return marathon.TaskKilled
	case api.TaskLost:
		return marathon.TaskUnreachable
	}
	return "TASK_" + strings.ToUpper(s)
}

// v2Tasks renders the app tasks that are not ended (Marathon forgets ended
// tasks), never nil.
func v2Tasks(ts []api.Task, versions map[int64]time.Time) []marathon.Task {
	out := []marathon.Task{}
	for _, t := range ts {
		if api.TaskTerminal(t.State) || t.Kind == api.TaskKindJob {
			continue
		}
		mt := marathon.Task{
			ID: t.ID, AppID: t.App, Host: t.Node, SlaveID: t.Node, Ports: t.Ports,
			StagedAt: marathon.Time(t.StagedAt), StartedAt: marathon.Time(t.StartedAt),
			Version: v2VersionString(versions, t.Version), State: v2TaskState(t.State),
		}
		if mt.Ports == nil {
			mt.Ports = []int{}
		}
		for _, h := range t.Health {
			mt.HealthCheckResults = append(mt.HealthCheckResults, marathon.HealthCheckResult{
				TaskID: t.ID, Alive: h.Alive, ConsecutiveFailures: h.ConsecutiveFailures,
				FirstSuccess: marathon.Time(h.FirstSuccess), LastSuccess: marathon.Time(h.LastSuccess),
				LastFailure: marathon.Time(h.LastFailure), LastFailureCause: h.LastFailureCause,
			})
		}
		out = append(out, mt)
	}
	return out
}

// v2Deployment renders a deployment with Marathon's steps: a new app is
// started with no instances, then scaled; a stop stops; a scale scales;
// every other change (upgrade, restart, rollback) restarts the app.
func v2Deployment(d api.Deployment) marathon.Deployment {
	step := func(action string) marathon.Step {
		return marathon.Step{Actions: []marathon.Action{{Action: action, App: d.App}}}
	}
	current := 1
	var steps []marathon.Step
	switch d.Kind {
	case api.DeployStart:
		steps = []marathon.Step{step(marathon.ActionStart), step(marathon.ActionScale)}
		if d.Progress.New > 0 {
			current = 2
		}
	case api.DeployScale:
		steps = []marathon.Step{step(marathon.ActionScale)}
	case api.DeployStop:
		steps = []marathon.Step{step(marathon.ActionStop)}
	default:
		steps = []marathon.Step{step(marathon.ActionRestart)}
	}
	return marathon.NewDeployment(d.ID, d.Started, steps, current)
}

func (m *marathonAPI) listApps(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	tasks, failure := v2Embeds(r, "apps")
	sts, err := m.b.AppStatuses(r.Context(), tasks)
	if err != nil {
		return m.fail(w, err, "")
	}
	q := r.URL.Query()
	idFilter, cmdFilter := strings.ToLower(q.Get("id")), strings.ToLower(q.Get("cmd"))
	out := []v2App{}
	for _, st := range sts {
		if idFilter != "" && !strings.Contains(strings.ToLower(st.Spec.ID), idFilter) {
			continue
		}
		if cmdFilter != "" && !strings.Contains(strings.ToLower(st.Spec.Cmd), cmdFilter) {
			continue
		}
		out = append(out, v2ToApp(st, tasks, failure))
	}
	slices.SortFunc(out, func(a, b v2App) int { return cmp.Compare(a.ID, b.ID) })
	return httpapi.JSON(w, http.StatusOK, struct {
		Apps []v2App `json:"apps"`
	}{out})
}

func (m *marathonAPI) getApp(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, action := v2AppAction(r.PathValue("id"))
	if id == "" {
		return m.listApps(w, r, c)
	}
	if action == "versions" {
		return v2Error(w, http.StatusNotImplemented, "app versions are not served on /v2: use GET /api/v1/apps/{id}/versions")
	}
	st, err := m.b.AppStatus(r.Context(), id)
	if err != nil {
		return m.fail(w, err, v2UnknownApp(id))
	}
	if action == "tasks" {
		ts := v2Tasks(st.Tasks, map[int64]time.Time{st.Version: st.UpdatedAt})
		if v2WantsText(r) {
			return v2TasksText(w, []api.AppStatus{st}, ts)
		}
		return httpapi.JSON(w, http.StatusOK, marathon.TasksResponse{Tasks: ts})
	}
	tasks, failure := v2Embeds(r, "app")
	return httpapi.JSON(w, http.StatusOK, struct {
		App v2App `json:"app"`
	}{v2ToApp(st, tasks, failure)})
}

func v2UnknownApp(id string) string { return fmt.Sprintf("App '%s' does not exist", id) }

// v2ReadBody reads a request body, already bounded by httpapi.
func v2ReadBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// v2Spec decodes and validates a Marathon app body; errors are
// Marathon's.
func v2Spec(body []byte) (api.AppSpec, error) {
	spec, err := marathon.FromMarathon(body)
	if err != nil {
		return spec, err
	}
	if fe := spec.Validate(); len(fe) > 0 {
		return spec, marathon.ErrorFromFields(fe)
	}
	return spec, nil
}

func (m *marathonAPI) createApp(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	body, err := v2ReadBody(r)
	if err != nil {
		return err
	}
	spec, err := v2Spec(body)
	if err != nil {
		return m.fail(w, err, "")
	}
	version, depID, _, err := m.b.PutApp(r.Context(), spec, c, true)
	if v2Conflict(err) {
		return v2Error(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", spec.ID))
	}
	if err != nil {
		return m.fail(w, err, "")
	}
	st, err := m.b.AppStatus(r.Context(), spec.ID)
	if err != nil || st.Version != version {
		// Answer with what was stored even if it changed again since.
		st = api.AppStatus{Spec: spec, Version: version, UpdatedAt: m.now(), Instances: spec.Count()}
	}
	if !slices.ContainsFunc(st.Deployments, func(d api.Deployment) bool { return d.ID == depID }) && depID != "" {
		st.Deployments = append(st.Deployments, api.Deployment{ID: depID, App: spec.ID, State: api.DeploymentRunning})
	}
	w.Header().Set("Location", "/v2/apps"+spec.ID)
	return httpapi.JSON(w, http.StatusCreated, v2ToApp(st, false, false))
}

// putApp creates or changes an app (PUT and PATCH). Like Marathon 1.6+,
// the body is a partial update of an existing app (the fields it gives
// replace the app's, top level) unless ?partialUpdate=false; an absent app
// is created from the body, which may leave out the id.
func (m *marathonAPI) putApp(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, action := v2AppAction(r.PathValue("id"))
	if id == "" || action != "" {
		return v2Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not supported on %s", r.Method, r.URL.Path))
	}
	body, err := v2ReadBody(r)
	if err != nil {
		return err
	}
	partial := r.Method == http.MethodPatch || r.URL.Query().Get("partialUpdate") != "false"
	cur, err := m.b.AppStatus(r.Context(), id)
	switch {
	case err == nil && partial:
		body = v2MergeApp(cur.Spec, body)
	case err != nil && !v2NotFound(err):
		return m.fail(w, err, "")
	}
	body, err = v2WithID(body, id)
	if err != nil {
		return m.fail(w, err, "")
	}
	spec, err := v2Spec(body)
	if err != nil {
		return m.fail(w, err, "")
	}
	version, depID, created, err := m.b.PutApp(r.Context(), spec, c, false)
	if err != nil {
		return m.fail(w, err, v2UnknownApp(id))
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v2/apps"+spec.ID)
	}
	return httpapi.JSON(w, status, marathon.DeploymentResult{Version: m.versionOf(r.Context(), id, version), DeploymentID: depID})
}

// v2WithID puts the URL's app id into a body that has none, and rejects a
// body naming another app.
func v2WithID(body []byte, id string) ([]byte, error) {
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil || obj == nil {
		return body, nil // FromMarathon reports what is wrong
	}
	got, _ := obj["id"].(string)
	switch {
	case got == "" || obj["id"] == nil:
		obj["id"] = id
	case "/"+strings.Trim(got, "/") != id:
		return nil, &marathon.Error{Message: "Object is not valid", Details: []marathon.Detail{{Path: "/id",
			Errors: []string{fmt.Sprintf("the id %q is not the id of the URL, %q", got, id)}}}}
	default:
		return body, nil
	}
	return json.Marshal(obj)
}

// v2MergeApp applies a partial update (Marathon's AppUpdate) to spec: the
// body's top-level fields replace the app's; null fields are ignored. A
// field that supersedes another (args for cmd, the older ports and uris for
// portDefinitions and fetch, a bridge network for portDefinitions) drops it.
// A body that is not a JSON object is returned as it is, for FromMarathon
// to report.
func v2MergeApp(spec api.AppSpec, body []byte) []byte {
	var patch map[string]any
	if json.Unmarshal(body, &patch) != nil || patch == nil {
		return body
	}
	cur, err := json.Marshal(marathon.ToMarathon(spec, marathon.AppStatus{}))
	if err != nil {
		return body
	}
	var base map[string]any
	if err := json.Unmarshal(cur, &base); err != nil {
		return body
	}
	given := func(k string) bool { return patch[k] != nil }
	for k, v := range patch {
		if v != nil {
			base[k] = v
		}
	}
	supersedes := map[string]string{"args": "cmd", "cmd": "args", "ports": "portDefinitions", "uris": "fetch"}
	for k, old := range supersedes {
		if given(k) && !given(old) {
			delete(base, old)
		}
	}
	if v2Bridged(patch) && !given("portDefinitions") {
		delete(base, "portDefinitions")
	}
	out, err := json.Marshal(base)
	if err != nil {
		return body
	}
	return out
}

// v2Bridged reports whether an app body asks for a bridge network.
func v2Bridged(app map[string]any) bool {
	if c, ok := app["container"].(map[string]any); ok {
		if d, ok := c["docker"].(map[string]any); ok {
			if n, _ := d["network"].(string); strings.EqualFold(n, "BRIDGE") {
				return true
			}
		}
	}
	nets, _ := app["networks"].([]any)
	for _, n := range nets {
		if o, ok := n.(map[string]any); ok && o["mode"] == "container/bridge" {
			return true
		}
	}
	return false
}

// versionOf returns Marathon's name of version v of an app: the time it was
// stored, or now when the app has changed again since.
func (m *marathonAPI) versionOf(ctx context.Context, id string, v int64) string {
	if st, err := m.b.AppStatus(ctx, id); err == nil && st.Version == v && !st.UpdatedAt.IsZero() {
		return marathon.FormatTime(st.UpdatedAt)
	}
	return marathon.FormatTime(m.now())
}

func (m *marathonAPI) deleteApp(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, action := v2AppAction(r.PathValue("id"))
	if id == "" || action != "" {
		return v2Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("DELETE is not supported on %s", r.URL.Path))
	}
	depID, err := m.b.DeleteApp(r.Context(), id, c)
	if err != nil {
		return m.fail(w, err, v2UnknownApp(id))
	}
	return httpapi.JSON(w, http.StatusOK, marathon.DeploymentResult{Version: marathon.FormatTime(m.now()), DeploymentID: depID})
}

func (m *marathonAPI) postAppAction(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id, action := v2AppAction(r.PathValue("id"))
	if id == "" || action != "restart" {
		return v2Error(w, http.StatusMethodNotAllowed, fmt.Sprintf("POST is not supported on %s", r.URL.Path))
	}
	d, err := m.b.RestartApp(r.Context(), id, c)
	if err != nil {
		return m.fail(w, err, v2UnknownApp(id))
	}
	return httpapi.JSON(w, http.StatusOK, m.result(d))
}

// result is the answer of a change that started deployment d.
func (m *marathonAPI) result(d api.Deployment) marathon.DeploymentResult {
	t := d.Started
	if t.IsZero() {
		t = m.now()
	}
	return marathon.DeploymentResult{Version: marathon.FormatTime(t), DeploymentID: d.ID}
}

// listTasks answers GET /v2/tasks: the app tasks that are not ended,
// filtered by ?status= (repeatable, also status[]: running, staging, ...).
func (m *marathonAPI) listTasks(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	ctx := r.Context()
	ts, err := m.b.Tasks(ctx, "")
	if err != nil {
		return m.fail(w, err, "")
	}
	sts, err := m.b.AppStatuses(ctx, false)
	if err != nil {
		return m.fail(w, err, "")
	}
	versions := map[string]map[int64]time.Time{}
	for _, st := range sts {
		versions[st.Spec.ID] = map[int64]time.Time{st.Version: st.UpdatedAt}
	}
	want := map[string]bool{}
	q := r.URL.Query()
	for _, s := range append(q["status"], q["status[]"]...) {
		want["TASK_"+strings.ToUpper(strings.TrimSpace(s))] = true
	}
	out := []marathon.Task{}
	for _, t := range ts {
		for _, mt := range v2Tasks([]api.Task{t}, versions[t.App]) {
			if len(want) == 0 || want[mt.State] {
				out = append(out, mt)
			}
		}
	}
	if v2WantsText(r) {
		return v2TasksText(w, sts, out)
	}
	return httpapi.JSON(w, http.StatusOK, marathon.TasksResponse{Tasks: out})
}

// v2WantsText reports whether a tasks request asks for Marathon's text
// format (Accept: text/plain, as haproxy-marathon-bridge sends it).
func v2WantsText(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/plain") && !strings.Contains(accept, "application/json")
}

// v2TasksText writes Marathon's text/plain task list: for every port of
// every app (by id) a line of the app id with "/" written "_", the port
// and each running task's host:port, tab-separated. Marathon's second
// column is the app's service port; Corral has none (discovery is by DNS
// name), so it is the fixed host port, or 0 for a dynamic one.
func v2TasksText(w http.ResponseWriter, apps []api.AppStatus, ts []marathon.Task) error {
	byApp := map[string][]marathon.Task{}
	for _, t := range ts {
		if t.State == marathon.TaskRunning {
			byApp[t.AppID] = append(byApp[t.AppID], t)
		}
	}
	slices.SortFunc(apps, func(a, b api.AppStatus) int { return cmp.Compare(a.Spec.ID, b.Spec.ID) })
	var b strings.Builder
	for _, st := range apps {
		name := strings.ReplaceAll(strings.Trim(st.Spec.ID, "/"), "/", "_")
		for i, p := range st.Spec.Ports {
			b.WriteString(name + "\t" + strconv.Itoa(p.Port))
			for _, t := range byApp[st.Spec.ID] {
				if i < len(t.Ports) {
					b.WriteString("\t" + t.Host + ":" + strconv.Itoa(t.Ports[i]))
				}
			}
			b.WriteString("\n")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, b.String())
	return err
}

func (m *marathonAPI) listDeployments(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	ds, err := m.b.Deployments(r.Context())
	if err != nil {
		return m.fail(w, err, "")
	}
	out := []marathon.Deployment{}
	for _, d := range ds {
		out = append(out, v2Deployment(d))
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

// cancelDeployment rolls the deployment's app back to the version before
// it (Marathon's DELETE without force) and answers with the rollback. With
// ?force=true Marathon stops without a rollback; Corral always rolls back.
func (m *marathonAPI) cancelDeployment(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	id := r.PathValue("id")
	d, err := m.b.CancelDeployment(r.Context(), id, c)
	if err != nil {
		return m.fail(w, err, fmt.Sprintf("DeploymentPlan %s does not exist", id))
	}
	return httpapi.JSON(w, http.StatusOK, m.result(d))
}

func (m *marathonAPI) getInfo(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
	return httpapi.JSON(w, http.StatusOK, marathon.Info(m.info()))
}

// getLeader answers GET /v2/leader: the leader's host:port, or 404 when
// none is known.
func (m *marathonAPI) getLeader(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
	info := m.info()
	if info.Leader == "" {
		return v2Error(w, http.StatusNotFound, "There is no leader")
	}
	return httpapi.JSON(w, http.StatusOK, map[string]string{"leader": info.Leader})
}

func v2NotFound(err error) bool {
	return err != nil && (errors.Is(err, store.ErrNotFound) || api.StatusOf(err) == http.StatusNotFound)
}

func v2Conflict(err error) bool {
	return err != nil && (errors.Is(err, store.ErrExists) || api.StatusOf(err) == http.StatusConflict)
}

// v2Error writes Marathon's error body {"message": msg}.
func v2Error(w http.ResponseWriter, status int, msg string) error {
	return httpapi.JSON(w, status, marathon.Error{Message: msg})
}

// fail writes err as Marathon does: 400 for a body that is not JSON, 422
// with details for an invalid app, 404 with notFound (when given) for an
// absent app or deployment, and the status of an *api.Error with its
// message. Other errors are returned for httpapi to log and answer 500.
func (m *marathonAPI) fail(w http.ResponseWriter, err error, notFound string) error {
	var me *marathon.Error
	var ae *api.Error
	switch {
	case errors.As(err, &me):
		status := http.StatusUnprocessableEntity
		if me.Message == "Invalid JSON" {
			status = http.StatusBadRequest
		}
		return httpapi.JSON(w, status, me)
	case notFound != "" && v2NotFound(err):
		return v2Error(w, http.StatusNotFound, notFound)
	case errors.As(err, &ae) && len(ae.Fields) > 0:
		return httpapi.JSON(w, http.StatusUnprocessableEntity, marathon.ErrorFromFields(ae.Fields))
	case errors.As(err, &ae) && ae.Status > 0 && ae.Status < 500:
		return v2Error(w, ae.Status, ae.Message)
	case errors.Is(err, store.ErrConflict):
		return v2Error(w, http.StatusConflict, "changed concurrently by another request; retry")
	}
	return err
}
