// Package jobs plans the runs of jobs, as Metronome and Chronos do (and as
// Kubernetes CronJob does for missed runs): cron schedules in a time zone,
// a starting deadline, a concurrency policy and retries. It is pure: every
// function takes the time it should consider, and the caller (the leader
// server) keeps the state, starts and kills runs and records them in the
// history store.
//
// A one-off job has no schedule and runs only when asked (Manual); a cron
// job is planned by Plan on every tick of the caller's timer, which sleeps
// until Decision.Wake.
//
// Daylight-saving time follows robfig/cron v3 (the schedule is evaluated in
// the job's time zone, wall clock): on the spring-forward day a time that
// does not exist is skipped (a "30 2 * * *" job in Europe/Berlin does not run
// on 2026-03-29, when 02:00 jumps to 03:00), and on the fall-back day a time
// that exists twice runs twice (at 02:30 CEST and again at 02:30 CET on
// 2026-10-25). Schedules of every-hour or every-minute jobs keep their
// wall-clock rhythm through both transitions. Use Timezone "UTC" for a job
// that must run exactly once a day.
//
// The server imports this package; it imports robfig/cron and the standard
// library only.
package jobs
