package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/health"
)

// taskKeyPrefix is the prefix of the task assignment keys: the server puts
// "task/<task id>" = api.TaskAssignment for every task the node runs.
const taskKeyPrefix = "task/"

// Files of a task's directory <data>/tasks/<id>/.
const (
	taskRecordFile = "record.json" // taskRecord, written before the start
	taskLogPosFile = "logpos.json" // how far the task's output was sent
	taskSandboxDir = "sandbox"     // the task's working directory
)

// defaultKillGrace is the time between SIGTERM and SIGKILL when the run
// spec gives none (the docker CLI's default stop timeout).
const defaultKillGrace = 10 * time.Second

// Reasons the agent itself gives.
const (
	reasonUnassigned     = "not assigned to this node"
	reasonKilled         = "killed on request"
	reasonInterrupted    = "the agent stopped while starting the task, and the driver does not know it"
	reasonDockerDownPref = "docker engine not available: "
)

// taskRecord is what the agent keeps of a task on disk, so that a restarted
// agent never starts it again and finds it to watch, stop and report.
type taskRecord struct {
	Assignment api.TaskAssignment `json:"assignment"`
	// Handle is the driver's, once Start returned; nil while starting or
	// when the start failed.
	Handle *driver.Handle `json:"handle,omitempty"`
	// KillReason is set once the agent decided to stop the task: the
	// server's reason, "not assigned to this node", or a health check's
	// failure (HealthKill).
	KillReason string `json:"kill_reason,omitempty"`
	HealthKill bool   `json:"health_kill,omitempty"`
	// Final is the terminal status, once reported (durably: in the spool).
	Final *api.TaskStatus `json:"final,omitempty"`
	// Destroyed says the driver released what the task left.
	Destroyed bool `json:"destroyed,omitempty"`
}

// loadTaskRecords reads every <dir>/<id>/record.json. Unreadable ones are
// returned in bad (their task is never started again: its directory stays).
func loadTaskRecords(dir string) (recs map[string]*taskRecord, bad map[string]error, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read task records: %w", err)
	}
	recs, bad = map[string]*taskRecord{}, map[string]error{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), taskRecordFile))
		if err != nil {
			bad[e.Name()] = err
			continue
		}
		var rec taskRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			bad[e.Name()] = fmt.Errorf("parse %s: %w", taskRecordFile, err)
			continue
		}
		recs[e.Name()] = &rec
	}
	return recs, bad, nil
}

// validTaskID says whether id is safe as a directory name.
func validTaskID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, "/\\\x00") && len(id) <= 255
}

// taskSpec builds the driver's Spec of an assignment: ports with their host
// port from the placement and name, container port and protocol from the
// run spec; the sandbox; limits, fetches, volumes, network, user, image,
// command, env, labels and kill grace.
func taskSpec(as api.TaskAssignment, node, sandbox string) driver.Spec {
	r := as.Run
	spec := driver.Spec{
		ID: as.ID, App: as.App, Node: node,
		Cmd: r.Cmd, Args: r.Args, Image: r.Image,
		Env: r.Env, Labels: r.Labels, User: r.User,
		CPUs: r.CPUs, MemMiB: r.Mem,
		Network:   r.Network,
		Sandbox:   sandbox,
		KillGrace: killGrace(r),
	}
	for i, host := range as.Ports {
		p := driver.Port{Host: host, Protocol: "tcp"}
		if i < len(r.Ports) {
			p.Name, p.Container = r.Ports[i].Name, r.Ports[i].ContainerPort
			if r.Ports[i].Protocol != "" {
				p.Protocol = r.Ports[i].Protocol
			}
		}
		spec.Ports = append(spec.Ports, p)
	}
	for _, f := range r.Fetch {
		spec.Fetch = append(spec.Fetch, driver.Fetch{URI: f.URI, Executable: f.Executable, Extract: f.Extract})
	}
	for _, v := range r.Volumes {
		spec.Volumes = append(spec.Volumes, driver.Volume{HostPath: v.HostPath, ContainerPath: v.ContainerPath,
			ReadOnly: strings.EqualFold(v.Mode, "RO")})
	}
	return spec
}

