package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"corral/internal/api"
	"corral/internal/driver"
	"corral/internal/driver/docker"
	"corral/internal/driver/exec"
	"corral/internal/driver/mock"
)

// taskDrivers are the node's drivers by name. A driver with a readiness
// check (docker: the engine answers) is used only once the check passed;
// until then each start asks again, and a task of it fails with the
// check's error.
type taskDrivers struct {
	drivers map[string]driver.Driver
	ready   map[string]func(context.Context) error

	mu sync.Mutex
	ok map[string]bool
}

func newTaskDrivers(drivers map[string]driver.Driver, ready map[string]func(context.Context) error) *taskDrivers {
	return &taskDrivers{drivers: drivers, ready: ready, ok: map[string]bool{}}
}

// readyTimeout bounds a readiness check.
const readyTimeout = 5 * time.Second

// get returns the driver called name once it is ready.
func (d *taskDrivers) get(ctx context.Context, name string) (driver.Driver, error) {
	drv, ok := d.drivers[name]
	if !ok {
		return nil, fmt.Errorf("driver %q: %w", name, errNoDriver)
	}
	check := d.ready[name]
	if check == nil {
		return drv, nil
	}
	d.mu.Lock()
	ok = d.ok[name]
	d.mu.Unlock()
	if ok {
		return drv, nil
	}
	cctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := check(cctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.ok[name] = true
	d.mu.Unlock()
	return drv, nil
}

// recover lists the tasks of every ready driver that can list them.
func (d *taskDrivers) recover(ctx context.Context, log *slog.Logger) []strayTask {
	var out []strayTask
	for name := range d.drivers {
		drv, err := d.get(ctx, name)
		if err != nil {
			continue
		}
		rc, ok := drv.(driver.Recoverer)
		if !ok {
			continue
		}
		hs, err := rc.Recover(ctx)
		if err != nil {
			log.Warn("list the tasks of a driver", "driver", name, "err", err)
			continue
		}
		for _, h := range hs {
			out = append(out, strayTask{drv: drv, h: h})
		}
	}
	return out
}

// supervisorCommand is how the exec driver starts a task's supervisor:
// `corral-supervisor` when it is installed next to the corral binary (a
// small binary that starts several times faster: the corral binary runs the
// package init of everything it links first), else `corral supervise`.
func supervisorCommand(self string) []string {
	small := filepath.Join(filepath.Dir(self), "corral-supervisor")
	if fi, err := os.Stat(small); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return []string{small}
	}
	return []string{self, "supervise"}
}

// nodeDrivers builds the agent's drivers, registered in one map: exec
// always (tasks under supervisor processes), docker (used once its engine
// answers: "docker engine not available: ..." until then), mock when
// cfg.MockDriver.
func (a *Agent) nodeDrivers() (*taskDrivers, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("exec driver: find the corral binary: %w", err)
	}
	ex, err := exec.New(exec.Options{
		SupervisorCommand: supervisorCommand(self),
		StateDir:          filepath.Join(a.cfg.DataDir, "tasks-exec"),
		Logger:            a.cfg.Logger,
		Now:               a.cfg.Now,
	})
	if err != nil {
		return nil, nil, err
	}
	dk, err := docker.New(docker.Options{Host: a.cfg.DockerHost, Node: a.id.node, Logger: a.cfg.Logger, Now: a.cfg.Now})
	if err != nil {
		return nil, nil, err
	}
	drivers := map[string]driver.Driver{
		exec.Name:   ex,
		docker.Name: dk,
	}
	if a.cfg.MockDriver {
		drivers[mock.Name] = mock.New(mock.Options{Now: a.cfg.Now})
	}
	ready := map[string]func(context.Context) error{
		docker.Name: func(ctx context.Context) error {
			if _, err := dk.Ping(ctx); err != nil {
				return fmt.Errorf("%s%w", reasonDockerDownPref, err)
			}
			return nil
		},
	}
	return newTaskDrivers(drivers, ready), func() { dk.Close() }, nil
}

// tasksLoop runs the node's tasks: it finds the tasks that run already and
// then follows the task assignments (wakeTasks) until ctx ends. Tasks keep
// running when the agent stops.
func (a *Agent) tasksLoop(ctx context.Context) error {
	drivers, closeDrivers, err := a.nodeDrivers()
	if err != nil {
		return err
	}
	defer closeDrivers()
	r := newTaskRunner(taskRunnerConfig{
		Dir: filepath.Join(a.cfg.DataDir, "tasks"), Node: a.id.node, Drivers: drivers,
		Report: a.Report, Logger: a.cfg.Logger, Now: a.cfg.Now,
	})
	if err := r.start(ctx); err != nil {
		return err
	}
	defer r.wait()
	for {
		a.mu.Lock()
		all := maps.Clone(a.assignments)
		synced := a.synced
		a.mu.Unlock()
		tasks, bad := parseTaskAssignments(all)
		for key, err := range bad {
			a.log.Warn("ignoring a task assignment that does not parse", "key", key, "err", err)
		}
		r.apply(tasks, synced)
		select {
		case <-ctx.Done():
			return nil
		case <-a.tasksWake:
		}
	}
}

// wakeTasks tells the task loop that the task assignments may have
// changed. The watch calls it with a.mu held, after applying as (and after
// wakeChecks, which marks the sync).
func (a *Agent) wakeTasks(as api.Assignment, snapshot bool) {
	wakeOn(a.tasksWake, as, snapshot, func(k string) bool { return strings.HasPrefix(k, taskKeyPrefix) })
}
