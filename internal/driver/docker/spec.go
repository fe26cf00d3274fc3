package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"corral/internal/driver"
)

// Labels the driver puts on every container, so that Recover finds them
// again and people can tell whose they are (`docker ps --filter`).
const (
	LabelTask = "corral.task"
	LabelApp  = "corral.app"
	LabelNode = "corral.node"
)

// defaultLogMaxBytes is the cap of a container's log when the Spec gives
// none (driver.Spec.LogMaxBytes).
const defaultLogMaxBytes = 10 << 20

// ContainerName is the name of the container of task id.
func ContainerName(taskID string) string { return "corral-" + taskID }

// handleData is what a Handle of this driver carries.
type handleData struct {
	ContainerID string `json:"container_id"`
}

// newHandle returns the Handle of task id in container cid.
func newHandle(taskID, cid string) driver.Handle {
	data, _ := json.Marshal(handleData{ContainerID: cid}) // cannot fail: one string field
	return driver.Handle{TaskID: taskID, Driver: Name, Data: data}
}

// containerRef returns the container ID a Handle names, or the container's
// name when the Handle carries no data (a Handle the agent made up from a
// task ID alone).
func containerRef(h driver.Handle) (string, error) {
	if len(h.Data) > 0 {
		var d handleData
		if err := json.Unmarshal(h.Data, &d); err != nil {
			return "", fmt.Errorf("docker handle of task %s: %w", h.TaskID, err)
		}
		if d.ContainerID != "" {
			return d.ContainerID, nil
		}
	}
	if h.TaskID == "" {
		return "", fmt.Errorf("docker handle has neither a container ID nor a task ID")
	}
	return ContainerName(h.TaskID), nil
}

// createConfig turns a Spec into the engine's container configuration, as
// `docker run` would: Args replace the image's command (its entrypoint
// stays), Cmd runs under `/bin/sh -c` in place of the entrypoint, Env and
// Labels are passed as given (the corral.* labels win), Network "host"
// (or "") shares the node's network and anything else names an engine
// network whose container ports are published on the Spec's host ports.
// The restart policy is "no": the agent restarts tasks. hardCPU makes
// CPUs a quota (NanoCPUs) instead of a relative weight (CPUShares).
func createConfig(spec driver.Spec, hardCPU bool) (*container.Config, *container.HostConfig, error) {
	if spec.ID == "" {
		return nil, nil, fmt.Errorf("task has no ID")
	}
	if spec.Image == "" {
		return nil, nil, fmt.Errorf("task %s: docker needs an image", spec.ID)
	}
	if spec.CPUs < 0 || spec.MemMiB < 0 {
		return nil, nil, fmt.Errorf("task %s: negative CPU or memory limit", spec.ID)
	}
	cfg := &container.Config{
		Image:  spec.Image,
		User:   spec.User,
		Env:    envList(driver.TaskEnv(spec)),
		Labels: labels(spec),
	}
	switch {
	case spec.Cmd != "":
		cfg.Entrypoint = []string{"/bin/sh", "-c"}
		cfg.Cmd = []string{spec.Cmd}
	case len(spec.Args) > 0:
		cfg.Cmd = slices.Clone(spec.Args)
	}
	if spec.KillGrace > 0 {
		secs := graceSeconds(spec.KillGrace)
		cfg.StopTimeout = &secs
	}

	maxBytes := spec.LogMaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultLogMaxBytes
	}
	host := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		LogConfig: container.LogConfig{
			Type: "json-file",
			// One rotation, as the exec driver keeps <file> and <file>.1.
			Config: map[string]string{"max-size": strconv.FormatInt(maxBytes, 10), "max-file": "2"},
		},
	}
	if spec.MemMiB > 0 {
		host.Memory = spec.MemMiB << 20
		host.MemorySwap = host.Memory // no swap: exceeding the limit kills
	}
	if spec.CPUs > 0 {
		if hardCPU {
			host.NanoCPUs = int64(spec.CPUs * 1e9)
		} else {
			host.CPUShares = max(int64(spec.CPUs*1024), 2) // the engine's minimum
		}
	}
	for _, v := range spec.Volumes {
		if v.HostPath == "" || v.ContainerPath == "" {
			return nil, nil, fmt.Errorf("task %s: volume needs a host and a container path", spec.ID)
		}
		bind := v.HostPath + ":" + v.ContainerPath
		if v.ReadOnly {
			bind += ":ro"
		}
		host.Binds = append(host.Binds, bind)
	}

	switch spec.Network {
	case "", "host":
		host.NetworkMode = "host"
	default:
		host.NetworkMode = container.NetworkMode(spec.Network)
		exposed, bindings, err := portMap(spec.Ports)
		if err != nil {
			return nil, nil, fmt.Errorf("task %s: %w", spec.ID, err)
		}
		cfg.ExposedPorts = exposed
		host.PortBindings = bindings
	}
	return cfg, host, nil
}

