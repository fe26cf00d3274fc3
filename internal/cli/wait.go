package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// waitFlags are the flags of a command that starts a deployment or a run.
type waitFlags struct {
	wait     bool
	interval time.Duration
}

func (f *waitFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait until the "+what+" ends; exit 1 unless it succeeds")
	cmd.Flags().DurationVar(&f.interval, "poll-interval", time.Second, "how often --wait asks the server")
	_ = cmd.Flags().MarkHidden("poll-interval")
}

// follow reports v, which a command started, with the line started. With
// --wait it prints that line as progress (to stderr unless the output is a
// table), calls wait with the progress writer until v ends, prints v as it
// ended with the line ended gives, and returns ended's failure: nil when v
// succeeded.
func follow[T any](a *app, wf waitFlags, v T, started string, wait func(progress io.Writer) (T, error), ended func(T) (line string, failure error)) error {
	if !wf.wait {
		return a.emit(v, func(w io.Writer) error {
			_, err := fmt.Fprintln(w, started)
			return err
		})
	}
	progress := a.stdout
	if a.output != "table" {
		progress = a.stderr
	}
	fmt.Fprintln(progress, started)
	final, err := wait(progress)
	if err != nil {
		return err
	}
	line, failure := ended(final)
	if err := a.emit(final, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, line)
		return err
	}); err != nil {
		return err
	}
	return failure
}

// poll calls check every interval until it reports done or an error, or
// until ctx ends; what names the thing waited for in the error then.
func poll(ctx context.Context, interval time.Duration, what string, check func() (done bool, err error)) error {
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
