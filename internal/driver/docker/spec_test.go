package docker

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"corral/internal/driver"
)

func TestCreateConfig(t *testing.T) {
	base := driver.Spec{ID: "t1", App: "/shop/api", Node: "n1", Image: "shop/api:1.4"}
	tests := []struct {
		name    string
		spec    func(s *driver.Spec)
		hardCPU bool
		check   func(t *testing.T, c *container.Config, h *container.HostConfig)
	}{
		{
			name: "defaults: image command, host network, no limits, restart no",
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if c.Image != "shop/api:1.4" || c.Cmd != nil || c.Entrypoint != nil {
					t.Errorf("image/cmd/entrypoint = %q %q %q", c.Image, c.Cmd, c.Entrypoint)
				}
				if h.NetworkMode != "host" {
					t.Errorf("network = %q, want host", h.NetworkMode)
				}
				if h.RestartPolicy.Name != "no" {
					t.Errorf("restart policy = %q", h.RestartPolicy.Name)
				}
				if h.Memory != 0 || h.MemorySwap != 0 || h.CPUShares != 0 || h.NanoCPUs != 0 {
					t.Errorf("limits set: %+v", h.Resources)
				}
				want := map[string]string{"corral.task": "t1", "corral.app": "/shop/api", "corral.node": "n1"}
				if !reflect.DeepEqual(c.Labels, want) {
					t.Errorf("labels = %v, want %v", c.Labels, want)
				}
				if c.StopTimeout != nil {
					t.Errorf("stop timeout = %d, want unset", *c.StopTimeout)
				}
				wantLog := map[string]string{"max-size": "10485760", "max-file": "2"}
				if h.LogConfig.Type != "json-file" || !reflect.DeepEqual(h.LogConfig.Config, wantLog) {
					t.Errorf("log config = %+v", h.LogConfig)
				}
			},
		},
		{
			name: "args replace the image command, entrypoint stays",
			spec: func(s *driver.Spec) { s.Args = []string{"serve", "--port", "80"} },
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if !reflect.DeepEqual(c.Cmd, []string{"serve", "--port", "80"}) || c.Entrypoint != nil {
					t.Errorf("cmd %q entrypoint %q", c.Cmd, c.Entrypoint)
				}
			},
		},
		{
			name: "cmd runs under sh -c",
			spec: func(s *driver.Spec) { s.Cmd = "echo $PORT0 && sleep 1"; s.Args = []string{"ignored"} },
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if !reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh", "-c"}) || !reflect.DeepEqual(c.Cmd, []string{"echo $PORT0 && sleep 1"}) {
					t.Errorf("cmd %q entrypoint %q", c.Cmd, c.Entrypoint)
				}
			},
		},
		{
			name: "env sorted with Corral's variables, labels merged with corral's winning, user",
			spec: func(s *driver.Spec) {
				s.Env = map[string]string{"A": "x=y", "HOST": "n1", "CORRAL_NODE": "forged"}
				s.Ports = []driver.Port{{Name: "http", Host: 31000}}
				s.Labels = map[string]string{"team": "shop", "corral.task": "forged"}
				s.User = "1000:1000"
			},
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				want := []string{"A=x=y", "CORRAL_APP_ID=/shop/api", "CORRAL_NODE=n1", "CORRAL_TASK_ID=t1", "HOST=n1",
					"PORT=31000", "PORT0=31000", "PORTS=31000", "PORT_HTTP=31000"}
				if !reflect.DeepEqual(c.Env, want) {
					t.Errorf("env = %q, want %q", c.Env, want)
				}
				if c.Labels["team"] != "shop" || c.Labels["corral.task"] != "t1" {
					t.Errorf("labels = %v", c.Labels)
				}
				if c.User != "1000:1000" {
					t.Errorf("user = %q", c.User)
				}
			},
		},
		{
			name: "memory limit without swap, cpu shares",
			spec: func(s *driver.Spec) { s.MemMiB = 128; s.CPUs = 0.5 },
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if h.Memory != 128*1024*1024 || h.MemorySwap != 128*1024*1024 {
					t.Errorf("memory %d swap %d", h.Memory, h.MemorySwap)
				}
				if h.CPUShares != 512 || h.NanoCPUs != 0 {
					t.Errorf("shares %d nanocpus %d", h.CPUShares, h.NanoCPUs)
				}
			},
		},
		{
			name: "tiny cpu share is the engine minimum",
			spec: func(s *driver.Spec) { s.CPUs = 0.001 },
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if h.CPUShares != 2 {
					t.Errorf("shares %d, want 2", h.CPUShares)
				}
			},
		},
		{
			name:    "hard cpu quota",
			spec:    func(s *driver.Spec) { s.CPUs = 1.5 },
			hardCPU: true,
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if h.NanoCPUs != 1_500_000_000 || h.CPUShares != 0 {
					t.Errorf("shares %d nanocpus %d", h.CPUShares, h.NanoCPUs)
				}
			},
		},
		{
			name: "volumes, kill grace rounded up, log cap",
			spec: func(s *driver.Spec) {
				s.Volumes = []driver.Volume{{HostPath: "/srv/data", ContainerPath: "/data"}, {HostPath: "/etc/ssl", ContainerPath: "/ssl", ReadOnly: true}}
				s.KillGrace = 2500 * time.Millisecond
				s.LogMaxBytes = 4096
			},
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if want := []string{"/srv/data:/data", "/etc/ssl:/ssl:ro"}; !reflect.DeepEqual(h.Binds, want) {
					t.Errorf("binds = %q, want %q", h.Binds, want)
				}
				if c.StopTimeout == nil || *c.StopTimeout != 3 {
					t.Errorf("stop timeout = %v, want 3", c.StopTimeout)
				}
				if h.LogConfig.Config["max-size"] != "4096" {
					t.Errorf("log config = %v", h.LogConfig.Config)
				}
			},
		},
		{
			name: "host network ignores container ports",
			spec: func(s *driver.Spec) { s.Network = "host"; s.Ports = []driver.Port{{Host: 31000, Container: 80}} },
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if h.NetworkMode != "host" || len(h.PortBindings) != 0 || len(c.ExposedPorts) != 0 {
					t.Errorf("network %q bindings %v exposed %v", h.NetworkMode, h.PortBindings, c.ExposedPorts)
				}
			},
		},
		{
			name: "bridge publishes container ports on host ports",
			spec: func(s *driver.Spec) {
				s.Network = "bridge"
				s.Ports = []driver.Port{{Name: "http", Host: 31000, Container: 80}, {Host: 31001, Protocol: "udp"}}
			},
			check: func(t *testing.T, c *container.Config, h *container.HostConfig) {
				if h.NetworkMode != "bridge" {
					t.Errorf("network = %q", h.NetworkMode)
				}
				p80 := network.MustParsePort("80/tcp")
				p31001 := network.MustParsePort("31001/udp")
				want := network.PortMap{
					p80:    {{HostPort: "31000"}},
					p31001: {{HostPort: "31001"}},
				}
				if !reflect.DeepEqual(h.PortBindings, want) {
					t.Errorf("bindings = %v, want %v", h.PortBindings, want)
				}
				if _, ok := c.ExposedPorts[p80]; !ok || len(c.ExposedPorts) != 2 {
					t.Errorf("exposed = %v", c.ExposedPorts)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base
			if tt.spec != nil {
				tt.spec(&spec)
			}
			c, h, err := createConfig(spec, tt.hardCPU)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c, h)
		})
	}
}

func TestCreateConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		spec driver.Spec
	}{
		{"no id", driver.Spec{Image: "x"}},
		{"no image", driver.Spec{ID: "t"}},
		{"negative memory", driver.Spec{ID: "t", Image: "x", MemMiB: -1}},
		{"volume without container path", driver.Spec{ID: "t", Image: "x", Volumes: []driver.Volume{{HostPath: "/a"}}}},
		{"bad protocol", driver.Spec{ID: "t", Image: "x", Network: "bridge", Ports: []driver.Port{{Host: 1, Protocol: "sctp"}}}},
		{"port out of range", driver.Spec{ID: "t", Image: "x", Network: "bridge", Ports: []driver.Port{{Host: 70000}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := createConfig(tt.spec, false); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestStatus(t *testing.T) {
	started := "2026-11-25T10:00:00.5Z"
	finished := "2026-11-25T10:01:00Z"
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 5e8, time.UTC)
	t1 := time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC)
	tests := []struct {
		name     string
		st       *container.State
		memLimit int64
		stopped  bool
		want     driver.Status
	}{
		{
			name: "running",
			st:   &container.State{Status: "running", Running: true, Pid: 42, StartedAt: started, FinishedAt: "0001-01-01T00:00:00Z"},
			want: driver.Status{State: driver.StateRunning, PID: 42, StartedAt: t0},
		},
		{
			name: "exit 0",
			st:   &container.State{Status: "exited", ExitCode: 0, StartedAt: started, FinishedAt: finished},
			want: driver.Status{State: driver.StateExited, StartedAt: t0, FinishedAt: t1},
		},
		{
			name: "exit 3",
			st:   &container.State{Status: "exited", ExitCode: 3, StartedAt: started, FinishedAt: finished},
			want: driver.Status{State: driver.StateExited, ExitCode: 3, Reason: "exit code 3", StartedAt: t0, FinishedAt: t1},
		},
		{
			name: "finished before started: clamped",
			st:   &container.State{Status: "exited", ExitCode: 1, StartedAt: finished, FinishedAt: started},
			want: driver.Status{State: driver.StateExited, ExitCode: 1, Reason: "exit code 1", StartedAt: t1, FinishedAt: t1},
		},
		{
			name: "killed by SIGKILL",
			st:   &container.State{Status: "exited", ExitCode: 137},
			want: driver.Status{State: driver.StateExited, ExitCode: 137, Signal: "SIGKILL", Reason: "killed by SIGKILL"},
		},
		{
			name:    "stopped, SIGTERM",
			st:      &container.State{Status: "exited", ExitCode: 143},
			stopped: true,
			want:    driver.Status{State: driver.StateExited, ExitCode: 143, Signal: "SIGTERM", Stopped: true, Reason: "stopped: killed by SIGTERM"},
		},
		{
			name:    "stopped, exits 0 on SIGTERM",
			st:      &container.State{Status: "exited"},
			stopped: true,
			want:    driver.Status{State: driver.StateExited, Stopped: true},
		},
		{
			name:     "OOM",
			st:       &container.State{Status: "exited", ExitCode: 137, OOMKilled: true},
			memLimit: 16 << 20,
			want:     driver.Status{State: driver.StateExited, ExitCode: 137, Signal: "SIGKILL", OOM: true, Reason: "OOM: exceeded 16 MiB"},
		},
		{
			name: "engine error",
			st:   &container.State{Status: "exited", ExitCode: 127, Error: "exec: \"/nope\": no such file or directory"},
			want: driver.Status{State: driver.StateExited, ExitCode: 127, Reason: "exec: \"/nope\": no such file or directory"},
		},
		{
			name: "created, never started",
			st:   &container.State{Status: "created"},
			want: driver.Status{State: driver.StateExited, Reason: "not started"},
		},
		{
			name: "signal without a name",
			st:   &container.State{Status: "exited", ExitCode: 128 + 40},
			want: driver.Status{State: driver.StateExited, ExitCode: 168, Signal: "SIG40", Reason: "killed by SIG40"},
		},
		{
			name: "no state",
			want: driver.Status{State: driver.StateUnknown, Reason: "engine reports no state"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := status(tt.st, tt.memLimit, tt.stopped)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("status =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestHandle(t *testing.T) {
	h := newHandle("t1", "abc123")
	if h.Driver != "docker" || h.TaskID != "t1" {
		t.Errorf("handle = %+v", h)
	}
	// The Handle survives the agent's JSON round trip.
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back driver.Handle
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		h    driver.Handle
		want string
		err  bool
	}{
		{"container id", back, "abc123", false},
		{"task id only: container name", driver.Handle{TaskID: "t2"}, "corral-t2", false},
		{"garbage data", driver.Handle{TaskID: "t3", Data: json.RawMessage(`[1]`)}, "", true},
		{"nothing", driver.Handle{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := containerRef(tt.h)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("containerRef = %q, %v; want %q, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestNewHost(t *testing.T) {
	tests := []struct {
		name, host, env, want string
	}{
		{"explicit", "unix:///run/x.sock", "tcp://ignored:2375", "unix:///run/x.sock"},
		{"DOCKER_HOST", "", "tcp://10.0.0.1:2375", "tcp://10.0.0.1:2375"},
		{"default socket", "", "", "unix:///var/run/docker.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tt.env)
			d, err := New(Options{Host: tt.host})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if got := d.api.DaemonHost(); got != tt.want {
				t.Errorf("host = %q, want %q", got, tt.want)
			}
			if d.Name() != "docker" {
				t.Errorf("name = %q", d.Name())
			}
		})
	}
	if _, err := New(Options{Host: "not a url"}); err == nil {
		t.Error("bad host: no error")
	}
}
