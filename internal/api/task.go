package api

import (
	"strings"
	"time"
)

// Task states: the life of one instance of an app or one attempt of a job
// run. A task goes staging → starting → running → (healthy | unhealthy) →
// killing → one of the terminal states finished, failed, killed or lost.
const (
	TaskStaging   = "staging"   // placed and assigned; the agent has not started it
	TaskStarting  = "starting"  // the agent fetches and starts it
	TaskRunning   = "running"   // runs; no health checks, or none decided yet
	TaskHealthy   = "healthy"   // runs and passes its health checks
	TaskUnhealthy = "unhealthy" // runs and fails a health check
	TaskKilling   = "killing"   // asked to stop
	TaskFinished  = "finished"  // ended by itself with exit code 0
	TaskFailed    = "failed"    // ended by itself otherwise, or could not start
	TaskKilled    = "killed"    // stopped on request (scale down, upgrade, health)
	TaskLost      = "lost"      // its node went down; its state is unknown
)

// TaskTerminal reports whether a task in state s will not change again.
func TaskTerminal(s string) bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskLost:
		return true
	}
	return false
}

// TaskAlive reports whether a task in state s is started and not ending.
func TaskAlive(s string) bool {
	switch s {
	case TaskRunning, TaskHealthy, TaskUnhealthy:
		return true
	}
	return false
}

// What a task assignment asks of the agent.
const (
	DesiredRun  = "run"
	DesiredKill = "kill"
)

// Task kinds.
const (
	TaskKindApp = "app"
	TaskKindJob = "job"
)

// TaskAssignment is the value of the assignment key "task/<task id>" of a
// node: one task the agent starts (once: a task ID is never started twice)
// and keeps watching until Desired is "kill" or the key is deleted, either
// of which stops it. The agent never restarts a task by itself; the server
// replaces an ended task with a new one (a new ID).
type TaskAssignment struct {
	ID      string  `json:"id"`
	Kind    string  `json:"kind"`    // app or job
	App     string  `json:"app"`     // the app or job id
	Version int64   `json:"version"` // of the app or job spec the task runs
	Run     RunSpec `json:"run"`     // with defaults filled
	// Ports are the host ports placement gave, in the order of Run.Ports.
	Ports        []int         `json:"ports,omitempty"`
	HealthChecks []HealthCheck `json:"health_checks,omitempty"` // with defaults filled
	Desired      string        `json:"desired"`                 // run or kill
	KillReason   string        `json:"kill_reason,omitempty"`   // why it is killed, for the report
	StagedAt     time.Time     `json:"staged_at"`
}

// TaskHealth is the state of one health check of a task, in the order of
// the app's health checks.
type TaskHealth struct {
	Alive               bool      `json:"alive"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	FirstSuccess        time.Time `json:"first_success,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastFailure         time.Time `json:"last_failure,omitzero"`
	LastFailureCause    string    `json:"last_failure_cause,omitempty"`
}

