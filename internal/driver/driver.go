// Package driver runs the tasks of apps and jobs on a node. A Driver starts a
// task from a Spec, waits for it, stops it and finds it again after the agent
// restarts (tasks outlive the agent). Implementations live in sub-packages:
// exec (processes under a small supervisor, with cgroup limits), docker (the
// Docker Engine API) and mock (scripted tasks for tests and simulations);
// drivertest is the conformance suite every implementation passes.
//
// The agent imports this package and the implementations it registers in one
// map literal; the scheduler and the server never do.
package driver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Spec is one task to run. The agent fills it from the app or job spec and
// the placement (ports, node).
type Spec struct {
	ID   string // task ID, unique in the cluster; safe as a file or container name
	App  string // app or job ID ("/shop/api")
	Node string // this node's name

	// Cmd runs under `sh -c`; else Args is the argv (exec: Args[0] is the
	// program; docker: overrides the image's command). For docker, an empty
	// Cmd and Args run the image's own command.
	Cmd  string
	Args []string

	Image string // docker: the image; pulled only if absent

	Env    map[string]string // besides PORT0..n, PORT_<NAME>, HOST, CORRAL_* the agent adds
	Labels map[string]string
	User   string // run as this user (exec: by name or uid; docker: as the engine takes it)

	// Ports are the host ports the placement gave, in the app's order.
	Ports []Port

	CPUs   float64 // shares/quota where the node can enforce them; 0: no limit
	MemMiB int64   // hard memory limit; exceeding it kills the task (OOM); 0: no limit

	Fetch   []Fetch  // downloaded into the sandbox before the start (exec)
	Volumes []Volume // docker bind mounts

	// Network is "host" (default: the task binds its host ports itself, as
	// Marathon's HOST mode) or "bridge" (docker maps each Port.Container to
	// Port.Host where the engine has a bridge).
	Network string

	// Sandbox is the task's own directory on the node (exec: its working
	// directory and where stdout/stderr files go). The agent creates it.
	Sandbox string

	// KillGrace is how long Stop waits after SIGTERM before SIGKILL.
	KillGrace time.Duration
	// LogMaxBytes caps each of stdout and stderr on disk (rotated once to
	// <file>.1); 0: 10 MiB.
	LogMaxBytes int64
}

// Port is one host port of a task.
type Port struct {
	Name      string // from the app spec, may be empty
	Host      int    // the port on the node
	Container int    // bridge networking: the port inside the container (0: same as Host)
	Protocol  string // "tcp" (default) or "udp"
}

// Fetch is a URI to download into the sandbox, as Marathon's fetch.
type Fetch struct {
	URI        string // http(s):// or file://
	Executable bool   // chmod +x the downloaded file
	Extract    *bool  // nil: extract .tar, .tar.gz, .tgz, .zip by extension
	DestPath   string // relative to the sandbox; default the URI's base name
}

// Volume is a bind mount for docker.
type Volume struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Handle is what the agent persists to find a task again after a restart.
// Data is the driver's own (a supervisor's pid and socket, a container ID).
type Handle struct {
	TaskID string          `json:"task_id"`
	Driver string          `json:"driver"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// State is where a task is in its life on the node.
type State string

const (
	StateRunning State = "running"
	StateExited  State = "exited"  // ended by itself or by Stop
	StateUnknown State = "unknown" // the driver lost track of it (e.g. container removed)
)

// Status is what a driver knows about a task.
type Status struct {
	State    State  `json:"state"`
	PID      int    `json:"pid,omitempty"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`  // "SIGKILL" when killed by a signal
	OOM      bool   `json:"oom,omitempty"`     // killed for exceeding its memory limit
	Stopped  bool   `json:"stopped,omitempty"` // ended by Stop, not by itself
	// Reason says in words why a task failed or could not start: "exit code
	// 3", "killed by SIGKILL", "OOM: exceeded 128 MiB", "image shop/api:1.4
	// not found", "exec: ./api: no such file or directory".
	Reason     string    `json:"reason,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// ErrStartFailed wraps every error of Start that is the task's fault (a
// missing image or program, a fetch that fails): the agent reports the task
// failed with the error's text and backs off, rather than retrying at once.
var ErrStartFailed = errors.New("task failed to start")

// Driver runs tasks of one kind. Methods are safe for concurrent use.
type Driver interface {
	// Name is the spec's `driver:` value ("exec", "docker", "mock").
	Name() string
	// Start launches the task and returns once it runs (or failed to).
	Start(ctx context.Context, spec Spec) (Handle, error)
	// Wait blocks until the task ends or ctx ends, and returns its final
	// Status. It works on a Handle from Start or from Recover.
	Wait(ctx context.Context, h Handle) (Status, error)
	// Inspect returns the task's status now, without blocking.
	Inspect(ctx context.Context, h Handle) (Status, error)
	// Stop sends SIGTERM (or the engine's stop), waits up to grace, then
	// kills. Stopping an ended task is not an error.
	Stop(ctx context.Context, h Handle, grace time.Duration) error
	// Destroy releases what the task left (container, cgroup, supervisor
	// state) once it has ended. The sandbox directory is the agent's.
	Destroy(ctx context.Context, h Handle) error
}

// Recoverer is a Driver that can list the tasks it runs on this node, so an
// agent that lost its own records still finds them (and kills strays).
type Recoverer interface {
	Recover(ctx context.Context) ([]Handle, error)
}

// Logger is a Driver that serves a task's output.
type Logger interface {
	// Logs returns stdout and stderr interleaved as written (best effort for
	// exec, exact for docker); with follow it stays open until ctx ends or
	// the task ends.
	Logs(ctx context.Context, h Handle, follow bool) (io.ReadCloser, error)
}

// TaskEnv is the environment every driver gives a task: the spec's Env,
// then what Corral sets (these win): PORT0..n, PORT (= PORT0), PORTS (a
// comma list), PORT_<NAME>, HOST (the spec's HOST, else the node name),
// CORRAL_APP_ID, CORRAL_TASK_ID and CORRAL_NODE. Ports are the host ports
// (the process binds them itself, Marathon's HOST mode), except on a bridge
// network (any but host), where a port with a container port is that port: the one the
// process binds inside the container. Drivers add their own (exec: PATH,
// HOME, CORRAL_SANDBOX).
func TaskEnv(spec Spec) map[string]string {
	env := make(map[string]string, len(spec.Env)+len(spec.Ports)+8)
	for k, v := range spec.Env {
		env[k] = v
	}
	ports := make([]string, 0, len(spec.Ports))
	for i, p := range spec.Ports {
		v := strconv.Itoa(p.Host)
		if spec.Network != "" && spec.Network != "host" && p.Container != 0 {
			v = strconv.Itoa(p.Container) // what the process binds inside the container
		}
		ports = append(ports, v)
		env["PORT"+strconv.Itoa(i)] = v
		if i == 0 {
			env["PORT"] = v
		}
		if p.Name != "" {
			env["PORT_"+EnvName(p.Name)] = v
		}
	}
	if len(ports) > 0 {
		env["PORTS"] = strings.Join(ports, ",")
	}
	if spec.Env["HOST"] == "" {
		env["HOST"] = spec.Node
	}
	env["CORRAL_APP_ID"] = spec.App
	env["CORRAL_TASK_ID"] = spec.ID
	env["CORRAL_NODE"] = spec.Node
	return env
}

// EnvName turns a port name into an env suffix: "http-alt" → "HTTP_ALT".
func EnvName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
