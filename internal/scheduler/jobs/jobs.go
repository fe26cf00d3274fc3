package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ConcurrencyPolicy says what to do when a run is due while another is active.
type ConcurrencyPolicy string

// The policies of Metronome and Kubernetes CronJob.
const (
	Allow   ConcurrencyPolicy = "ALLOW"   // start alongside the active runs
	Forbid  ConcurrencyPolicy = "FORBID"  // skip the new run (recorded as skipped)
	Replace ConcurrencyPolicy = "REPLACE" // kill the active runs, start the new one
)

// Job is the part of a job spec that planning needs; the server maps the
// app spec's fields to it.
type Job struct {
	ID string
	// Schedule is a standard 5-field cron expression ("0 3 * * *") or a
	// descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every 1h30m);
	// empty for a one-off job.
	Schedule string
	Timezone string // IANA name ("Europe/Berlin"); empty is UTC
	// ConcurrencyPolicy defaults to FORBID when empty.
	ConcurrencyPolicy ConcurrencyPolicy
	// StartingDeadline is how late a scheduled run may still start; a run
	// due longer ago is recorded as missed. 0: no deadline (only the latest
	// due run starts, however late; earlier ones are missed).
	StartingDeadline time.Duration
	// Retries is how many times a failed run is started again (so at most
	// 1+Retries attempts per scheduled time).
	Retries int
}

// parser reads standard cron expressions and descriptors.
func parser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// Schedule is a job's parsed schedule.
type Schedule struct {
	sched cron.Schedule
	loc   *time.Location
}

// ParseSchedule parses a job's schedule in its time zone. It returns a nil
// Schedule and no error for a one-off job (empty schedule).
func ParseSchedule(job Job) (*Schedule, error) {
	loc := time.UTC
	if job.Timezone != "" {
		l, err := time.LoadLocation(job.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %w", job.Timezone, err)
		}
		loc = l
	}
	if job.Schedule == "" {
		return nil, nil
	}
	s, err := parser().Parse(job.Schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", job.Schedule, err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return &Schedule{sched: s, loc: loc}, nil
}

// Next is the first scheduled time after after (zero if none within five
// years), in the schedule's time zone.
func (s *Schedule) Next(after time.Time) time.Time {
	n := s.sched.Next(after.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.In(s.loc)
}

// Validate reports what is wrong with job.
func (job Job) Validate() error {
	var errs []error
	if job.ID == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if _, err := ParseSchedule(job); err != nil {
		errs = append(errs, err)
	}
	switch job.ConcurrencyPolicy {
	case "", Allow, Forbid, Replace:
	default:
		errs = append(errs, fmt.Errorf("concurrency_policy %q: want ALLOW, FORBID or REPLACE", job.ConcurrencyPolicy))
	}
	if job.StartingDeadline < 0 {
		errs = append(errs, fmt.Errorf("starting_deadline %s: must not be negative", job.StartingDeadline))
	}
	if job.Retries < 0 {
		errs = append(errs, fmt.Errorf("retries %d: must not be negative", job.Retries))
	}
	return errors.Join(errs...)
}

// Next is the job's next scheduled time after after, for display; zero for
// a one-off job or an invalid schedule.
func Next(job Job, after time.Time) time.Time {
	s, err := ParseSchedule(job)
	if err != nil || s == nil {
		return time.Time{}
	}
	return s.Next(after)
}

// Run is one run of a job: one attempt at one scheduled time.
type Run struct {
	ID        string
	Scheduled time.Time // the cron time it is for; for a manual run, when it was asked
	Started   time.Time
	Attempt   int // 1 for the first attempt, 2 for the first retry, ...
}

// KilledExitCode is the exit code the caller passes to OnRunEnded for a run
// it killed (REPLACE, a user's kill, a lost node): such a run is not retried.
const KilledExitCode = -1

// OnRunEnded says whether a run that ended with exitCode is started again
// and, if so, the attempt number of the new run. A run is retried when it
// failed (exit code > 0) and it has attempts left (Attempt ≤ Retries).
func (job Job) OnRunEnded(run Run, exitCode int) (retry bool, attempt int) {
	attempt = max(run.Attempt, 1)
	if exitCode <= 0 || attempt > job.Retries {
		return false, attempt
	}
	return true, attempt + 1
}
