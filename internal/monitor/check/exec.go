package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"corral/internal/api"
)

// Defaults for ExecOptions.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 1 << 20 // 1 MiB
	DefaultGrace     = 2 * time.Second
)

// ExecOptions tunes Exec. The zero value uses the defaults above.
type ExecOptions struct {
	// Timeout bounds the run; the whole process group gets SIGTERM when it
	// passes, and SIGKILL Grace later.
	Timeout time.Duration
	// MaxOutput caps the combined stdout+stderr kept; the rest is read and
	// dropped, and the output ends with "…(output truncated at N bytes)".
	MaxOutput int
	// Grace is the time between SIGTERM and SIGKILL, and how long output is
	// still read after the shell exits while its children hold the pipe.
	Grace time.Duration
	// Env is the command's environment; nil inherits the agent's.
	Env []string
	// Dir is the working directory; "" is the agent's.
	Dir string
	// Shell runs the command as Shell -c command; "" is /bin/sh.
	Shell string
}

func (o ExecOptions) withDefaults() ExecOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Shell == "" {
		o.Shell = "/bin/sh"
	}
	return o
}

// Outcome is what one run of a check found.
type Outcome struct {
	Status int
	Output string
}

// Exec runs command under `sh -c` in its own process group and returns its
// status and combined output (see the package comment for the status
// rules). It never returns an error: a failure to start is an unknown
// outcome saying why. Cancelling ctx ends the run like a timeout.
func Exec(ctx context.Context, command string, opts ExecOptions) Outcome {
	o := opts.withDefaults()
	cmd := exec.Command(o.Shell, "-c", command)
	cmd.Env = o.Env
	cmd.Dir = o.Dir
	setProcessGroup(cmd)
	pr, pw, err := os.Pipe()
	if err != nil {
		return Outcome{api.StatusUnknown, fmt.Sprintf("UNKNOWN - create output pipe: %v", err)}
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Outcome{api.StatusUnknown, fmt.Sprintf("UNKNOWN - start %s: %v", o.Shell, err)}
	}
	pw.Close() // the children hold the write end now
	out := &capped{max: o.MaxOutput}
	readDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, pr)
		close(readDone)
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	var waitErr error
	timedOut := false
	select {
	case waitErr = <-waitDone:
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		timedOut = true
	}
	if timedOut {
		killGroup(cmd, syscall.SIGTERM)
		select {
		case waitErr = <-waitDone:
		case <-time.After(o.Grace):
			killGroup(cmd, syscall.SIGKILL)
			waitErr = <-waitDone
		}
	}
	// The shell is gone; background children may still hold the pipe.
	select {
	case <-readDone:
	case <-time.After(o.Grace):
		killGroup(cmd, syscall.SIGKILL)
		pr.Close()
		<-readDone
	}
	pr.Close()
	if timedOut {
		// Children that ignored SIGTERM must not outlive a timed-out run.
		killGroup(cmd, syscall.SIGKILL)
	}

	text := out.String()
	switch {
	case timedOut && ctx.Err() != nil:
		return Outcome{api.StatusUnknown, joinOutput("UNKNOWN - check cancelled: "+ctx.Err().Error(), text)}
	case timedOut:
		return Outcome{api.StatusCritical, joinOutput(fmt.Sprintf("Execution timed out after %s", o.Timeout), text)}
	}
	return exitOutcome(waitErr, text)
}

// exitOutcome maps how the shell ended to a status.
func exitOutcome(waitErr error, text string) Outcome {
	if waitErr == nil {
		return Outcome{api.StatusOK, text}
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return Outcome{api.StatusUnknown, joinOutput("UNKNOWN - "+waitErr.Error(), text)}
	}
	code := ee.ExitCode()
	switch {
	case code == -1: // killed by a signal
		return Outcome{api.StatusUnknown, joinOutput("UNKNOWN - "+ee.String(), text)}
	case code == 126 || code == 127:
		reason := strings.TrimSpace(text)
		if reason == "" {
			reason = fmt.Sprintf("exit status %d", code)
		}
		if code == 127 {
			return Outcome{api.StatusUnknown, "UNKNOWN - command not found: " + reason}
		}
		return Outcome{api.StatusUnknown, "UNKNOWN - command not executable: " + reason}
	}
	return Outcome{code, text}
}

func joinOutput(msg, text string) string {
	if strings.TrimSpace(text) == "" {
		return msg
	}
	return msg + "\n" + text
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	max   int
	buf   []byte
	total int64
}

func (c *capped) Write(p []byte) (int, error) {
	c.total += int64(len(p))
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// String is the kept output, cut back to whole UTF-8 characters and ending
// with a marker when something was dropped.
func (c *capped) String() string {
	if c.total <= int64(len(c.buf)) {
		return string(c.buf)
	}
	b := c.buf
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return fmt.Sprintf("%s\n…(output truncated at %d bytes)", b, c.max)
}
