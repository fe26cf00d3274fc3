package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) jobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "job",
		Aliases: []string{"jobs"},
		Short:   "List, show, run and remove jobs; their history and logs",
		Long: `List, show, run and remove jobs: commands run to completion on a cron
schedule, or once (Chronos/Metronome's jobs). Jobs are created and changed
with "corral apply" (kind: Job):

  kind: Job
  id: /ops/backup
  cmd: ./backup.sh
  schedule: "0 3 * * *"
  timezone: Europe/Berlin
  retries: 2`,
		Example: `  corral job ls
  corral job run /ops/backup --wait
  corral job history /ops/backup -n 20
  corral job logs /ops/backup --run RUN`,
	}
	cmd.AddCommand(a.jobLsCmd(), a.jobShowCmd(), a.jobRunCmd(), a.jobHistoryCmd(), a.jobLogsCmd(), a.jobRmCmd())
	return cmd
}

// exitText is a run's exit code, or "-".
func exitText(code *int) string {
	if code == nil {
		return "-"
	}
	return strconv.Itoa(*code)
}

// runDuration is how long a run took, or has run so far.
func runDuration(now time.Time, r api.JobRun) string {
	switch {
	case r.Started.IsZero():
		return "-"
	case r.Finished.IsZero():
		return span(now.Sub(r.Started))
	case r.Duration > 0:
		return span(time.Duration(r.Duration * float64(time.Second)))
	}
	return span(r.Finished.Sub(r.Started))
}

// runSummary is "succeeded, exit 0, 12s, 3h ago" for the LAST RUN column.
func runSummary(now time.Time, r *api.JobRun) string {
	if r == nil {
		return "never"
	}
	parts := []string{r.State}
	if r.ExitCode != nil {
		parts = append(parts, "exit "+exitText(r.ExitCode))
	}
	if d := runDuration(now, *r); d != "-" {
		parts = append(parts, d)
	}
	when := r.Started
	if when.IsZero() {
		when = r.Scheduled
	}
	if !when.IsZero() {
		parts = append(parts, ago(now, when)+" ago")
	}
	return strings.Join(parts, ", ")
}

// nextRun is when a job runs next: "in 5h (2026-03-11 03:00:00)", or
// "manual only" for a job without a schedule.
func nextRun(now time.Time, j api.JobStatus) string {
	if j.NextRun.IsZero() {
		if j.Spec.Schedule == "" {
			return "manual only"
		}
		return "-"
	}
	return until(now, &j.NextRun) + " (" + stamp(j.NextRun) + ")"
}

func (a *app) jobLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the jobs, when they run next and how they last ran",
		Example: "  corral job ls\n  corral job ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.JobStatus, error) {
				return c.Jobs(ctx)
			}, a.writeJobs)
		},
	}
}

// writeJobs writes the table of `job ls`.
func (a *app) writeJobs(w io.Writer, js []api.JobStatus) {
	now := a.now()
	row(w, "ID", "SCHEDULE", "TZ", "NEXT RUN", "LAST RUN")
	for _, j := range js {
		tz := j.Spec.Timezone
		if tz == "" {
			tz = "UTC"
		}
		last := runSummary(now, j.LastRun)
		if len(j.Active) > 0 {
			last = fmt.Sprintf("%d active; last: %s", len(j.Active), last)
		}
		row(w, j.Spec.ID, dash(j.Spec.Schedule), tz, nextRun(now, j), last)
	}
}

func (a *app) jobShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"get"},
		Short:   "Show a job: what it runs, its schedule, active runs and the last run",
		Example: "  corral job show /ops/backup\n  corral job show /ops/backup -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.JobStatus, error) {
				return c.Job(ctx, appID(args[0]))
			}, a.writeJob)
		},
	}
}

// writeJob writes the readable block of `job show`.
func (a *app) writeJob(w io.Writer, j api.JobStatus) {
	now := a.now()
	s := j.Spec
	fmt.Fprintf(w, "ID:\t%s\n", s.ID)
	fmt.Fprintf(w, "Version:\t%d (%s)\n", j.Version, stamp(j.UpdatedAt))
	fmt.Fprintf(w, "Runs:\t%s\n", dash(runsWhat(s.RunSpec)))
	fmt.Fprintf(w, "Resources:\t%s\n", resources(s.RunSpec))
	sched := "none (runs once, or with `corral job run`)"
	if s.Schedule != "" {
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		sched = s.Schedule + " (" + tz + ")"
	}
	fmt.Fprintf(w, "Schedule:\t%s\n", sched)
	fmt.Fprintf(w, "Next run:\t%s\n", nextRun(now, j))
	policy := s.ConcurrencyPolicy
	if policy == "" {
		policy = api.ConcurrencyAllow
	}
	fmt.Fprintf(w, "Concurrency:\t%s\n", policy)
	fmt.Fprintf(w, "Retries:\t%d\n", s.Retries)
	if s.StartingDeadline > 0 {
		fmt.Fprintf(w, "Starting deadline:\t%s\n", time.Duration(s.StartingDeadline))
	}
	fmt.Fprintf(w, "Last run:\t%s\n", runSummary(now, j.LastRun))
	if r := j.LastRun; r != nil && r.Reason != "" {
		fmt.Fprintf(w, "  Reason:\t%s\n", r.Reason)
	}
	fmt.Fprintln(w, "Active runs:")
	if len(j.Active) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	writeRuns(w, now, j.Active, "  ")
}

