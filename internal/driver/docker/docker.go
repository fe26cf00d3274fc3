// Package docker is the driver that runs tasks as containers of a Docker
// Engine, through its HTTP API (the moby client). A task's container is
// named corral-<task ID> and labelled corral.task, corral.app and
// corral.node, so that a restarted agent finds its containers again
// (Recover): containers outlive the agent. The image is pulled only when
// the engine does not have it. Networking is the node's own by default
// (the task binds the host ports the agent gave it, as Marathon's HOST
// mode); "bridge" publishes each container port on its host port.
//
// The agent registers this driver in its map of drivers; nothing else
// imports it. The pure parts (Spec to container configuration, engine
// state to driver.Status) are in spec.go.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"corral/internal/driver"
)

// Name is the driver's name in app and job specs (`driver: docker`).
const Name = "docker"

// Options configure a Driver.
type Options struct {
	// Host is the engine's address ("unix:///run/docker.sock",
	// "tcp://host:2375"); "" takes DOCKER_HOST (and DOCKER_TLS_VERIFY,
	// DOCKER_CERT_PATH, DOCKER_API_VERSION) or the engine's default
	// socket, as the docker CLI does.
	Host string
	// Node is this node's name: Recover lists the containers labelled
	// corral.node=<Node>. "" lists every corral container of the engine.
	Node string
	// HardCPU makes Spec.CPUs a CPU quota (the engine's NanoCPUs) instead
	// of a relative weight (CPUShares, 1024 a CPU, as Mesos does).
	HardCPU bool
	Logger  *slog.Logger
	Now     func() time.Time
}

// Driver runs tasks as containers. It is safe for concurrent use.
type Driver struct {
	api     *client.Client
	node    string
	hardCPU bool
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	stopped map[string]bool // IDs of the containers Stop ended
}

var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.Recoverer = (*Driver)(nil)
	_ driver.Logger    = (*Driver)(nil)
)

// New returns a Driver talking to the engine at opts.Host. It does not
// contact the engine; Ping does.
func New(opts Options) (*Driver, error) {
	// The API version is negotiated on the first request (the engine's,
	// down to API 1.40, Docker 19.03).
	clientOpts := []client.Opt{client.FromEnv}
	if opts.Host != "" {
		clientOpts = []client.Opt{client.WithHost(opts.Host)}
	}
	api, err := client.New(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %q: %w", opts.Host, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Driver{
		api:     api,
		node:    opts.Node,
		hardCPU: opts.HardCPU,
		log:     log.With("component", "driver/docker"),
		now:     now,
		stopped: map[string]bool{},
	}, nil
}

// Close releases the client's idle connections.
func (d *Driver) Close() error { return d.api.Close() }

// Ping checks that the engine answers, and returns its API version.
func (d *Driver) Ping(ctx context.Context) (string, error) {
	res, err := d.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return "", fmt.Errorf("ping docker engine at %s: %w", d.api.DaemonHost(), err)
	}
	return res.APIVersion, nil
}

// Name returns "docker".
func (d *Driver) Name() string { return Name }

// Start pulls the image if the engine lacks it, creates the container and
// starts it. Errors that are the task's (an image that cannot be pulled, a
// configuration or command the engine refuses) wrap driver.ErrStartFailed
// and carry the engine's message; a container that failed to start is
// removed again.
func (d *Driver) Start(ctx context.Context, spec driver.Spec) (driver.Handle, error) {
	cfg, host, err := createConfig(spec, d.hardCPU)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("%w: %w", driver.ErrStartFailed, err)
	}
	if err := d.ensureImage(ctx, spec.Image); err != nil {
		return driver.Handle{}, err
	}
	name := ContainerName(spec.ID)
	created, err := d.api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	if cerrdefs.IsConflict(err) {
		// A container of an earlier attempt of this task: reuse the name
		// only if it no longer runs.
		if err := d.removeLeftover(ctx, name); err != nil {
			return driver.Handle{}, err
		}
		created, err = d.api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	}
	if err != nil {
		return driver.Handle{}, d.startError(ctx, fmt.Sprintf("create container %s", name), err)
	}
	for _, w := range created.Warnings {
		d.log.Warn("engine warning", "task", spec.ID, "container", created.ID, "warning", w)
	}
	if _, err := d.api.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		serr := d.startError(ctx, fmt.Sprintf("start container %s", name), err)
		// Remove it even when ctx has ended: the agent has no Handle to.
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, rerr := d.api.ContainerRemove(rmCtx, created.ID, client.ContainerRemoveOptions{Force: true}); rerr != nil && !cerrdefs.IsNotFound(rerr) {
			d.log.Warn("remove container that failed to start", "task", spec.ID, "container", created.ID, "err", rerr)
		}
		return driver.Handle{}, serr
	}
	d.log.Info("started", "task", spec.ID, "container", created.ID, "image", spec.Image)
	return newHandle(spec.ID, created.ID), nil
}

// startError wraps err in driver.ErrStartFailed unless it is the engine's
// or the connection's fault rather than the task's.
func (d *Driver) startError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil || client.IsErrConnectionFailed(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", driver.ErrStartFailed, what, err)
}

// ensureImage pulls image unless the engine has it.
func (d *Driver) ensureImage(ctx context.Context, image string) error {
	_, err := d.api.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	d.log.Info("pulling image", "image", image)
	pull, err := d.api.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return d.startError(ctx, fmt.Sprintf("pull image %s", image), err)
	}
	defer pull.Close()
	if err := pull.Wait(ctx); err != nil {
		return d.startError(ctx, fmt.Sprintf("pull image %s", image), err)
	}
	return nil
}

