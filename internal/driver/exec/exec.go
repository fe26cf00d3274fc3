// Package exec is the driver that runs a task as a process group on the
// node, under a small supervisor process that outlives the agent.
//
// Start writes the task's spec to <StateDir>/<task-id>/spec.json and starts
// the supervisor (Options.SupervisorCommand plus that directory; the corral
// binary re-executed as `corral supervise`, which calls SupervisorMain) in
// its own session. The supervisor makes the task's cgroups (v1 or v2: memory
// limit, cpu shares and quota), starts `sh -c Cmd` or Args in its own
// process group inside them, with the task's env (TaskEnv), user and sandbox
// as working directory, copies stdout and stderr into size-capped files
// <sandbox>/stdout and <sandbox>/stderr (rotated once to .1), and writes
// status.json when the task runs and again when it ended (exit code, signal,
// OOM kill, whether Stop ended it). Start returns once the supervisor
// reported the pid or the OS's reason the program could not start.
//
//	Start ─▶ supervisor ─▶ task running ─▶ task ends ─▶ status.json final ─▶ supervisor exits
//	                          ▲ Stop: SIGTERM to the supervisor (passed to the group), SIGKILL to the group after grace
//
// A new Driver on the same StateDir (the agent restarted) finds the tasks
// again with Recover and waits on them by watching status.json and the
// supervisor's pid. The agent imports this package and registers it.
package exec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"corral/internal/driver"
	"corral/internal/driver/fetch"
)

// Name is the spec's `driver:` value.
const Name = "exec"

// Options configure the exec driver.
type Options struct {
	// SupervisorCommand starts a supervisor; the task's state directory is
	// appended. E.g. []string{os.Executable(), "supervise"}.
	SupervisorCommand []string
	// SupervisorEnv is added to the agent's environment for supervisors.
	SupervisorEnv []string
	// StateDir holds one directory per task (<agent data>/tasks).
	StateDir string
	// CgroupRoot is where the cgroup controllers are mounted; "" is
	// /sys/fs/cgroup (v1 or v2 detected).
	CgroupRoot string
	// HTTPClient downloads fetch URIs; nil: a client with a timeout.
	HTTPClient *http.Client
	// Poll is how often Wait and follow-Logs look at tasks they did not
	// start (recovered); 0: 200ms.
	Poll   time.Duration
	Logger *slog.Logger
	Now    func() time.Time // stamps what the driver itself decides (a lost task)
}

// Driver is the exec driver.
type Driver struct {
	opts    Options
	log     *slog.Logger
	cgroups cgroups

	mu   sync.Mutex
	done map[string]chan struct{} // task ID → closed when a supervisor we started exited
}

var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.Recoverer = (*Driver)(nil)
	_ driver.Logger    = (*Driver)(nil)
)

