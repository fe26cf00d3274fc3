package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
)

// checkinOutputMax bounds the output a wrapped command reports (the end of
// it is kept: that is where errors are).
const checkinOutputMax = 64 << 10

// exitCodeError makes the process exit with code after printing err (when
// not nil).
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// checkinStatus maps a command's exit code to a check status: 0 ok,
// 1 warning, 2 critical, and any other failure critical.
func checkinStatus(exit int) int {
	switch exit {
	case 0, 1, 2:
		return exit
	}
	return api.StatusCritical
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max       int
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.truncated = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t.truncated {
		return "(output cut to its last 64 KiB)\n" + string(t.buf)
	}
	return string(t.buf)
}

func (a *app) checkinCmd() *cobra.Command {
	var status int
	var output, entity string
	cmd := &cobra.Command{
		Use:   "checkin NAME [--status N] [--output TEXT] [-- COMMAND ARGS...]",
		Short: "Report a result for a check, or run a command and report how it went",
		Long: `Report a result for a check: typically a ttl check that goes critical when
check-ins stop (a backup that stopped running). With a command after --, run
it, pass its output through, and report its exit code as the status (0 ok,
1 warning, 2 critical, any other failure critical) and its combined output
(the last 64 KiB) as the output; corral then exits with the command's exit
code. The entity is this host's name unless --entity says otherwise.

The same as a plain HTTP call:

  curl -H "Authorization: Bearer $TOKEN" -d '{"check":"backup-ran","entity":"db-1","status":0,"output":"ok"}' \
    https://corral:7700/api/v1/checkins

A check applied with ttl makes the event critical when no check-in came for
that long:

  kind: Check
  name: backup-ran
  ttl: 26h
  handlers: [ops]`,
		Example: `  corral checkin backup-ran -- /usr/local/bin/backup
  corral checkin backup-ran --status 2 --output "disk full"
  corral checkin deploy-smoke --entity web-1 --output "OK | time=0.5s;1;2"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			dash := cmd.ArgsLenAtDash()
			var command []string
			switch {
			case dash == 1:
				command = args[1:]
			case len(args) > 1:
				return fmt.Errorf("give the command after --: corral checkin %s -- COMMAND ARGS...", name)
			}
			if dash == 1 && len(command) == 0 {
				return errors.New("no command after --")
			}
			if entity == "" {
				h, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("hostname (give --entity): %w", err)
				}
				entity = h
			}
			res := api.CheckResult{Check: name, Entity: entity, Status: status, Output: output}
			if fe := res.Validate(); len(fe) > 0 {
				return fe.Err("invalid check-in")
			}
			exit := 0
			if command != nil {
				if cmd.Flags().Changed("status") || cmd.Flags().Changed("output") {
					return errors.New("--status and --output are taken from the command; give one or the other")
				}
				exit, res = a.runForCheckin(cmd.Context(), command, res)
			}
			c, err := a.client()
			if err == nil {
				_, err = c.Checkin(cmd.Context(), res)
			}
			switch {
			case err != nil && exit != 0:
				return &exitCodeError{code: exit, err: fmt.Errorf("check-in %s: %w", name, err)}
			case err != nil:
				return err
			case exit != 0:
				return &exitCodeError{code: exit}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&status, "status", 0, "the result's status: 0 ok, 1 warning, 2 critical, 3 unknown")
	f.StringVar(&output, "output", "", "the result's output (Nagios perfdata after | become metrics when the check says so)")
	f.StringVar(&entity, "entity", "", "the entity the result is for (default this host's name)")
	return cmd
}

// runForCheckin runs command, passing its output through, and returns its
// exit code and res with status, output, executed and duration set.
func (a *app) runForCheckin(ctx context.Context, command []string, res api.CheckResult) (int, api.CheckResult) {
	tail := &tailBuffer{max: checkinOutputMax}
	start := a.now()
	c := exec.CommandContext(ctx, command[0], command[1:]...)
	c.Stdin = a.stdin
	c.Stdout = io.MultiWriter(a.stdout, tail)
	c.Stderr = io.MultiWriter(a.stderr, tail)
	err := c.Run()
	exit := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		exit = ee.ExitCode()
		if exit < 0 { // killed by a signal
			exit = 128 + 9
			fmt.Fprintf(tail, "\n%v\n", err)
		}
	default: // could not start it
		exit = 127
		fmt.Fprintf(tail, "%v\n", err)
		fmt.Fprintf(a.stderr, "Error: %v\n", err)
	}
	res.Status = checkinStatus(exit)
	res.Output = tail.String()
	res.Executed = start.Unix()
	res.Duration = a.now().Sub(start).Round(time.Millisecond).Seconds()
	return exit, res
}
