package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"corral/internal/api"
	"corral/internal/driver/docker/dockertest"
)

// dockerApps are the apps of TestDockerApps, on one agent with its own
// dockerd: a web app that listens on its host port, one whose image no
// registry has, and one that outgrows its memory limit. The web app's
// health check is TCP: the test program's listen step answers "ok\n" to
// a connection, not HTTP.
const dockerApps = `kind: App
id: /dock/web
driver: docker
image: ` + dockertest.TaskImage + `
args: [env, listen, sleep, 1h]
instances: 2
cpus: 0.1
mem: 64
ports: [{name: http}]
env: {RAILS_ENV: production}
labels: {team: core}
health_checks:
  - {protocol: TCP, port_index: 0, grace_period: 30s, interval: 1s, timeout: 1s, max_consecutive_failures: 3}
---
kind: App
id: /dock/missing
driver: docker
image: corral-test/missing:1
cpus: 0.1
mem: 16
backoff: {initial: 2s, factor: 2}
---
kind: App
id: /dock/hog
driver: docker
image: ` + dockertest.TaskImage + `
args: [alloc, "200", sleep, 1h]
cpus: 0.1
mem: 32
backoff: {initial: 2s, factor: 2}
`

// engineContainers returns the engine's containers of app, running or not.
func engineContainers(ctx context.Context, dc *client.Client, app string) ([]container.Summary, error) {
	f := client.Filters{}
	f.Add("label", "corral.app="+app)
	res, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", app, err)
	}
	return res.Items, nil
}

// containerStarts returns the start time the engine reports for each
// task's container, by task id.
func containerStarts(t *testing.T, ctx context.Context, dc *client.Client, app string) map[string]string {
	t.Helper()
	cs, err := engineContainers(ctx, dc, app)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		res, err := dc.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[c.Labels["corral.task"]] = c.ID + " started " + res.Container.State.StartedAt
	}
	return out
}

// enginePullError is what the engine itself says when asked to pull
// image: the reason a task of that image should carry.
func enginePullError(ctx context.Context, dc *client.Client, image string) (string, error) {
	pull, err := dc.ImagePull(ctx, image, client.ImagePullOptions{})
	if err == nil {
		err = pull.Wait(ctx)
		pull.Close()
	}
	if err == nil {
		return "", fmt.Errorf("the engine pulled %s", image)
	}
	return err.Error(), nil
}