// New makes the state directory and detects the cgroups.
func New(opts Options) (*Driver, error) {
	if len(opts.SupervisorCommand) == 0 {
		return nil, errors.New("exec driver: no supervisor command")
	}
	if opts.StateDir == "" {
		return nil, errors.New("exec driver: no state dir")
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("exec driver: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if abs, err := filepath.Abs(opts.StateDir); err == nil {
		opts.StateDir = abs
	}
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	d := &Driver{opts: opts, log: opts.Logger.With("component", "driver.exec"), done: map[string]chan struct{}{}}
	d.cgroups = detectCgroups(opts.CgroupRoot)
	if d.cgroups.Version == 0 {
		d.log.Warn("no cgroups: memory and cpu limits are not enforced", "why", d.cgroups.Why)
	}
	return d, nil
}

// Name returns "exec".
func (d *Driver) Name() string { return Name }

// CgroupVersion is 1 or 2, or 0 when limits are not enforced.
func (d *Driver) CgroupVersion() int { return d.cgroups.Version }

// Start fetches the spec's URIs into the sandbox and starts the task under
// a new supervisor. Errors that are the task's fault wrap ErrStartFailed.
func (d *Driver) Start(ctx context.Context, spec driver.Spec) (driver.Handle, error) {
	if spec.ID == "" || strings.ContainsAny(spec.ID, "/\x00") || spec.ID == "." || spec.ID == ".." {
		return driver.Handle{}, fmt.Errorf("exec: bad task ID %q", spec.ID)
	}
	dir := filepath.Join(d.opts.StateDir, spec.ID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return driver.Handle{}, fmt.Errorf("exec: task %s: %w", spec.ID, err)
	}
	h, err := d.start(ctx, dir, spec)
	if err != nil {
		os.RemoveAll(dir)
	}
	return h, err
}

func (d *Driver) start(ctx context.Context, dir string, spec driver.Spec) (driver.Handle, error) {
	if spec.Sandbox == "" {
		spec.Sandbox = filepath.Join(dir, "sandbox")
	}
	if err := os.MkdirAll(spec.Sandbox, 0o755); err != nil {
		return driver.Handle{}, fmt.Errorf("exec: sandbox: %w", err)
	}
	if len(spec.Fetch) > 0 {
		if err := fetch.Into(ctx, spec.Sandbox, spec.Fetch, d.opts.HTTPClient); err != nil {
			return driver.Handle{}, err
		}
	}
	if err := writeJSON(filepath.Join(dir, specFile), launch{Spec: spec, Cgroups: d.cgroups}); err != nil {
		return driver.Handle{}, fmt.Errorf("exec: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, superLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return driver.Handle{}, fmt.Errorf("exec: %w", err)
	}
	defer logf.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		return driver.Handle{}, fmt.Errorf("exec: %w", err)
	}
	defer repR.Close()
	args := append(append([]string{}, d.opts.SupervisorCommand[1:]...), dir)
	cmd := osexec.Command(d.opts.SupervisorCommand[0], args...)
	// One P is plenty for a process that mostly waits; it starts faster.
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS=1"), d.opts.SupervisorEnv...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{repW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	repW.Close()
	if err != nil {
		return driver.Handle{}, fmt.Errorf("exec: start supervisor: %w", err)
	}
	done := make(chan struct{})
	d.mu.Lock()
	d.done[spec.ID] = done
	d.mu.Unlock()
	go func() { cmd.Wait(); close(done) }() // reap it while we live

	// One line: the pid or the reason; EOF means the supervisor died.
	type readResult struct {
		line []byte
		err  error
	}
	rc := make(chan readResult, 1)
	go func() {
		line, err := bufio.NewReader(repR).ReadBytes('\n')
		rc <- readResult{line, err}
	}()
	var line []byte
	var rerr error
	select {
	case r := <-rc:
		line, rerr = r.line, r.err
	case <-ctx.Done():
		// The task may start any moment: kill the supervisor's session
		// (the task's group is its own, so kill it by the cgroup too).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if st, err := readState(dir); err == nil && st.PGID > 0 {
			_ = syscall.Kill(-st.PGID, syscall.SIGKILL)
		}
		d.cgroups.forTask(spec.ID).killAll()
		_ = d.cgroups.forTask(spec.ID).remove()
		d.forget(spec.ID)
		return driver.Handle{}, fmt.Errorf("exec: start %s: %w", spec.ID, ctx.Err())
	}
	var rep report
	if rerr != nil && len(line) == 0 {
		<-done
		_ = d.cgroups.forTask(spec.ID).remove()
		b, _ := os.ReadFile(filepath.Join(dir, superLog))
		return driver.Handle{}, fmt.Errorf("exec: supervisor exited before the task started: %s", strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return driver.Handle{}, fmt.Errorf("exec: supervisor report %q: %w", line, err)
	}
	if rep.Error != "" {
		<-done
		// The supervisor removed them, unless a straggler kept them busy.
		_ = d.cgroups.forTask(spec.ID).remove()
		d.forget(spec.ID)
		if rep.TaskFault {
			return driver.Handle{}, fmt.Errorf("%w: %s", driver.ErrStartFailed, rep.Error)
		}
		return driver.Handle{}, fmt.Errorf("exec: %s", rep.Error)
	}
	return d.handle(spec.ID, dir, cmd.Process.Pid), nil
}

func (d *Driver) handle(id, dir string, supPID int) driver.Handle {
	data, _ := json.Marshal(handleData{Dir: dir, SupervisorPID: supPID})
	return driver.Handle{TaskID: id, Driver: Name, Data: data}
}

func (d *Driver) forget(id string) {
	d.mu.Lock()
	delete(d.done, id)
	d.mu.Unlock()
}

func (d *Driver) data(h driver.Handle) (handleData, error) {
	var hd handleData
	if h.Driver != "" && h.Driver != Name {
		return hd, fmt.Errorf("exec: handle of driver %q", h.Driver)
	}
	if err := json.Unmarshal(h.Data, &hd); err != nil {
		return hd, fmt.Errorf("exec: handle of %s: %w", h.TaskID, err)
	}
	if hd.Dir == "" {
		hd.Dir = filepath.Join(d.opts.StateDir, h.TaskID)
	}
	return hd, nil
}

// inspect reads the task's status; a supervisor that died without writing
// its final status makes the task unknown (lost).
func (d *Driver) inspect(hd handleData) (driver.Status, bool, error) {
	st, err := readState(hd.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return driver.Status{State: driver.StateUnknown, Reason: "no such task on this node"}, true, nil
		}
		return driver.Status{}, false, err
	}
	if st.Final {
		return st.Status, true, nil
	}
	pid := st.SupervisorPID
	if pid == 0 {
		pid = hd.SupervisorPID
	}
	if supervising(pid, hd.Dir) {
		return st.Status, false, nil
	}
	// It may have written the final status just before exiting.
	if st2, err := readState(hd.Dir); err == nil && st2.Final {
		return st2.Status, true, nil
	}
	s := st.Status
	s.State = driver.StateUnknown
	s.Reason = "lost: supervisor gone"
	s.FinishedAt = d.opts.Now()
	return s, true, nil
}