// killGrace is the run spec's kill grace period, or the default.
func killGrace(r api.RunSpec) time.Duration {
	if r.KillGracePeriod > 0 {
		return time.Duration(r.KillGracePeriod)
	}
	return defaultKillGrace
}

// driverName is the run spec's driver, exec when empty.
func driverName(r api.RunSpec) string {
	if r.Driver == "" {
		return api.DriverExec
	}
	return r.Driver
}

// healthChecks maps an assignment's health checks to the health package's,
// with its defaults in what the server left out.
func healthChecks(hcs []api.HealthCheck) []health.Check {
	out := make([]health.Check, 0, len(hcs))
	for _, hc := range hcs {
		c := health.Check{
			Protocol:               health.Protocol(strings.ToUpper(hc.Protocol)),
			Path:                   hc.Path,
			PortIndex:              hc.PortIndex,
			Port:                   hc.Port,
			Command:                hc.Command,
			GracePeriod:            time.Duration(hc.GracePeriod),
			Interval:               time.Duration(hc.Interval),
			Timeout:                time.Duration(hc.Timeout),
			MaxConsecutiveFailures: hc.MaxConsecutiveFailures,
		}.WithDefaults()
		if c.Timeout > c.Interval {
			c.Timeout = c.Interval
		}
		out = append(out, c)
	}
	return out
}

// startFailure words a failed Start as the task's reason: the driver's
// message without the ErrStartFailed prefix.
func startFailure(err error) string {
	s := err.Error()
	if errors.Is(err, driver.ErrStartFailed) {
		s = strings.TrimPrefix(s, driver.ErrStartFailed.Error()+": ")
	}
	return s
}

// terminalState decides how an ended task is reported: a health kill is
// failed with the check's reason; a task the agent stopped is killed with
// the kill reason; one the driver lost track of is lost; exit code 0 is
// finished; anything else failed with the driver's reason.
func terminalState(st driver.Status, killReason string, healthKill bool) (state, reason string) {
	switch {
	case healthKill:
		return api.TaskFailed, killReason
	case killReason != "":
		return api.TaskKilled, killReason
	case st.State == driver.StateUnknown:
		return api.TaskLost, st.Reason
	case st.ExitCode == 0 && st.Signal == "" && !st.OOM:
		return api.TaskFinished, ""
	}
	if st.Reason != "" {
		return api.TaskFailed, st.Reason
	}
	if st.Signal != "" {
		return api.TaskFailed, "killed by " + st.Signal
	}
	return api.TaskFailed, fmt.Sprintf("exit code %d", st.ExitCode)
}

// aliveState is a running task's state by its health over every check:
// healthy when all pass, unhealthy when one fails, running otherwise.
func aliveState(states []health.State) string {
	switch health.Combine(states...) {
	case health.Healthy:
		return api.TaskHealthy
	case health.Unhealthy:
		return api.TaskUnhealthy
	}
	return api.TaskRunning
}

// parseTaskAssignments picks the task assignments out of a node's
// assignments. Those that do not parse or whose key and id disagree are
// returned in bad, and stand in tasks with an empty Desired when the key
// names a valid task id: the task is still assigned (not stopped as
// unassigned), but nothing is started.
func parseTaskAssignments(all map[string]json.RawMessage) (tasks map[string]api.TaskAssignment, bad map[string]error) {
	tasks, bad = map[string]api.TaskAssignment{}, map[string]error{}
	for key, raw := range all {
		id, ok := strings.CutPrefix(key, taskKeyPrefix)
		if !ok {
			continue
		}
		var as api.TaskAssignment
		err := json.Unmarshal(raw, &as)
		if err == nil && as.ID != id {
			err = fmt.Errorf("task id %q does not fit the key", as.ID)
		}
		if err == nil && !validTaskID(id) {
			err = fmt.Errorf("task id %q is not a valid file name", id)
		}
		if err != nil {
			bad[key] = err
			if validTaskID(id) {
				tasks[id] = api.TaskAssignment{ID: id}
			}
			continue
		}
		tasks[id] = as
	}
	return tasks, bad
}
