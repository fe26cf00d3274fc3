package jobs

import (
	"fmt"
	"time"
)

// State is what the caller keeps per job between plans.
type State struct {
	// LastScheduled is the latest scheduled time already handled (started,
	// skipped or recorded missed); Plan considers only later times. Zero for
	// a job never planned.
	LastScheduled time.Time
	// Since is when the job was created or its schedule last changed:
	// scheduled times up to it are never due (the later of LastScheduled
	// and Since counts). If both are zero, planning starts at now (nothing
	// is due on the first plan).
	Since time.Time
	// Active are the job's runs that have not ended.
	Active []Run
}

// Outcome is what became of a scheduled time that did not start.
type Outcome string

// The outcomes recorded in the run history besides started runs.
const (
	Missed  Outcome = "missed"  // not started in time (server down, starting deadline passed, superseded)
	Skipped Outcome = "skipped" // not started because of the concurrency policy
)

// Record is a scheduled time that did not start, for the run history.
type Record struct {
	Scheduled time.Time
	Outcome   Outcome
	Reason    string // "starting deadline 5m0s exceeded", "previous run still active", ...
}

func (r Record) String() string { return string(r.Outcome) + ": " + r.Reason }

// Decision is what to do now for one job.
type Decision struct {
	// Start are the scheduled times to start a first attempt for (at most
	// one from Plan: missed times are not caught up one by one).
	Start []time.Time
	// Kill are the IDs of active runs to kill before starting (REPLACE);
	// pass KilledExitCode to OnRunEnded for them.
	Kill []string
	// Records are scheduled times that did not start, oldest first; at most
	// MaxRecords of the latest, Dropped counts those left out (at least that
	// many, after a very long downtime of a frequent schedule).
	Records []Record
	Dropped int
	// LastScheduled is the new State.LastScheduled.
	LastScheduled time.Time
	// Wake is the next scheduled time after now: when to plan again (zero:
	// none, e.g. a one-off job).
	Wake time.Time
}

// MaxRecords bounds Decision.Records.
const MaxRecords = 100

// scanLimit bounds how many due times one Plan walks before skipping ahead
// (a per-second @every schedule after a day of downtime).
const scanLimit = 100_000

// Plan decides what to do at now for a cron job in state st:
//
//   - the scheduled times after st.LastScheduled up to now are due;
//   - only the latest due time may start: earlier ones are recorded missed
//     (like Kubernetes CronJob, a job does not run n times after a downtime);
//   - the latest is recorded missed too if it is older than
//     StartingDeadline (when set): the server was down at 03:00 and came back
//     at 03:20, with a 5 m deadline;
//   - otherwise the concurrency policy decides, if runs are active: ALLOW
//     starts it, FORBID records it skipped ("previous run still active"),
//     REPLACE kills the active runs and starts it.
//
// One-off jobs (no schedule) have nothing to plan. Plan fails only on an
// invalid schedule or time zone.
//
// Plan parses the schedule and loads the time zone on every call (tens of
// microseconds); a leader planning many jobs on every tick keeps a Compiled
// per job instead.
func Plan(job Job, st State, now time.Time) (Decision, error) {
	c, err := Compile(job)
	if err != nil {
		return Decision{}, err
	}
	return c.Plan(st, now), nil
}

// Compiled is a job with its schedule parsed, to plan it many times.
type Compiled struct {
	job      Job
	schedule *Schedule // nil for a one-off job
}

// Compile parses job's schedule and time zone.
func Compile(job Job) (Compiled, error) {
	s, err := ParseSchedule(job)
	if err != nil {
		return Compiled{}, fmt.Errorf("plan job %s: %w", job.ID, err)
	}
	return Compiled{job: job, schedule: s}, nil
}

// Job is the job c was compiled from.
func (c Compiled) Job() Job { return c.job }

// Plan is Plan for the compiled job.
func (c Compiled) Plan(st State, now time.Time) Decision { return plan(c.job, c.schedule, st, now) }

