package marathon

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
)

// TimeLayout is how Marathon writes times: UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t as Marathon does: "2014-09-12T23:28:21.737Z".
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Time is a time that is written as Marathon writes times, and as null
// when zero.
type Time time.Time

// MarshalJSON writes the time, or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(FormatTime(time.Time(t)))
}

// UnmarshalJSON reads an RFC 3339 time or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil {
		*t = Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return fmt.Errorf("time %q: %w", *s, err)
	}
	*t = Time(v)
	return nil
}

// Task states, as Mesos names them.
const (
	TaskStaging     = "TASK_STAGING"
	TaskStarting    = "TASK_STARTING"
	TaskRunning     = "TASK_RUNNING"
	TaskKilling     = "TASK_KILLING"
	TaskFinished    = "TASK_FINISHED"
	TaskFailed      = "TASK_FAILED"
	TaskKilled      = "TASK_KILLED"
	TaskLost        = "TASK_LOST"
	TaskUnreachable = "TASK_UNREACHABLE"
)

// Task is an instance of an app as /v2/apps/{id}/tasks and /v2/tasks show it.
type Task struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	SlaveID            string              `json:"slaveId,omitempty"` // the node
	Ports              []int               `json:"ports"`
	StagedAt           Time                `json:"stagedAt"`
	StartedAt          Time                `json:"startedAt"`
	Version            string              `json:"version,omitempty"` // of the app spec it runs
	State              string              `json:"state"`
	HealthCheckResults []HealthCheckResult `json:"healthCheckResults,omitempty"`
}

// HealthCheckResult is the state of one health check of a task, in the
// order of the app's health checks.
type HealthCheckResult struct {
	TaskID              string `json:"taskId"`
	Alive               bool   `json:"alive"`
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	FirstSuccess        Time   `json:"firstSuccess"`
	LastSuccess         Time   `json:"lastSuccess"`
	LastFailure         Time   `json:"lastFailure"`
	LastFailureCause    string `json:"lastFailureCause,omitempty"`
}

// TasksResponse is the answer of GET /v2/apps/{id}/tasks and /v2/tasks.
type TasksResponse struct {
	Tasks []Task `json:"tasks"`
}

// Deployment actions, as Marathon names them.
const (
	ActionStart   = "StartApplication"
	ActionStop    = "StopApplication"
	ActionScale   = "ScaleApplication"
	ActionRestart = "RestartApplication"
	ActionKillAll = "KillAllOldTasksOf"
	ActionResolve = "ResolveArtifacts"
)

// Action is one thing a deployment step does to an app.
type Action struct {
	Action string `json:"action"`
	App    string `json:"app"`
}

// Step is one step of a deployment: actions done together.
type Step struct {
	Actions []Action `json:"actions"`
}

// Deployment is a change in progress, as GET /v2/deployments lists it.
// CurrentStep counts from 1.
type Deployment struct {
	ID             string   `json:"id"`
	Version        string   `json:"version"`
	AffectedApps   []string `json:"affectedApps"`
	AffectedPods   []string `json:"affectedPods"`
	Steps          []Step   `json:"steps"`
	CurrentActions []Action `json:"currentActions"`
	CurrentStep    int      `json:"currentStep"`
	TotalSteps     int      `json:"totalSteps"`
}

// NewDeployment builds a Deployment with its lists non-nil, its affected
// apps taken from the steps and TotalSteps counted.
func NewDeployment(id string, version time.Time, steps []Step, current int) Deployment {
	d := Deployment{ID: id, Version: FormatTime(version), AffectedApps: []string{}, AffectedPods: []string{},
		Steps: orEmptySlice(steps), CurrentActions: []Action{}, CurrentStep: current, TotalSteps: len(steps)}
	for _, s := range steps {
		for _, a := range s.Actions {
			if !slices.Contains(d.AffectedApps, a.App) {
				d.AffectedApps = append(d.AffectedApps, a.App)
			}
		}
	}
	if current >= 1 && current <= len(steps) {
		d.CurrentActions = orEmptySlice(steps[current-1].Actions)
	}
	return d
}

// DeploymentResult is the answer of a change (PUT or DELETE of an app,
// POST of a restart): the new version and the deployment doing it.
type DeploymentResult struct {
	Version      string `json:"version"`
	DeploymentID string `json:"deploymentId"`
}

// InfoParams is what the server knows of itself for GET /v2/info.
type InfoParams struct {
	Version     string // Corral's version
	Elected     bool   // this server is the leader
	Leader      string // host:port of the leader's HTTP API
	FrameworkID string // the cluster id
	Hostname    string
	HTTPPort    int
	HA          bool // more than one server
	// LocalPortMin and LocalPortMax are the dynamic port range of nodes.
	LocalPortMin, LocalPortMax int
}