// removeLeftover removes the container called name if it does not run.
func (d *Driver) removeLeftover(ctx context.Context, name string) error {
	res, err := d.api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect existing container %s: %w", name, err)
	}
	if st := res.Container.State; st != nil && st.Running {
		return fmt.Errorf("%w: container %s already runs", driver.ErrStartFailed, name)
	}
	if _, err := d.api.ContainerRemove(ctx, res.Container.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove leftover container %s: %w", name, err)
	}
	d.log.Info("removed leftover container", "container", res.Container.ID, "name", name)
	return nil
}

// Wait blocks until the container ends or ctx ends, and returns its final
// Status. A container that is gone has StateUnknown.
func (d *Driver) Wait(ctx context.Context, h driver.Handle) (driver.Status, error) {
	ref, err := containerRef(h)
	if err != nil {
		return driver.Status{}, err
	}
	wait := d.api.ContainerWait(ctx, ref, client.ContainerWaitOptions{Condition: "not-running"})
	select {
	case <-wait.Result:
	case err := <-wait.Error:
		if cerrdefs.IsNotFound(err) {
			return d.gone(ref), nil
		}
		if ctx.Err() != nil {
			return driver.Status{}, ctx.Err()
		}
		return driver.Status{}, fmt.Errorf("wait for container %s of task %s: %w", ref, h.TaskID, err)
	case <-ctx.Done():
		return driver.Status{}, ctx.Err()
	}
	return d.Inspect(ctx, h)
}

// Inspect returns the container's status now.
func (d *Driver) Inspect(ctx context.Context, h driver.Handle) (driver.Status, error) {
	ref, err := containerRef(h)
	if err != nil {
		return driver.Status{}, err
	}
	res, err := d.api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return d.gone(ref), nil
	}
	if err != nil {
		return driver.Status{}, fmt.Errorf("inspect container %s of task %s: %w", ref, h.TaskID, err)
	}
	var memLimit int64
	if res.Container.HostConfig != nil {
		memLimit = res.Container.HostConfig.Memory
	}
	return status(res.Container.State, memLimit, d.wasStopped(res.Container.ID)), nil
}

// gone is the Status of a container the engine no longer has.
func (d *Driver) gone(ref string) driver.Status {
	return driver.Status{
		State:      driver.StateUnknown,
		Stopped:    d.wasStopped(ref),
		Reason:     "container " + ref + " no longer exists",
		FinishedAt: d.now(),
	}
}

// wasStopped reports whether Stop ended the container with ID id.
func (d *Driver) wasStopped(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopped[id]
}

// Stop asks the engine to stop the container: its stop signal (SIGTERM
// unless the image says otherwise), then SIGKILL after grace (rounded up
// to whole seconds). Stopping an ended or removed container is not an
// error, and does not make it Stopped. The Status of a container Stop
// ended says Stopped as long as this Driver lives: the engine does not
// record who stopped a container.
func (d *Driver) Stop(ctx context.Context, h driver.Handle, grace time.Duration) error {
	ref, err := containerRef(h)
	if err != nil {
		return err
	}
	res, err := d.api.ContainerInspect(ctx, ref, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect container %s of task %s: %w", ref, h.TaskID, err)
	}
	if st := res.Container.State; st == nil || !st.Running {
		return nil
	}
	d.mu.Lock()
	d.stopped[res.Container.ID] = true
	d.mu.Unlock()
	secs := graceSeconds(grace)
	_, err = d.api.ContainerStop(ctx, ref, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s of task %s: %w", ref, h.TaskID, err)
	}
	return nil
}

// Destroy removes the container (killing it if it still runs) and its
// anonymous volumes. Destroying a removed container is not an error.
func (d *Driver) Destroy(ctx context.Context, h driver.Handle) error {
	ref, err := containerRef(h)
	if err != nil {
		return err
	}
	_, err = d.api.ContainerRemove(ctx, ref, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s of task %s: %w", ref, h.TaskID, err)
	}
	d.mu.Lock()
	delete(d.stopped, ref)
	d.mu.Unlock()
	return nil
}

// Recover lists the containers of this node's tasks, running or ended,
// by their corral.node label (any corral.task label when Options.Node is
// empty).
func (d *Driver) Recover(ctx context.Context) ([]driver.Handle, error) {
	filters := client.Filters{}
	if d.node != "" {
		filters.Add("label", LabelNode+"="+d.node)
	} else {
		filters.Add("label", LabelTask)
	}
	res, err := d.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list containers of node %q: %w", d.node, err)
	}
	var out []driver.Handle
	for _, c := range res.Items {
		task := c.Labels[LabelTask]
		if task == "" {
			continue
		}
		out = append(out, newHandle(task, c.ID))
	}
	return out, nil
}

// Logs returns the container's stdout and stderr as one stream, in the
// order the engine recorded them. With follow it ends when the container
// ends or ctx ends.
func (d *Driver) Logs(ctx context.Context, h driver.Handle, follow bool) (io.ReadCloser, error) {
	ref, err := containerRef(h)
	if err != nil {
		return nil, err
	}
	raw, err := d.api.ContainerLogs(ctx, ref, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		return nil, fmt.Errorf("logs of container %s of task %s: %w", ref, h.TaskID, err)
	}
	pr, pw := io.Pipe()
	go func() {
		// The engine multiplexes stdout and stderr in frames (no TTY).
		_, err := stdcopy.StdCopy(pw, pw, raw)
		raw.Close()
		pw.CloseWithError(err)
	}()
	return &logStream{PipeReader: pr, raw: raw}, nil
}

// logStream is the demultiplexed log; closing it closes the engine's.
type logStream struct {
	*io.PipeReader
	raw io.Closer
}

func (l *logStream) Close() error {
	l.raw.Close()
	return l.PipeReader.Close()
}