// TaskStatus is what an agent reports of a task (report type "task", a JSON
// list of TaskStatus): every change of state, and every change of health.
type TaskStatus struct {
	ID    string `json:"id"`
	App   string `json:"app"`
	Node  string `json:"node"`
	State string `json:"state"`
	// Reason says in words why a task failed, was killed or could not start:
	// "exit code 3", "killed by SIGKILL", "OOM: exceeded 128 MiB", "image
	// shop/api:1.4 not found", "health check 0 failed 3 times: HTTP 500".
	Reason     string       `json:"reason,omitempty"`
	ExitCode   *int         `json:"exit_code,omitempty"`
	Signal     string       `json:"signal,omitempty"`
	OOM        bool         `json:"oom,omitempty"`
	PID        int          `json:"pid,omitempty"`
	Health     []TaskHealth `json:"health,omitempty"`
	StartedAt  time.Time    `json:"started_at,omitzero"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
	Time       time.Time    `json:"time"` // when the agent saw it
}

// Task is a task as the API shows it (GET /api/v1/tasks) and as the server
// stores it: where it was placed, what it runs and the last status its agent
// reported.
type Task struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"` // app or job
	App     string `json:"app"`
	Version int64  `json:"version"`
	// Config identifies what the task runs (the spec without instances, and
	// the restart generation): tasks with another Config are replaced by a
	// deployment.
	Config string `json:"config"`
	Run    string `json:"run,omitempty"` // job tasks: the run id
	Node   string `json:"node"`
	Ports  []int  `json:"ports,omitempty"`
	// CPUs, Mem and Disk (MiB) are what the task was placed with.
	CPUs    float64 `json:"cpus,omitempty"`
	Mem     int64   `json:"mem,omitempty"`
	Disk    int64   `json:"disk,omitempty"`
	Desired string  `json:"desired"` // run or kill
	// KillReason says why the server asked the task to stop.
	KillReason string `json:"kill_reason,omitempty"`

	State      string       `json:"state"`
	Reason     string       `json:"reason,omitempty"`
	ExitCode   *int         `json:"exit_code,omitempty"`
	Signal     string       `json:"signal,omitempty"`
	OOM        bool         `json:"oom,omitempty"`
	Health     []TaskHealth `json:"health,omitempty"`
	StagedAt   time.Time    `json:"staged_at"`
	StartedAt  time.Time    `json:"started_at,omitzero"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
	UpdatedAt  time.Time    `json:"updated_at,omitzero"` // last status from the agent
}

// TaskID returns a new task id for an app or job: its path with "/" turned
// into "_" and a unique suffix ("shop_api.4f2a9c0d1e3b"), as Marathon names
// tasks. It is safe as a file and container name.
func TaskID(app, suffix string) string {
	return strings.ReplaceAll(strings.Trim(app, "/"), "/", "_") + "." + suffix
}

// Deployment states.
const (
	DeploymentRunning   = "running"
	DeploymentSucceeded = "succeeded"
	DeploymentCanceled  = "canceled"
	DeploymentReplaced  = "replaced" // a newer change of the app took over
)

// Deployment kinds: what changed.
const (
	DeployStart    = "start"    // a new app
	DeployUpgrade  = "upgrade"  // a new spec: tasks are replaced
	DeployScale    = "scale"    // only instances changed
	DeployRestart  = "restart"  // same spec, tasks replaced
	DeployRollback = "rollback" // an earlier spec applied again
	DeployStop     = "stop"     // the app was removed: every task killed
)

// Deployment is one change of an app being carried out (GET
// /api/v1/deployments) or carried out (its history, kept in the history
// store).
type Deployment struct {
	ID          string    `json:"id"`
	App         string    `json:"app"`
	Kind        string    `json:"kind"`
	Version     int64     `json:"version"`      // the app version deployed
	FromVersion int64     `json:"from_version"` // the version before, 0 for a new app
	State       string    `json:"state"`
	Instances   int       `json:"instances"` // the target
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	// Progress counts the target's tasks.
	Progress DeploymentProgress `json:"progress"`
	// Waiting says in words what the deployment waits for: instances that
	// cannot be placed ("needs 128 MiB, 2 nodes have less; hostname UNIQUE
	// excludes 1 node"), dependencies not healthy, a backoff.
	Waiting string `json:"waiting,omitempty"`
	By      string `json:"by,omitempty"` // who caused it
}

// DeploymentProgress counts tasks of a deployment.
type DeploymentProgress struct {
	New     int `json:"new"`     // tasks of the target config, not ended
	Healthy int `json:"healthy"` // of those, ready (healthy, or running without checks)
	Old     int `json:"old"`     // tasks of other configs still running
}

// AppStatus is an app as GET /api/v1/apps/{id} shows it: its spec, version
// and the state of its tasks and deployments.
type AppStatus struct {
	Spec           AppSpec      `json:"spec"`
	Version        int64        `json:"version"`
	UpdatedAt      time.Time    `json:"updated_at"`
	Instances      int          `json:"instances"`
	TasksStaged    int          `json:"tasks_staged"`
	TasksRunning   int          `json:"tasks_running"`
	TasksHealthy   int          `json:"tasks_healthy"`
	TasksUnhealthy int          `json:"tasks_unhealthy"`
	Deployments    []Deployment `json:"deployments,omitempty"`
	// Waiting is the running deployment's Waiting, or why the app is not at
	// its instance count without one (a backoff after failures).
	Waiting     string       `json:"waiting,omitempty"`
	LastFailure *TaskFailure `json:"last_failure,omitempty"`
	Tasks       []Task       `json:"tasks,omitempty"`
}

// TaskFailure is the last failed task of an app, so `corral app show` says
// why instances keep failing.
type TaskFailure struct {
	Task    string    `json:"task"`
	Node    string    `json:"node"`
	State   string    `json:"state"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
	Version int64     `json:"version"`
}

// AppVersion is one stored version of an app's spec (GET
// /api/v1/apps/{id}/versions).
type AppVersion struct {
	Version   int64     `json:"version"`
	Spec      AppSpec   `json:"spec"`
	CreatedAt time.Time `json:"created_at"`
	By        string    `json:"by,omitempty"`
}

// ScaleRequest is the body of POST /api/v1/apps/{id}/scale.
type ScaleRequest struct {
	Instances int `json:"instances"`
}

// RollbackRequest is the body of POST /api/v1/apps/{id}/rollback and
// /api/v1/resources/{kind}/{name}/rollback: Version 0 means the version
// before the current one.
type RollbackRequest struct {
	Version int64 `json:"version,omitempty"`
}

// Job run outcomes.
const (
	RunActive    = "active"    // started, not ended
	RunSucceeded = "succeeded" // exit code 0
	RunFailed    = "failed"    // failed after its retries
	RunMissed    = "missed"    // not started: its starting deadline passed, or skipped (FORBID)
	RunKilled    = "killed"    // replaced (REPLACE) or killed on request
)

// JobRun is one run of a job: its attempts (tasks) and how it ended.
type JobRun struct {
	ID        string    `json:"id"`
	Job       string    `json:"job"`
	Version   int64     `json:"version"`
	Scheduled time.Time `json:"scheduled,omitzero"` // the due time; zero for a manual run
	Manual    bool      `json:"manual,omitempty"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Attempts  int       `json:"attempts"`
	Task      string    `json:"task,omitempty"`  // the current or last attempt
	Tasks     []string  `json:"tasks,omitempty"` // every attempt, oldest first
	Node      string    `json:"node,omitempty"`
	ExitCode  *int      `json:"exit_code,omitempty"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// Duration is Finished - Started in seconds.
	Duration float64 `json:"duration,omitempty"`
}

// JobStatus is a job as GET /api/v1/jobs/{id} shows it.
type JobStatus struct {
	Spec      JobSpec   `json:"spec"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	NextRun   time.Time `json:"next_run,omitzero"`
	Active    []JobRun  `json:"active,omitempty"`
	LastRun   *JobRun   `json:"last_run,omitempty"`
}

// SchedulerStatus is the answer of GET /api/v1/scheduler: which server
// leads the scheduler (elected through etcd), and whether it is the server
// answering.
type SchedulerStatus struct {
	Leader  string `json:"leader"`
	Leading bool   `json:"leading"`
}