// InfoResponse is the answer of GET /v2/info.
type InfoResponse struct {
	Name           string         `json:"name"`
	Version        string         `json:"version"`
	Elected        bool           `json:"elected"`
	Leader         string         `json:"leader"`
	FrameworkID    string         `json:"frameworkId"`
	MarathonConfig MarathonConfig `json:"marathon_config"`
	HTTPConfig     HTTPConfig     `json:"http_config"`
}

// MarathonConfig is the marathon_config part of /v2/info.
type MarathonConfig struct {
	Master       string `json:"master"`
	Hostname     string `json:"hostname"`
	HA           bool   `json:"ha"`
	Checkpoint   bool   `json:"checkpoint"`
	LocalPortMin int    `json:"local_port_min"`
	LocalPortMax int    `json:"local_port_max"`
	MesosRole    string `json:"mesos_role"`
	MesosUser    string `json:"mesos_user"`
}

// HTTPConfig is the http_config part of /v2/info.
type HTTPConfig struct {
	HTTPPort int `json:"http_port"`
}

// Info renders GET /v2/info for a Corral server. "master" is "corral":
// there is no Mesos master.
func Info(p InfoParams) InfoResponse {
	return InfoResponse{
		Name: "corral", Version: p.Version, Elected: p.Elected, Leader: p.Leader, FrameworkID: p.FrameworkID,
		MarathonConfig: MarathonConfig{Master: "corral", Hostname: p.Hostname, HA: p.HA, Checkpoint: true,
			LocalPortMin: p.LocalPortMin, LocalPortMax: p.LocalPortMax, MesosRole: "*", MesosUser: "root"},
		HTTPConfig: HTTPConfig{HTTPPort: p.HTTPPort},
	}
}

// Error is Marathon's error body: {"message": "...", "details": [{"path":
// "/cpus", "errors": ["..."]}]}. It is also the error FromMarathon returns.
type Error struct {
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

// Detail is what is wrong at one JSON path.
type Detail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	parts := make([]string, 0, len(e.Details))
	for _, d := range e.Details {
		parts = append(parts, d.Path+": "+strings.Join(d.Errors, ", "))
	}
	return e.Message + " (" + strings.Join(parts, "; ") + ")"
}

// ErrorFromFields turns the field errors of AppSpec.Validate into
// Marathon's error body, with the paths of Marathon's app JSON
// ("health_checks[0].grace_period" → "/healthChecks(0)/gracePeriodSeconds"),
// sorted by path.
func ErrorFromFields(fe api.FieldErrors) *Error {
	e := &Error{Message: "Object is not valid"}
	for k, v := range fe {
		e.Details = append(e.Details, Detail{Path: MarathonPath(k), Errors: []string{v}})
	}
	slices.SortFunc(e.Details, func(a, b Detail) int { return strings.Compare(a.Path, b.Path) })
	return e
}

// topPaths maps the first element of a spec field path to Marathon's.
var topPaths = map[string]string{
	"driver":            "/container/type",
	"image":             "/container/docker/image",
	"network":           "/container/docker/network",
	"ports":             "/portDefinitions",
	"volumes":           "/container/volumes",
	"kill_grace_period": "/taskKillGracePeriodSeconds",
	"backoff.initial":   "/backoffSeconds",
	"backoff.factor":    "/backoffFactor",
	"backoff.max":       "/maxLaunchDelaySeconds",
	"depends_on":        "/dependencies",
}

// subPaths maps names inside objects where Marathon's are not simply
// camel case.
var subPaths = map[string]string{
	"grace_period": "gracePeriodSeconds",
	"interval":     "intervalSeconds",
	"timeout":      "timeoutSeconds",
	"command":      "command/value",
}

var indexRE = regexp.MustCompile(`\[(\d+)\]`)

// MarathonPath maps a field path of an AppSpec to the JSON path of
// Marathon's app.
func MarathonPath(field string) string {
	if p, ok := topPaths[field]; ok {
		return p
	}
	parts := strings.Split(field, ".")
	var b strings.Builder
	for i, part := range parts {
		name, index, _ := strings.Cut(part, "[")
		if index != "" {
			index = "[" + index
		}
		switch {
		case i == 0 && topPaths[name] != "":
			b.WriteString(topPaths[name])
		case i > 0 && subPaths[name] != "":
			b.WriteString("/" + subPaths[name])
		default:
			b.WriteString("/" + camel(name))
		}
		b.WriteString(indexRE.ReplaceAllString(index, "($1)"))
	}
	return b.String()
}

// camel turns snake_case into camelCase.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
