package handler

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"corral/internal/api"
)

// maxOutput bounds the output a failed handler reports.
const maxOutput = 4 << 10

// Pipe runs the spec's command under `sh -c` with the event as Sensu JSON
// on stdin and the spec's env added. The handler's context (its timeout)
// kills the command's whole process group. A non-zero exit is an error that
// carries the output.
type Pipe struct{}

var _ Handler = (*Pipe)(nil)

// Handle runs the command.
func (p *Pipe) Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error {
	in, err := SensuJSON(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", spec.Command)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), spec.Env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("pipe %q: %w: %s", spec.Command, ctx.Err(), clip(out.String()))
	}
	if err != nil {
		return fmt.Errorf("pipe %q: %w: %s", spec.Command, err, clip(out.String()))
	}
	return nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxOutput {
		s = s[:maxOutput] + "..."
	}
	return s
}
