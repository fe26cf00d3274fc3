// Package event is the server half of monitoring: it turns check results
// into events with Sensu's semantics (history, occurrences, flapping), decides
// with filters and silences which handlers see them, and runs the Processor
// that ingests results, keeps events in memory and in a Store, fires TTL and
// keepalive timers and dispatches to handlers.
//
// The pure core is Apply, ShouldHandle and Silences; the Processor is the
// shell around them. The server's composition root builds a Processor with a
// Store (sqlstore over the history database), a Notifier (package handler)
// and the current check specs, and drives its Tick from its clock.
package event

import (
	"fmt"
	"time"

	"corral/internal/api"
)

// HistoryLen is how many results an event remembers (Sensu's 21, the window
// of Nagios flap detection).
const HistoryLen = 21

// Change says what a result did to its event; filters and self metrics use it.
type Change int

// The changes, from the previous status to the new one.
const (
	Created       Change = iota + 1 // the first result of an (entity, check)
	StillOK                         // ok after ok
	Failed                          // non-ok after ok
	StatusChanged                   // non-ok after a different non-ok
	StillFailing                    // the same non-ok status again
	Resolved                        // ok after non-ok
)

var changeNames = map[Change]string{
	Created: "created", StillOK: "still_ok", Failed: "failed",
	StatusChanged: "status_changed", StillFailing: "still_failing", Resolved: "resolved",
}

func (c Change) String() string {
	if s, ok := changeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("change(%d)", int(c))
}

// Apply returns the event after res, given the previous event (nil for the
// first result) and the check's spec, as Sensu Go's event pipeline does:
// the result joins a 21-entry history, occurrences count results in a row
// with the same status, the watermark keeps the incident's highest count,
// total_state_change and the flap thresholds decide flapping, and last_ok
// moves when the state is passing. Silencing is applied apart (MarkSilenced).
// Apply does not modify prev.
func Apply(prev *api.Event, res api.CheckResult, spec api.CheckSpec, now time.Time) (api.Event, Change) {
	var next api.Event
	if prev != nil {
		next = *prev
		next.HandlerStatus = cloneStatus(prev.HandlerStatus)
	}
	next.Entity, next.Check = res.Entity, res.Check
	next.Status, next.Output, next.Duration = res.Status, res.Output, res.Duration
	next.Executed = res.Executed
	if next.Executed == 0 {
		next.Executed = now.Unix()
	}
	next.Issued, next.Timestamp = now.Unix(), now.Unix()
	next.Interval, next.TTL = spec.Interval, spec.TTL
	next.Subscriptions, next.Handlers = spec.Subscriptions, spec.Handlers
	next.LowFlapThreshold, next.HighFlapThreshold = spec.LowFlapThreshold, spec.HighFlapThreshold

	var old []api.EventHistory
	if prev != nil {
		old = prev.History
	}
	if len(old) >= HistoryLen {
		old = old[len(old)-HistoryLen+1:]
	}
	h := make([]api.EventHistory, len(old), len(old)+1)
	copy(h, old)
	next.History = append(h, api.EventHistory{Status: res.Status, Executed: next.Executed})

	updateOccurrences(&next)
	prevState := ""
	if prev != nil {
		prevState = prev.State
	}
	next.TotalStateChange = TotalStateChange(next.History)
	switch {
	case flapping(next.TotalStateChange, next.LowFlapThreshold, next.HighFlapThreshold, prevState == api.EventFlapping):
		next.State = api.EventFlapping
	case next.Status == api.StatusOK:
		next.State = api.EventPassing
		next.LastOK = next.Executed
	default:
		next.State = api.EventFailing
	}
	return next, changeOf(prev, next.Status)
}

func changeOf(prev *api.Event, status int) Change {
	switch {
	case prev == nil || len(prev.History) == 0:
		return Created
	case prev.Status == status && status == api.StatusOK:
		return StillOK
	case prev.Status == status:
		return StillFailing
	case status == api.StatusOK:
		return Resolved
	case prev.Status == api.StatusOK:
		return Failed
	}
	return StatusChanged
}

// updateOccurrences follows Sensu: occurrences grow while the status repeats
// (ok included) and restart at 1 on a change; the watermark restarts at 1 on
// the first non-ok after ok and otherwise follows occurrences upwards, so it
// survives warning↔critical changes and the resolution.
func updateOccurrences(ev *api.Event) {
	n := len(ev.History)
	if n > 1 && ev.History[n-1].Status == ev.History[n-2].Status {
		ev.Occurrences++
	} else {
		ev.Occurrences = 1
	}
	switch {
	case n > 1 && ev.History[n-1].Status != api.StatusOK && ev.History[n-2].Status == api.StatusOK:
		ev.OccurrencesWatermark = 1
	case ev.Occurrences > ev.OccurrencesWatermark:
		ev.OccurrencesWatermark++
	}
}

// TotalStateChange is Sensu's (and Nagios') percent state change over a full
// 21-entry history: each of the 20 transitions counts with a weight rising
// from 0.80 (oldest) by 0.02 to 1.18 (newest); the weighted sum over 20 is
// the percentage, truncated. Shorter histories give 0.
func TotalStateChange(h []api.EventHistory) int {
	if len(h) < HistoryLen {
		return 0
	}
	h = h[len(h)-HistoryLen:]
	changes, weight := 0.0, 0.80
	for i := 1; i < len(h); i++ {
		if h[i].Status != h[i-1].Status {
			changes += weight
		}
		weight += 0.02
	}
	return int(float32(changes) / 20 * 100)
}

// flapping applies hysteresis: an event starts flapping at the high
// threshold and stops when it falls to the low one. Either threshold zero
// turns detection off.
func flapping(tsc, low, high int, was bool) bool {
	if low == 0 || high == 0 {
		return false
	}
	if was {
		return tsc > low
	}
	return tsc >= high
}

// MarkSilenced records the silences (by ID) that apply to ev.
func MarkSilenced(ev *api.Event, ids []string) {
	ev.Silenced = ids
	ev.IsSilenced = len(ids) > 0
}

// ExpiredResult is the critical result that stands in for results that
// stopped arriving: a keepalive that timed out, or a ttl check whose ttl
// passed since lastSeen.
func ExpiredResult(ev *api.Event, lastSeen, now time.Time) api.CheckResult {
	ago := int64(now.Sub(lastSeen).Seconds())
	ttl := int64(time.Duration(ev.TTL).Seconds())
	out := fmt.Sprintf("Last check execution was %d seconds ago", ago)
	if ev.Check == api.KeepaliveCheck {
		out = fmt.Sprintf("No keepalive sent from %s for %d seconds (>= %d)", ev.Entity, ago, ttl)
	}
	return api.CheckResult{Check: ev.Check, Entity: ev.Entity, Status: api.StatusCritical, Output: out, Executed: now.Unix()}
}

func cloneStatus(m map[string]api.HandlerStatus) map[string]api.HandlerStatus {
	if m == nil {
		return nil
	}
	c := make(map[string]api.HandlerStatus, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
