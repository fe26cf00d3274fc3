package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/health"
)

func TestTaskSpec(t *testing.T) {
	as := api.TaskAssignment{ID: "shop_api.1", App: "/shop/api", Ports: []int{31000, 31001},
		Run: api.RunSpec{Cmd: "./api", Mem: 256, CPUs: 0.5, User: "www", Network: "bridge", Image: "shop/api:1",
			Env: map[string]string{"A": "1"}, Labels: map[string]string{"team": "x"},
			Ports:   []api.PortSpec{{Name: "http", ContainerPort: 8080, Protocol: "tcp"}, {Name: "dns", Protocol: "udp"}},
			Fetch:   []api.FetchSpec{{URI: "https://example.com/api.tgz", Executable: true}},
			Volumes: []api.VolumeSpec{{HostPath: "/data", ContainerPath: "/d", Mode: "RO"}, {HostPath: "/l", ContainerPath: "/l", Mode: "RW"}},
		}}
	got := taskSpec(as, "node-1", "/sb")
	want := driver.Spec{ID: "shop_api.1", App: "/shop/api", Node: "node-1", Cmd: "./api", Image: "shop/api:1",
		Env: map[string]string{"A": "1"}, Labels: map[string]string{"team": "x"}, User: "www",
		Ports: []driver.Port{{Name: "http", Host: 31000, Container: 8080, Protocol: "tcp"}, {Name: "dns", Host: 31001, Protocol: "udp"}},
		CPUs:  0.5, MemMiB: 256,
		Fetch:   []driver.Fetch{{URI: "https://example.com/api.tgz", Executable: true}},
		Volumes: []driver.Volume{{HostPath: "/data", ContainerPath: "/d", ReadOnly: true}, {HostPath: "/l", ContainerPath: "/l"}},
		Network: "bridge", Sandbox: "/sb", KillGrace: defaultKillGrace}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("spec\n got %s\nwant %s", gb, wb)
	}
}

func TestParseTaskAssignments(t *testing.T) {
	good, _ := json.Marshal(api.TaskAssignment{ID: "a.1", Desired: api.DesiredRun})
	other, _ := json.Marshal(api.TaskAssignment{ID: "b.1", Desired: api.DesiredRun})
	tasks, bad := parseTaskAssignments(map[string]json.RawMessage{
		"task/a.1": good, "task/c.1": other, "task/d.1": json.RawMessage(`{`), "check/x": json.RawMessage(`{}`),
	})
	if len(tasks) != 3 || tasks["a.1"].Desired != api.DesiredRun || tasks["c.1"].Desired != "" || tasks["d.1"].Desired != "" {
		t.Errorf("tasks %+v", tasks)
	}
	if len(bad) != 2 || bad["task/c.1"] == nil || bad["task/d.1"] == nil {
		t.Errorf("bad %v", bad)
	}
}

func TestTerminalState(t *testing.T) {
	tests := []struct {
		name        string
		st          driver.Status
		kill        string
		healthKill  bool
		state, want string
	}{
		{"exit 0", driver.Status{State: driver.StateExited}, "", false, api.TaskFinished, ""},
		{"exit 3", driver.Status{State: driver.StateExited, ExitCode: 3, Reason: "exit code 3"}, "", false, api.TaskFailed, "exit code 3"},
		{"exit 3 without a reason", driver.Status{State: driver.StateExited, ExitCode: 3}, "", false, api.TaskFailed, "exit code 3"},
		{"signal without a reason", driver.Status{State: driver.StateExited, ExitCode: 137, Signal: "SIGKILL"}, "", false, api.TaskFailed, "killed by SIGKILL"},
		{"oom", driver.Status{State: driver.StateExited, ExitCode: 137, Signal: "SIGKILL", OOM: true, Reason: "OOM: exceeded 128 MiB"}, "", false, api.TaskFailed, "OOM: exceeded 128 MiB"},
		{"killed on request", driver.Status{State: driver.StateExited, ExitCode: 143, Signal: "SIGTERM", Stopped: true}, "scaled down", false, api.TaskKilled, "scaled down"},
		{"killed, exited 0 on SIGTERM", driver.Status{State: driver.StateExited, Stopped: true}, "app removed", false, api.TaskKilled, "app removed"},
		{"health kill", driver.Status{State: driver.StateExited, ExitCode: 143, Signal: "SIGTERM"}, "health check HTTP /health failed 3 times: status 503", true, api.TaskFailed, "health check HTTP /health failed 3 times: status 503"},
		{"lost by the driver", driver.Status{State: driver.StateUnknown, Reason: "lost: supervisor gone"}, "", false, api.TaskLost, "lost: supervisor gone"},
		{"lost while being killed", driver.Status{State: driver.StateUnknown, Reason: "no such task on this node"}, "scaled down", false, api.TaskKilled, "scaled down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, reason := terminalState(tt.st, tt.kill, tt.healthKill)
			if state != tt.state || reason != tt.want {
				t.Errorf("= %s %q, want %s %q", state, reason, tt.state, tt.want)
			}
		})
	}
}

func TestHealthChecks(t *testing.T) {
	got := healthChecks([]api.HealthCheck{
		{Protocol: "http", Path: "/health", PortIndex: 1, GracePeriod: api.Duration(30 * time.Second),
			Interval: api.Duration(5 * time.Second), Timeout: api.Duration(2 * time.Second), MaxConsecutiveFailures: 3},
		{Protocol: "COMMAND", Command: "test -f ready", Interval: api.Duration(time.Second), Timeout: api.Duration(20 * time.Second)},
		{Protocol: "TCP", Port: 8080},
	})
	want := []health.Check{
		{Protocol: health.HTTP, Path: "/health", PortIndex: 1, GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3},
		// A timeout longer than the interval is cut to it.
		{Protocol: health.COMMAND, Command: "test -f ready", GracePeriod: health.DefaultGracePeriod, Interval: time.Second, Timeout: time.Second},
		{Protocol: health.TCP, Port: 8080, GracePeriod: health.DefaultGracePeriod, Interval: health.DefaultInterval, Timeout: health.DefaultTimeout},
	}
	if len(got) != len(want) {
		t.Fatalf("%d checks, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("check %d = %+v, want %+v", i, got[i], want[i])
		}
		if err := got[i].Validate(); err != nil {
			t.Errorf("check %d: %v", i, err)
		}
	}
}

func TestStartFailure(t *testing.T) {
	err := fmt.Errorf("%w: %s", driver.ErrStartFailed, "image shop/api:1.4 not found")
	if got := startFailure(err); got != "image shop/api:1.4 not found" {
		t.Errorf("startFailure = %q", got)
	}
	if got := startFailure(errors.New("exec: start supervisor: permission denied")); got != "exec: start supervisor: permission denied" {
		t.Errorf("startFailure = %q", got)
	}
}