// TestDockerApps runs apps with the docker driver end to end: `corral
// apply` of docker apps, placed by the server and run by an agent with
// --docker-host on a dockerd of the test's own. The tasks get their env,
// host ports, labels and memory limit, their output is in `corral app
// logs`; a missing image and an OOM kill are the failures' reasons; an
// agent restart leaves the containers alone; `corral app rm` removes
// them.
func TestDockerApps(t *testing.T) {
	t.Parallel()
	eng := dockertest.Start(t) // skips without root or dockerd (Debian package docker.io)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := dockertest.BuildImage(ctx, eng.Host(), dockertest.TaskImage, filepath.Join(root, dockertest.TaskProgram)); err != nil {
		t.Fatal(err)
	}
	dc := eng.Client(t)
	t.Logf("engine up and %s built after %s", dockertest.TaskImage, time.Since(began).Round(100*time.Millisecond))

	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	apps := []string{"/dock/web", "/dock/missing", "/dock/hog"}
	firstPort := portRange(t)
	lastPort := firstPort + 99
	a := StartAgent(t, srv, AgentOptions{Name: "dock-1", Args: []string{
		"--docker-host", eng.Host(),
		"--port-range", fmt.Sprintf("%d-%d", firstPort, lastPort),
		"--checks=false", "--host-metrics-interval", "0", "--statsd-addr", ""}})
	t.Cleanup(func() {
		// Runs before the agent, the server and the engine stop: the
		// agent removes the containers itself.
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		for _, app := range apps {
			if err := admin.DeleteApp(cctx, app); err != nil && !apiNotFound(err) {
				t.Logf("remove %s: %v", app, err)
			}
		}
		for cctx.Err() == nil {
			left := 0
			for _, app := range apps {
				cs, err := engineContainers(cctx, dc, app)
				if err != nil {
					break
				}
				left += len(cs)
			}
			if left == 0 {
				return
			}
			time.Sleep(pollInterval)
		}
		t.Logf("containers left after the apps were removed; the engine's stop ends them")
	})
	a.WaitReady()
	applyYAML(t, srv, dockerApps)

	// The failures first: they take their turns while /dock/web starts.
	// A missing image: the engine's own reason, and a backoff.
	missingMsg, err := enginePullError(ctx, dc, "corral-test/missing:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the engine on a pull of corral-test/missing:1: %s", missingMsg)
	eventually(t, 30*time.Second, func() error {
		st, err := admin.App(ctx, "/dock/missing")
		if err != nil {
			return err
		}
		if st.LastFailure == nil || !strings.Contains(st.LastFailure.Reason, engineReason(missingMsg)) ||
			!strings.Contains(st.LastFailure.Reason, "corral-test/missing:1") {
			return fmt.Errorf("/dock/missing: last failure %+v, want the engine's %q", st.LastFailure, missingMsg)
		}
		if !strings.Contains(st.Waiting, "back") {
			return fmt.Errorf("/dock/missing waiting = %q, want a backoff", st.Waiting)
		}
		t.Logf("/dock/missing: %s: %s; waiting: %s", st.LastFailure.State, st.LastFailure.Reason, st.Waiting)
		return nil
	})

	// Over its memory limit: killed by the kernel, and the reason says so.
	if !cgroupMemory() {
		t.Log("no cgroup memory controller here: the OOM case is not checked")
	} else {
		eventually(t, 30*time.Second, func() error {
			st, err := admin.App(ctx, "/dock/hog")
			if err != nil {
				return err
			}
			if st.LastFailure == nil || st.LastFailure.State != api.TaskFailed || !strings.Contains(st.LastFailure.Reason, "OOM: exceeded 32 MiB") {
				return fmt.Errorf("/dock/hog: last failure %+v, want failed, OOM over 32 MiB", st.LastFailure)
			}
			ts, err := admin.AppTasks(ctx, "/dock/hog")
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(ts, func(tk api.Task) bool { return tk.OOM && tk.State == api.TaskFailed }) {
				return fmt.Errorf("/dock/hog: no failed task says OOM: %+v", ts)
			}
			t.Logf("/dock/hog: %s: %s", st.LastFailure.State, st.LastFailure.Reason)
			return nil
		})
	}

	// /dock/web: the engine runs a container a task, named after it, with
	// the app's labels, memory limit and host network, and the task's
	// environment.
	var started map[string]api.Task
	eventually(t, 60*time.Second, func() error {
		ts, err := appTasks(ctx, admin, "/dock/web")
		if err != nil {
			return err
		}
		for _, tk := range ts {
			if tk.StartedAt.IsZero() {
				return fmt.Errorf("/dock/web: not all started: %s", taskStates(ts))
			}
		}
		if len(ts) != 2 {
			return fmt.Errorf("/dock/web: %d tasks: %s", len(ts), taskStates(ts))
		}
		started = ts
		return nil
	})
	if !checkWebContainers(t, ctx, dc, started) {
		t.Fatal("the containers lack the tasks' environment: without $PORT0 the listen step does not bind the task's host port and the health check cannot pass")
	}

	// Both instances get healthy, on host ports of the agent's range
	// where the task answers.
	tasks := waitHealthy(t, admin, "/dock/web", 2, 60*time.Second)
	t.Logf("/dock/web healthy after %s", time.Since(began).Round(100*time.Millisecond))
	for id, tk := range tasks {
		if tk.Node != "dock-1" || len(tk.Ports) != 1 || tk.Ports[0] < firstPort || tk.Ports[0] > lastPort {
			t.Fatalf("task %s on %s has ports %v, want one in %d-%d", id, tk.Node, tk.Ports, firstPort, lastPort)
		}
		if got := readUntilClose(loopback(tk.Ports[0])); got != "ok\n" {
			t.Errorf("task %s on host port %d answered %q, want ok", id, tk.Ports[0], got)
		}
	}

	// Their output, the env step's lines, is in `corral app logs`.
	eventually(t, 20*time.Second, func() error {
		out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"app", "logs", "/dock/web", "-n", "200"}, srv.CLIFlags(srv.AdminToken())...)...)
		if code != 0 {
			return fmt.Errorf("corral app logs: exit %d: %s", code, errOut)
		}
		for id, tk := range tasks {
			for _, want := range webEnv(id, tk) {
				if !strings.Contains(out, want) {
					return fmt.Errorf("corral app logs lacks %s:\n%s", want, out)
				}
			}
		}
		return nil
	})

	// An agent restart leaves the containers running: same tasks, same
	// starts, as the server and as the engine see them.
	engineBefore := containerStarts(t, ctx, dc, "/dock/web")
	a.Kill()
	a.Restart()
	a.WaitReady()
	time.Sleep(2 * time.Second) // let it re-attach and report
	after := waitHealthy(t, admin, "/dock/web", 2, 20*time.Second)
	for id, tk := range tasks {
		if got, ok := after[id]; !ok || !got.StartedAt.Equal(tk.StartedAt) {
			t.Fatalf("task %s changed across the agent restart: before %+v after %+v", id, tk, after[id])
		}
	}
	engineAfter := containerStarts(t, ctx, dc, "/dock/web")
	if fmt.Sprint(engineAfter) != fmt.Sprint(engineBefore) {
		t.Fatalf("containers changed across the agent restart:\nbefore %v\nafter  %v", engineBefore, engineAfter)
	}

	// `corral app rm`: the app's containers go.
	out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"app", "rm", "/dock/web"}, srv.CLIFlags(srv.AdminToken())...)...)
	if code != 0 {
		t.Fatalf("corral app rm: exit %d\n%s%s", code, out, errOut)
	}
	removed := time.Now()
	eventually(t, 10*time.Second, func() error {
		cs, err := engineContainers(ctx, dc, "/dock/web")
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.State == container.StateRunning {
				return fmt.Errorf("container %s of task %s still runs", c.ID, c.Labels["corral.task"])
			}
		}
		if len(cs) > 0 {
			return fmt.Errorf("%d containers of /dock/web not removed", len(cs))
		}
		return nil
	})
	t.Logf("/dock/web removed → its containers gone in %s", time.Since(removed).Round(100*time.Millisecond))
	t.Logf("whole test: %s", time.Since(began).Round(100*time.Millisecond))
}

