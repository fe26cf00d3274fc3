package exec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"corral/internal/driver"
)

// report is the one JSON line a supervisor writes on fd 3 to the Start that
// launched it: the task's pid, or why it did not start.
type report struct {
	PID       int    `json:"pid,omitempty"`
	Error     string `json:"error,omitempty"`
	TaskFault bool   `json:"task_fault,omitempty"` // the program is missing etc.
}

// SupervisorMain is the task supervisor: `corral supervise <task-state-dir>`
// (the CLI's hidden command) calls it with the arguments after the command
// name. It runs one task from <dir>/spec.json inside its cgroups, writes
// <dir>/status.json when the task starts and when it ends, and returns the
// process exit code. It runs in its own session, so it outlives the agent
// that started it.
func SupervisorMain(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: supervise <task-state-dir>")
		return 2
	}
	dir := args[len(args)-1]
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "supervisor", "dir", dir)
	rep := os.NewFile(3, "report")
	send := func(r report) {
		if rep == nil {
			return
		}
		b, _ := json.Marshal(r)
		rep.Write(append(b, '\n'))
		rep.Close()
		rep = nil
	}
	if err := supervise(dir, log, send); err != nil {
		log.Error("supervise", "err", err)
		send(report{Error: err.Error()})
		return 1
	}
	return 0
}

func supervise(dir string, log *slog.Logger, send func(report)) error {
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return err
	}
	var l launch
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	spec := l.Spec
	st := state{SupervisorPID: os.Getpid()}

	// SIGTERM from Stop: remember it and pass it on to the task's group.
	var stopped atomic.Bool
	var pgid atomic.Int64
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			if s != syscall.SIGTERM {
				continue // the agent's terminal going away is no reason to stop
			}
			stopped.Store(true)
			if p := pgid.Load(); p > 0 {
				_ = syscall.Kill(-int(p), syscall.SIGTERM)
			}
		}
	}()

	groups := l.Cgroups.forTask(spec.ID)
	if l.Cgroups.Version == 0 && (spec.MemMiB > 0 || spec.CPUs > 0) {
		log.Warn("limits not enforced: no cgroups", "why", l.Cgroups.Why)
	}
	fail := func(err error, taskFault bool) error {
		st.State, st.StartError, st.Final = driver.StateExited, err.Error(), true
		st.Reason, st.ExitCode = err.Error(), -1
		st.FinishedAt = time.Now()
		_ = writeJSON(filepath.Join(dir, statusFile), st)
		_ = groups.remove()
		send(report{Error: err.Error(), TaskFault: taskFault})
		return nil
	}
	if err := groups.create(spec.MemMiB, spec.CPUs); err != nil {
		return fail(err, false)
	}

	cmd, viaShell, err := command(spec)
	if err != nil {
		return fail(err, true)
	}
	maxBytes := spec.LogMaxBytes
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err, false)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(err, false)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	var copiers sync.WaitGroup
	for _, c := range []struct {
		r    *os.File
		name string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		w, err := openRotating(filepath.Join(spec.Sandbox, c.name), maxBytes)
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", c.name, err), false)
		}
		copiers.Add(1)
		go func() {
			defer copiers.Done()
			io.Copy(w, c.r)
			w.Close()
			c.r.Close()
		}()
	}

	err = groups.start(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fail(err, true)
	}
	pid := cmd.Process.Pid
	pgid.Store(int64(pid))
	st.State, st.PID, st.PGID, st.StartedAt = driver.StateRunning, pid, pid, time.Now()
	if err := writeJSON(filepath.Join(dir, statusFile), st); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("write status: %w", err)
	}
	send(report{PID: pid})
	if stopped.Load() { // SIGTERM came before the pgid was known
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}

	werr := cmd.Wait()
	// The task's leader is gone: nothing of it may stay behind.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	groups.killAll()
	done := make(chan struct{})
	go func() { copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a daemonized child keeps a pipe open
		outR.Close()
		errR.Close()
	}

	e := exitInfo{MemMiB: spec.MemMiB, ViaShell: viaShell, OOM: groups.oomKilled()}
	if ps := cmd.ProcessState; ps != nil {
		ws := ps.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			e.Signal = SignalName(ws.Signal())
			e.Code = 128 + int(ws.Signal())
		default:
			e.Code = ws.ExitStatus()
		}
	} else if werr != nil {
		return fmt.Errorf("wait: %w", werr)
	}
	st.State = driver.StateExited
	st.ExitCode, st.Signal, st.OOM = e.Code, e.Signal, e.OOM
	st.Stopped = stopped.Load()
	st.Reason = reason(e)
	st.FinishedAt = time.Now()
	st.Final = true
	if err := groups.remove(); err != nil {
		log.Warn("remove cgroups", "err", err)
	}
	return writeJSON(filepath.Join(dir, statusFile), st)
}

// command builds the task's process: sh -c Cmd or Args, in the sandbox, in
// its own process group, with the task's env and user.
func command(spec driver.Spec) (*osexec.Cmd, bool, error) {
	var cmd *osexec.Cmd
	viaShell := false
	switch {
	case spec.Cmd != "":
		cmd = osexec.Command("/bin/sh", "-c", spec.Cmd)
		viaShell = true
	case len(spec.Args) > 0:
		cmd = &osexec.Cmd{Path: spec.Args[0], Args: spec.Args}
		if filepath.Base(spec.Args[0]) == spec.Args[0] {
			// A bare name is looked up in the task's PATH.
			p, err := osexec.LookPath(spec.Args[0])
			if err != nil {
				return nil, false, err
			}
			cmd.Path = p
		} else if !filepath.IsAbs(spec.Args[0]) {
			// Relative to the sandbox: check it here for a clear reason.
			if _, err := os.Stat(filepath.Join(spec.Sandbox, spec.Args[0])); err != nil {
				return nil, false, fmt.Errorf("exec: %q: %w", spec.Args[0], err)
			}
		}
	default:
		return nil, false, errors.New("no command: spec has neither cmd nor args")
	}
	cmd.Dir = spec.Sandbox
	cmd.Env = TaskEnv(spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.User != "" {
		cred, err := credential(spec.User)
		if err != nil {
			return nil, false, err
		}
		cmd.SysProcAttr.Credential = cred
		if err := os.Chown(spec.Sandbox, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, false, fmt.Errorf("chown sandbox: %w", err)
		}
	}
	return cmd, viaShell, nil
}

// credential resolves a user name or uid to the credential to run as.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var uerr error
		if u, uerr = user.LookupId(name); uerr != nil {
			return nil, fmt.Errorf("user %s: %w", name, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if os.Getuid() != 0 && uid != os.Getuid() {
		return nil, fmt.Errorf("user %s: the supervisor is not root", name)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.Atoi(g); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}