// portMap publishes each Port.Container (or Port.Host when 0) on Port.Host.
func portMap(ports []driver.Port) (network.PortSet, network.PortMap, error) {
	if len(ports) == 0 {
		return nil, nil, nil
	}
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, nil, fmt.Errorf("port %d: protocol %q is neither tcp nor udp", p.Host, p.Protocol)
		}
		inside := p.Container
		if inside == 0 {
			inside = p.Host
		}
		if p.Host <= 0 || p.Host > 65535 || inside <= 0 || inside > 65535 {
			return nil, nil, fmt.Errorf("port %d->%d out of range", p.Host, inside)
		}
		port, ok := network.PortFrom(uint16(inside), network.IPProtocol(proto))
		if !ok {
			return nil, nil, fmt.Errorf("port %d/%s is not valid", inside, proto)
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], network.PortBinding{HostPort: strconv.Itoa(p.Host)})
	}
	return exposed, bindings, nil
}

// envList is env as sorted NAME=value strings.
func envList(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// labels is the Spec's labels plus the driver's own.
func labels(spec driver.Spec) map[string]string {
	out := make(map[string]string, len(spec.Labels)+3)
	maps.Copy(out, spec.Labels)
	out[LabelTask] = spec.ID
	out[LabelApp] = spec.App
	out[LabelNode] = spec.Node
	return out
}

// graceSeconds rounds a grace period up to whole seconds, the engine's unit.
func graceSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// status turns the engine's view of a container into a driver.Status.
// stopped says Stop was called on it. memLimit is the container's memory
// limit in bytes (0: none), for the OOM reason.
func status(st *container.State, memLimit int64, stopped bool) driver.Status {
	if st == nil {
		return driver.Status{State: driver.StateUnknown, Reason: "engine reports no state"}
	}
	s := driver.Status{
		PID:        st.Pid,
		ExitCode:   st.ExitCode,
		Stopped:    stopped,
		StartedAt:  engineTime(st.StartedAt),
		FinishedAt: engineTime(st.FinishedAt),
	}
	switch st.Status {
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		s.State = driver.StateRunning
		s.ExitCode = 0
		s.FinishedAt = time.Time{}
		return s
	case container.StateCreated:
		// Never ran: the start failed, the engine says why.
		s.State = driver.StateExited
		s.Reason = "not started"
		if st.Error != "" {
			s.Reason = st.Error
		}
		return s
	}
	s.State = driver.StateExited
	s.PID = 0
	if s.FinishedAt.Before(s.StartedAt) {
		// The engine stamps the start after a quick task already ended.
		s.FinishedAt = s.StartedAt
	}
	if st.ExitCode > 128 && st.ExitCode < 128+65 {
		s.Signal = signalName(st.ExitCode - 128)
	}
	switch {
	case st.OOMKilled:
		s.OOM = true
		if memLimit > 0 {
			s.Reason = fmt.Sprintf("OOM: exceeded %d MiB", memLimit>>20)
		} else {
			s.Reason = "OOM: killed by the kernel's OOM killer"
		}
	case st.Error != "":
		s.Reason = st.Error
	case s.Signal != "":
		s.Reason = "killed by " + s.Signal
	case st.ExitCode != 0:
		s.Reason = "exit code " + strconv.Itoa(st.ExitCode)
	}
	if stopped && s.Reason != "" && !s.OOM {
		s.Reason = "stopped: " + s.Reason
	}
	return s
}

// engineTime parses the engine's RFC 3339 times; its zero time
// ("0001-01-01T00:00:00Z") and garbage are the zero time.
func engineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// signalName is the name of Linux signal n, "SIG<n>" for those without one.
func signalName(n int) string {
	switch n {
	case 1:
		return "SIGHUP"
	case 2:
		return "SIGINT"
	case 3:
		return "SIGQUIT"
	case 4:
		return "SIGILL"
	case 5:
		return "SIGTRAP"
	case 6:
		return "SIGABRT"
	case 7:
		return "SIGBUS"
	case 8:
		return "SIGFPE"
	case 9:
		return "SIGKILL"
	case 10:
		return "SIGUSR1"
	case 11:
		return "SIGSEGV"
	case 12:
		return "SIGUSR2"
	case 13:
		return "SIGPIPE"
	case 14:
		return "SIGALRM"
	case 15:
		return "SIGTERM"
	case 24:
		return "SIGXCPU"
	case 25:
		return "SIGXFSZ"
	}
	return "SIG" + strconv.Itoa(n)
}
