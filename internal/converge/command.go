package converge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Command is a program to run: Path is looked up in PATH when it has no
// slash; Env is added to the runner's environment.
type Command struct {
	Path string
	Args []string
	Env  []string
	Dir  string
	// UID and GID, when set, run the command as that user (root only).
	UID, GID *uint32
}

// String is the command line, for messages.
func (c Command) String() string {
	return strings.Join(append([]string{c.Path}, c.Args...), " ")
}

// CommandResult is how a command ended: its exit code and its combined
// output.
type CommandResult struct {
	ExitCode int
	Output   string
}

// CommandRunner runs commands. Run returns an error only when the command
// could not be run; a non-zero exit is in the result.
type CommandRunner interface {
	Run(ctx context.Context, c Command) (CommandResult, error)
}

// OSRunner runs commands on the machine.
type OSRunner struct {
	// WaitDelay bounds how long Run waits for output after the command
	// exits (a daemon started by an init script that keeps the output
	// open); 5 s when zero.
	WaitDelay time.Duration
}

var _ CommandRunner = OSRunner{}

// Run runs c and waits for it.
func (r OSRunner) Run(ctx context.Context, c Command) (CommandResult, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	if c.UID != nil || c.GID != nil {
		// No supplementary groups: the caller's (root's) are not kept.
		cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Groups: []uint32{}}
		if c.UID != nil {
			cred.Uid = *c.UID
		}
		if c.GID != nil {
			cred.Gid = *c.GID
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	err := cmd.Run()
	res := CommandResult{Output: out.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil:
		// It exited; something it started keeps the output open.
		res.ExitCode = cmd.ProcessState.ExitCode()
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if res.ExitCode < 0 {
			if ctx.Err() != nil {
				return res, fmt.Errorf("%s: %w", c, ctx.Err())
			}
			res.ExitCode = 128 + 9
		}
		return res, nil
	}
	return res, fmt.Errorf("run %s: %w", c, err)
}

// exec runs a command through Env.Exec.
func (e *Env) exec(ctx context.Context, c Command) (CommandResult, error) {
	if e.Exec == nil {
		return CommandResult{}, fmt.Errorf("run %s: no command runner in this environment", c.Path)
	}
	return e.Exec.Run(ctx, c)
}

// mustRun runs a command and turns a non-zero exit into an error that
// carries the end of its output.
func (e *Env) mustRun(ctx context.Context, c Command) (CommandResult, error) {
	res, err := e.exec(ctx, c)
	if err != nil {
		return res, err
	}
	if res.ExitCode != 0 {
		return res, fmt.Errorf("%s: exit status %d%s", c, res.ExitCode, outputTail(res.Output))
	}
	return res, nil
}

// outputTail returns ": " and the last 2 KiB of a command's output, or "".
func outputTail(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	if len(out) > 2048 {
		out = "..." + out[len(out)-2048:]
	}
	return ": " + out
}

// onMachine reports whether the root is the machine itself.
func (e *Env) onMachine() bool { return e.Root == "" || e.Root == "/" }