// Next is the first scheduled time after after; zero for a one-off job.
func (c Compiled) Next(after time.Time) time.Time {
	if c.schedule == nil {
		return time.Time{}
	}
	return c.schedule.Next(after)
}

func plan(job Job, s *Schedule, st State, now time.Time) Decision {
	d := Decision{LastScheduled: st.LastScheduled}
	if s == nil {
		return d
	}
	from := st.LastScheduled
	if st.Since.After(from) {
		from = st.Since
	}
	if from.IsZero() {
		from = now
	}
	// Walk the due times, keeping the last MaxRecords+1 of them.
	var (
		ring  [MaxRecords + 1]time.Time
		count int
		t     = s.Next(from)
	)
	for !t.IsZero() && !t.After(now) {
		ring[count%len(ring)] = t
		count++
		if count%scanLimit == 0 {
			// Far behind: jump to the window that can still matter.
			window := job.StartingDeadline
			if window == 0 {
				window = 24 * time.Hour
			}
			if skip := now.Add(-window); skip.After(t) {
				d.Dropped += countSkipped(s, t, skip)
				t = s.Next(skip.Add(-time.Nanosecond)) // a time at skip itself is due
				continue
			}
		}
		t = s.Next(t)
	}
	d.Wake = t
	if count == 0 {
		return d
	}
	n := min(count, len(ring))
	due := make([]time.Time, n)
	for i := range n {
		due[i] = ring[(count-n+i)%len(ring)]
	}
	latest := due[n-1]
	d.LastScheduled = latest
	d.Dropped += count - n
	for _, t := range due[:n-1] {
		reason := "superseded by the run of " + latest.Format(time.RFC3339)
		if late := now.Sub(t); job.StartingDeadline > 0 && late > job.StartingDeadline {
			reason = fmt.Sprintf("starting deadline %s exceeded (%s late)", job.StartingDeadline, late)
		}
		d.Records = append(d.Records, Record{Scheduled: t, Outcome: Missed, Reason: reason})
	}
	if late := now.Sub(latest); job.StartingDeadline > 0 && late > job.StartingDeadline {
		d.Records = append(d.Records, Record{Scheduled: latest, Outcome: Missed, Reason: fmt.Sprintf("starting deadline %s exceeded (%s late)", job.StartingDeadline, late)})
	} else {
		concurrency(job, st.Active, latest, &d)
	}
	if len(d.Records) > MaxRecords {
		d.Dropped += len(d.Records) - MaxRecords
		d.Records = d.Records[len(d.Records)-MaxRecords:]
	}
	return d
}

// countSkipped counts the due times in (after, until) without keeping them;
// the scan limit applies again, so the count is a lower bound.
func countSkipped(s *Schedule, after, until time.Time) int {
	n := 0
	for t := s.Next(after); !t.IsZero() && t.Before(until) && n < scanLimit; t = s.Next(t) {
		n++
	}
	return n
}

// concurrency applies the job's policy to starting a run for scheduled
// while active runs are going.
func concurrency(job Job, active []Run, scheduled time.Time, d *Decision) {
	if len(active) > 0 {
		switch job.ConcurrencyPolicy {
		case Allow:
		case Replace:
			for _, r := range active {
				d.Kill = append(d.Kill, r.ID)
			}
		default: // FORBID
			d.Records = append(d.Records, Record{Scheduled: scheduled, Outcome: Skipped, Reason: "previous run still active"})
			return
		}
	}
	d.Start = append(d.Start, scheduled)
}

// Manual decides what to do when a user asks for a run of job at now
// (`corral job run ID`), for one-off and cron jobs alike: the concurrency
// policy applies as to a scheduled run, with now as the scheduled time.
// State.LastScheduled is not changed.
func Manual(job Job, st State, now time.Time) Decision {
	d := Decision{LastScheduled: st.LastScheduled}
	concurrency(job, st.Active, now, &d)
	return d
}
