package health

import (
	"fmt"
	"time"
)

// State is the health of a task for one check.
type State int

// The states of a Tracker.
const (
	Unknown   State = iota // no result counted yet (starting, or failing within the grace period)
	Healthy                // the last counted result was a success
	Unhealthy              // the last counted result was a failure
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	default:
		return "unknown"
	}
}

// Failure is the last counted failure of a check.
type Failure struct {
	At          time.Time
	Consecutive int    // failures in a row up to and including this one
	Message     string // from the probe: "status 503", "connection refused", ...
	// Reason is the sentence recorded as the task's failure reason, e.g.
	// "health check HTTP /health failed 3 times: status 503".
	Reason string
}

// Tracker is the health state machine of one task for one check, with
// Marathon's semantics:
//
//   - failures within GracePeriod of the task's start are ignored until the
//     first success (after that the grace period no longer applies);
//   - a success makes the task Healthy and resets the consecutive count;
//   - a counted failure makes it Unhealthy at once (as Marathon's alive=false:
//     it leaves service discovery), and after MaxConsecutiveFailures failures
//     in a row Alive is false: the task must be killed and replaced. With
//     MaxConsecutiveFailures 0 a task is never killed for its health.
//
// A Tracker is a value with no I/O and no clock: the time of each result is
// passed in. It is not safe for concurrent use.
type Tracker struct {
	check       Check
	started     time.Time
	state       State
	consecutive int
	everHealthy bool
	lastSuccess time.Time
	lastFailure Failure
	lastMessage string
}

// NewTracker returns the tracker of check c for a task started at started.
func NewTracker(c Check, started time.Time) *Tracker {
	return &Tracker{check: c, started: started}
}

// Observe records the result of one probe that finished at now. It returns
// whether State or Alive changed.
func (t *Tracker) Observe(ok bool, msg string, now time.Time) (changed bool) {
	before, aliveBefore := t.state, t.Alive()
	t.lastMessage = msg
	if ok {
		t.state = Healthy
		t.everHealthy = true
		t.consecutive = 0
		t.lastSuccess = now
		return t.state != before || t.Alive() != aliveBefore
	}
	if !t.everHealthy && now.Sub(t.started) < t.check.GracePeriod {
		return false // still starting: not counted
	}
	t.state = Unhealthy
	t.consecutive++
	t.lastFailure = Failure{
		At:          now,
		Consecutive: t.consecutive,
		Message:     msg,
		Reason:      reason(t.check, t.consecutive, msg),
	}
	return t.state != before || t.Alive() != aliveBefore
}

func reason(c Check, n int, msg string) string {
	times := "times"
	if n == 1 {
		times = "time"
	}
	return fmt.Sprintf("health check %s failed %d %s: %s", c, n, times, msg)
}

// State is the task's health for this check.
func (t *Tracker) State() State { return t.state }

// Alive is false once the task has failed MaxConsecutiveFailures (> 0)
// counted probes in a row: it must be killed, with LastFailure().Reason as
// the reason.
func (t *Tracker) Alive() bool {
	m := t.check.MaxConsecutiveFailures
	return m == 0 || t.consecutive < m
}

// ConsecutiveFailures is the number of counted failures since the last success.
func (t *Tracker) ConsecutiveFailures() int { return t.consecutive }

// LastFailure is the last counted failure; its At is zero if there was none.
func (t *Tracker) LastFailure() Failure { return t.lastFailure }

// LastSuccess is when the last success was observed; zero if none.
func (t *Tracker) LastSuccess() time.Time { return t.lastSuccess }

// LastMessage is the message of the last result, counted or not.
func (t *Tracker) LastMessage() string { return t.lastMessage }

// Check is the check this tracker follows.
func (t *Tracker) Check() Check { return t.check }

// Combine is a task's health over all its checks, as Marathon reports it:
// Healthy when every check is Healthy, Unhealthy when any is Unhealthy,
// Unknown otherwise (and for a task without checks).
func Combine(states ...State) State {
	if len(states) == 0 {
		return Unknown
	}
	all := Healthy
	for _, s := range states {
		switch s {
		case Unhealthy:
			return Unhealthy
		case Unknown:
			all = Unknown
		}
	}
	return all
}
