package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"corral/internal/api"
)

// idPath turns an app or job id ("/shop/api") into the tail of a URL path
// ("shop/api"): without the leading "/", each segment escaped.
func idPath(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i, s := range segs {
		segs[i] = esc(s)
	}
	return strings.Join(segs, "/")
}

func appPath(id string) string { return "/api/v1/apps/" + idPath(id) }
func jobPath(id string) string { return "/api/v1/jobs/" + idPath(id) }

// Apps lists the apps with their counts and deployments (without tasks).
func (c *Client) Apps(ctx context.Context) ([]api.AppStatus, error) {
	var as []api.AppStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/apps", nil, nil, &as)
	return as, err
}

// App returns one app with its tasks.
func (c *Client) App(ctx context.Context, id string) (api.AppStatus, error) {
	var a api.AppStatus
	err := c.do(ctx, http.MethodGet, appPath(id), nil, nil, &a)
	return a, err
}

// AppTasks lists the tasks of an app.
func (c *Client) AppTasks(ctx context.Context, id string) ([]api.Task, error) {
	var ts []api.Task
	err := c.do(ctx, http.MethodGet, appPath(id)+"/tasks", nil, nil, &ts)
	return ts, err
}

// AppVersions lists the stored versions of an app, newest first.
func (c *Client) AppVersions(ctx context.Context, id string) ([]api.AppVersion, error) {
	var vs []api.AppVersion
	err := c.do(ctx, http.MethodGet, appPath(id)+"/versions", nil, nil, &vs)
	return vs, err
}

// ScaleApp sets an app's instance count (a new version) and returns the
// deployment doing it.
func (c *Client) ScaleApp(ctx context.Context, id string, instances int) (api.Deployment, error) {
	var d api.Deployment
	err := c.do(ctx, http.MethodPost, appPath(id)+"/scale", nil, api.ScaleRequest{Instances: instances}, &d)
	return d, err
}

// RestartApp replaces every task of an app and returns the deployment
// doing it.
func (c *Client) RestartApp(ctx context.Context, id string) (api.Deployment, error) {
	var d api.Deployment
	err := c.do(ctx, http.MethodPost, appPath(id)+"/restart", nil, nil, &d)
	return d, err
}

// RollbackApp applies an earlier version of an app again (version 0: the
// one before the current) and returns the deployment doing it.
func (c *Client) RollbackApp(ctx context.Context, id string, version int64) (api.Deployment, error) {
	var d api.Deployment
	err := c.do(ctx, http.MethodPost, appPath(id)+"/rollback", nil, api.RollbackRequest{Version: version}, &d)
	return d, err
}

// DeleteApp removes an app; every task of it is killed.
func (c *Client) DeleteApp(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, appPath(id), nil, nil, nil)
}

// TaskQuery filters Tasks; empty fields do not filter.
type TaskQuery struct {
	App   string
	Node  string
	State string
}

// Tasks lists the tasks of every app and job.
func (c *Client) Tasks(ctx context.Context, q TaskQuery) ([]api.Task, error) {
	v := url.Values{}
	setIf(v, "app", q.App)
	setIf(v, "node", q.Node)
	setIf(v, "state", q.State)
	var ts []api.Task
	err := c.do(ctx, http.MethodGet, "/api/v1/tasks", v, nil, &ts)
	return ts, err
}

// DeploymentQuery filters Deployments: App selects one app's, All adds the
// finished ones (newest first), Limit bounds the list (0: the server's
// default).
type DeploymentQuery struct {
	App   string
	All   bool
	Limit int
}

// Deployments lists the running deployments (and, with All, finished ones).
func (c *Client) Deployments(ctx context.Context, q DeploymentQuery) ([]api.Deployment, error) {
	v := url.Values{}
	setIf(v, "app", q.App)
	if q.All {
		v.Set("all", "true")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var ds []api.Deployment
	err := c.do(ctx, http.MethodGet, "/api/v1/deployments", v, nil, &ds)
	return ds, err
}

// Deployment returns one deployment, running or finished.
func (c *Client) Deployment(ctx context.Context, id string) (api.Deployment, error) {
	var d api.Deployment
	err := c.do(ctx, http.MethodGet, "/api/v1/deployments/"+esc(id), nil, nil, &d)
	return d, err
}

// CancelDeployment cancels a running deployment by rolling its app back to
// the version before it, and returns that rollback deployment.
func (c *Client) CancelDeployment(ctx context.Context, id string) (api.Deployment, error) {
	var d api.Deployment
	err := c.do(ctx, http.MethodDelete, "/api/v1/deployments/"+esc(id), nil, nil, &d)
	return d, err
}

// Jobs lists the jobs.
func (c *Client) Jobs(ctx context.Context) ([]api.JobStatus, error) {
	var js []api.JobStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, nil, &js)
	return js, err
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id string) (api.JobStatus, error) {
	var j api.JobStatus
	err := c.do(ctx, http.MethodGet, jobPath(id), nil, nil, &j)
	return j, err
}

// RunJob starts a manual run of a job and returns it (state active).
func (c *Client) RunJob(ctx context.Context, id string) (api.JobRun, error) {
	var r api.JobRun
	err := c.do(ctx, http.MethodPost, jobPath(id)+"/run", nil, nil, &r)
	return r, err
}

// JobRuns lists a job's runs, newest first; limit 0 is the server's default.
func (c *Client) JobRuns(ctx context.Context, id string, limit int) ([]api.JobRun, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var rs []api.JobRun
	err := c.do(ctx, http.MethodGet, jobPath(id)+"/runs", v, nil, &rs)
	return rs, err
}

// DeleteJob removes a job.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, jobPath(id), nil, nil, nil)
}

// LogQuery selects log lines; empty fields do not filter. Since is a
// duration back from now ("10m") or an RFC 3339 time, passed to the server
// as given. Limit is how many of the newest lines (0: the server's default,
// 100).
type LogQuery struct {
	// Q is a query in the log query language (docs/logs.md).
	Q     string
	App   string
	Task  string
	Run   string
	Since string
	Until string
	Limit int
	// Desc asks for the newest first; Cursor continues after a page.
	Desc   bool
	Cursor string
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	setIf(v, "q", q.Q)
	setIf(v, "app", q.App)
	setIf(v, "task", q.Task)
	setIf(v, "run", q.Run)
	setIf(v, "since", q.Since)
	setIf(v, "until", q.Until)
	setIf(v, "cursor", q.Cursor)
	if q.Desc {
		v.Set("order", "desc")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Logs returns the log lines that match q, oldest first.
func (c *Client) Logs(ctx context.Context, q LogQuery) ([]api.LogEntry, error) {
	var es []api.LogEntry
	err := c.do(ctx, http.MethodGet, "/api/v1/logs", q.values(), nil, &es)
	return es, err
}

// FollowLogs follows the log lines that match q (server-sent events, the
// recent lines first) and calls fn for each, until ctx ends, fn returns an
// error or the stream ends. An ended ctx is not an error.
func (c *Client) FollowLogs(ctx context.Context, q LogQuery, fn func(api.LogEntry) error) error {
	v := q.values()
	v.Set("follow", "true")
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/logs", v, nil, "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				var e api.LogEntry
				if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
					return fmt.Errorf("log stream: %w", err)
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			data.Reset()
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	return nil
}

func setIf(v url.Values, key, value string) {
	if value != "" {
		v.Set(key, value)
	}
}