// Inspect returns the task's status now.
func (d *Driver) Inspect(ctx context.Context, h driver.Handle) (driver.Status, error) {
	hd, err := d.data(h)
	if err != nil {
		return driver.Status{}, err
	}
	s, _, err := d.inspect(hd)
	return s, err
}

// Wait blocks until the task ended (its final status is written) or ctx ends.
func (d *Driver) Wait(ctx context.Context, h driver.Handle) (driver.Status, error) {
	hd, err := d.data(h)
	if err != nil {
		return driver.Status{}, err
	}
	d.mu.Lock()
	done := d.done[h.TaskID]
	d.mu.Unlock()
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for {
		s, final, err := d.inspect(hd)
		if err != nil || final {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-done:
			done = nil // the next inspect sees the final status
		case <-t.C:
		}
	}
}

// Stop sends SIGTERM to the task's process group (through the supervisor,
// which records that Stop ended it), waits up to grace, then SIGKILLs the
// group, and returns once the final status is written.
func (d *Driver) Stop(ctx context.Context, h driver.Handle, grace time.Duration) error {
	hd, err := d.data(h)
	if err != nil {
		return err
	}
	st, err := readState(hd.Dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && st.Final) {
		return nil
	}
	if err != nil {
		return err
	}
	sup := st.SupervisorPID
	if !supervising(sup, hd.Dir) {
		// Lost supervisor: the group may still run; kill it outright.
		if st.PGID > 0 {
			_ = syscall.Kill(-st.PGID, syscall.SIGKILL)
		}
		return nil
	}
	_ = syscall.Kill(sup, syscall.SIGTERM)
	wctx, cancel := context.WithTimeout(ctx, grace)
	_, err = d.Wait(wctx, h)
	cancel()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if st.PGID > 0 {
		_ = syscall.Kill(-st.PGID, syscall.SIGKILL)
	}
	_, err = d.Wait(ctx, h)
	return err
}

// Destroy removes the task's cgroups and state directory once it ended.
func (d *Driver) Destroy(ctx context.Context, h driver.Handle) error {
	hd, err := d.data(h)
	if err != nil {
		return err
	}
	if s, final, err := d.inspect(hd); err != nil {
		return err
	} else if !final {
		return fmt.Errorf("exec: destroy %s: task still %s", h.TaskID, s.State)
	}
	var errs []error
	if err := d.cgroups.forTask(h.TaskID).remove(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(hd.Dir); err != nil {
		errs = append(errs, err)
	}
	d.forget(h.TaskID)
	return errors.Join(errs...)
}

// Recover lists the tasks in StateDir that run or ended but were not
// destroyed, with handles for Wait, Stop and Destroy.
func (d *Driver) Recover(ctx context.Context) ([]driver.Handle, error) {
	ents, err := os.ReadDir(d.opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("exec: recover: %w", err)
	}
	var out []driver.Handle
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(d.opts.StateDir, e.Name())
		st, err := readState(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				d.log.Warn("recover: unreadable task state", "dir", dir, "err", err)
			}
			continue
		}
		out = append(out, d.handle(e.Name(), dir, st.SupervisorPID))
	}
	return out, nil
}

// Logs returns the task's stdout then its stderr; with follow, new output of
// both as it is written until the task ends or ctx ends.
func (d *Driver) Logs(ctx context.Context, h driver.Handle, follow bool) (io.ReadCloser, error) {
	hd, err := d.data(h)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(hd.Dir, specFile))
	if err != nil {
		return nil, fmt.Errorf("exec: logs of %s: %w", h.TaskID, err)
	}
	var l launch
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("exec: logs of %s: %w", h.TaskID, err)
	}
	if !follow {
		return readLogs(l.Spec.Sandbox), nil
	}
	ended := func() bool { _, final, _ := d.inspect(hd); return final }
	return followLogs(ctx, l.Spec.Sandbox, ended, d.opts.Poll), nil
}