// webEnv is what the environment of a task of /dock/web holds.
func webEnv(id string, tk api.Task) []string {
	port := strconv.Itoa(tk.Ports[0])
	return []string{"PORT0=" + port, "PORT_HTTP=" + port, "CORRAL_TASK_ID=" + id, "CORRAL_APP_ID=/dock/web", "RAILS_ENV=production"}
}

// checkWebContainers checks the engine's containers of /dock/web against
// the tasks the server reports, and says whether their environment is
// complete.
func checkWebContainers(t *testing.T, ctx context.Context, dc *client.Client, tasks map[string]api.Task) (envOK bool) {
	t.Helper()
	cs, err := engineContainers(ctx, dc, "/dock/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(tasks) {
		t.Fatalf("engine has %d containers of /dock/web, want %d: %+v", len(cs), len(tasks), cs)
	}
	envOK = true
	for _, c := range cs {
		id := c.Labels["corral.task"]
		tk, ok := tasks[id]
		if !ok {
			t.Fatalf("container %s is of task %q, not one of %s", c.ID, id, taskStates(tasks))
		}
		res, err := dc.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ci := res.Container
		if ci.Name != "/corral-"+id || ci.State == nil || !ci.State.Running {
			t.Errorf("container of %s: name %q, state %+v", id, ci.Name, ci.State)
		}
		for k, v := range map[string]string{"team": "core", "corral.app": "/dock/web", "corral.node": "dock-1"} {
			if ci.Config.Labels[k] != v {
				t.Errorf("container of %s: label %s = %q, want %q", id, k, ci.Config.Labels[k], v)
			}
		}
		if ci.HostConfig.NetworkMode != "host" {
			t.Errorf("container of %s: network %q, want host", id, ci.HostConfig.NetworkMode)
		}
		if cgroupMemory() && (ci.HostConfig.Memory != 64<<20 || ci.HostConfig.MemorySwap != 64<<20) {
			t.Errorf("container of %s: memory %d, swap %d, want %d both (mem: 64)", id, ci.HostConfig.Memory, ci.HostConfig.MemorySwap, 64<<20)
		}
		for _, want := range webEnv(id, tk) {
			if !slices.Contains(ci.Config.Env, want) {
				t.Errorf("container of %s: env %q lacks %s", id, ci.Config.Env, want)
				envOK = false
			}
		}
	}
	return envOK
}

// engineReason is the part of the engine's error message that the
// task's reason carries: without the client's "Error response from
// daemon: " prefix.
func engineReason(msg string) string {
	_, rest, ok := strings.Cut(msg, "Error response from daemon: ")
	if ok {
		return rest
	}
	return msg
}

// readUntilClose connects to addr and returns what it sends before closing.
func readUntilClose(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	buf := make([]byte, 64)
	for {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// apiNotFound reports whether err is the API's 404.
func apiNotFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status == 404
}