// writeRuns writes a table of runs, each line prefixed with indent.
func writeRuns(w io.Writer, now time.Time, rs []api.JobRun, indent string) {
	fmt.Fprintln(w, indent+"RUN\tSTARTED\tDURATION\tSTATE\tEXIT\tATTEMPTS\tNODE\tREASON")
	for _, r := range rs {
		state := r.State
		if r.Manual {
			state += " (manual)"
		}
		fmt.Fprintln(w, indent+strings.Join([]string{r.ID, stamp(r.Started), runDuration(now, r), state, exitText(r.ExitCode),
			strconv.Itoa(r.Attempts), dash(r.Node), firstLine(r.Reason, 60)}, "\t"))
	}
}

func (a *app) jobRunCmd() *cobra.Command {
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "run ID",
		Short: "Run a job now",
		Long: `Run a job now, whatever its schedule. With --wait, wait until the run ends,
print how it ended and exit 1 unless it succeeded.`,
		Example: "  corral job run /ops/backup\n  corral job run /ops/backup --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			id := appID(args[0])
			r, err := c.RunJob(cmd.Context(), id)
			if err != nil {
				return err
			}
			wait := func(io.Writer) (api.JobRun, error) {
				return a.waitRun(cmd.Context(), c, id, r.ID, wf.interval)
			}
			return follow(a, wf, r, fmt.Sprintf("job %s: run %s started", id, r.ID), wait, a.runEnded)
		},
	}
	wf.add(cmd, "run")
	return cmd
}

// runEnded is the line saying how run r ended, and an exit code error
// unless it succeeded.
func (a *app) runEnded(r api.JobRun) (string, error) {
	s := fmt.Sprintf("run %s %s", r.ID, r.State)
	if r.ExitCode != nil {
		s += ", exit " + exitText(r.ExitCode)
	}
	s += " after " + runDuration(a.now(), r)
	if r.Attempts > 1 {
		s += fmt.Sprintf(" (%d attempts)", r.Attempts)
	}
	if r.Node != "" {
		s += " on " + r.Node
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	if r.State != api.RunSucceeded {
		return s, &exitCodeError{code: 1}
	}
	return s, nil
}

// waitRun polls the runs of job every interval until run is no longer
// active and returns it.
func (a *app) waitRun(ctx context.Context, c *client.Client, job, run string, interval time.Duration) (api.JobRun, error) {
	var ended api.JobRun
	err := poll(ctx, interval, "run "+run, func() (bool, error) {
		rs, err := c.JobRuns(ctx, job, 0)
		if err != nil {
			return false, err
		}
		i := slices.IndexFunc(rs, func(r api.JobRun) bool { return r.ID == run })
		if i < 0 {
			return false, fmt.Errorf("run %s of job %s is not in its history", run, job)
		}
		ended = rs[i]
		return ended.State != api.RunActive, nil
	})
	if err != nil {
		return api.JobRun{}, err
	}
	return ended, nil
}

func (a *app) jobHistoryCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "history ID",
		Aliases: []string{"runs"},
		Short:   "List the runs of a job, newest first",
		Example: "  corral job history /ops/backup\n  corral job history /ops/backup -n 50 -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.JobRun, error) {
				return c.JobRuns(ctx, appID(args[0]), limit)
			}, func(w io.Writer, rs []api.JobRun) { writeRuns(w, a.now(), rs, "") })
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "list at most this many runs")
	return cmd
}

func (a *app) jobLogsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print the output of a job's runs",
		Example: `  corral job logs /ops/backup
  corral job logs /ops/backup --run RUN -f`,
	}
	return a.logsCmd(cmd, "run", "only the lines of this run", func(q *client.LogQuery, run string) { q.Run = run })
}

func (a *app) jobRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove a job",
		Example: "  corral job rm /ops/backup",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := appID(args[0])
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteJob(ctx, id)
			}, "job "+id+" removed")
		},
	}
}
