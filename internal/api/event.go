package api

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event states, as Sensu names them.
const (
	EventPassing  = "passing"
	EventFailing  = "failing"
	EventFlapping = "flapping"
)

// KeepaliveCheck is the check name of the event the server keeps for every
// agent: critical when the agent stopped reporting within its timeout.
const KeepaliveCheck = "keepalive"

// EventHistory is one result in an event's history.
type EventHistory struct {
	Status   int   `json:"status"`
	Executed int64 `json:"executed"`
}

// HandlerStatus is what happened the last time a handler was given an event.
type HandlerStatus struct {
	// LastHandled is when the event was last passed to the handler (unix
	// seconds); refresh and restarts count from it.
	LastHandled int64 `json:"last_handled,omitempty"`
	// LastStatus is the event status that was handled then.
	LastStatus int `json:"last_status"`
	// LastError is the last failure's message; empty after a success.
	LastError string `json:"last_error,omitempty"`
	// Failures counts failures in a row.
	Failures int `json:"failures,omitempty"`
}

// Event is the server's current state of one (entity, check): the latest
// result plus what Sensu keeps about it (history, occurrences, flapping).
// Events live in the history store, never in etcd.
type Event struct {
	Entity string `json:"entity"`
	Check  string `json:"check"`
	Status int    `json:"status"`
	Output string `json:"output"`
	// Executed is when the latest run started, Issued when the server took
	// the result, Timestamp when the event last changed (unix seconds).
	Executed  int64 `json:"executed"`
	Issued    int64 `json:"issued"`
	Timestamp int64 `json:"timestamp"`
	// LastSeen is when the server last took a real result (unix seconds);
	// the stand-in results of expired ttl checks and keepalives leave it.
	LastSeen int64 `json:"last_seen,omitempty"`
	// Duration is how long the latest run took in seconds.
	Duration float64 `json:"duration"`
	// History holds the last 21 results, oldest first.
	History []EventHistory `json:"history"`
	// Occurrences counts results in a row with this status;
	// OccurrencesWatermark is the highest count of the current incident.
	Occurrences          int `json:"occurrences"`
	OccurrencesWatermark int `json:"occurrences_watermark"`
	// State is passing, failing or flapping.
	State            string `json:"state"`
	TotalStateChange int    `json:"total_state_change"`
	// LastOK is when the check last passed (unix seconds; 0 never).
	LastOK     int64    `json:"last_ok"`
	IsSilenced bool     `json:"is_silenced"`
	Silenced   []string `json:"silenced,omitempty"`
	// From the check's spec when the result was applied.
	Interval          Duration `json:"interval,omitempty"`
	TTL               Duration `json:"ttl,omitempty"`
	Subscriptions     []string `json:"subscriptions,omitempty"`
	Handlers          []string `json:"handlers,omitempty"`
	LowFlapThreshold  int      `json:"low_flap_threshold,omitempty"`
	HighFlapThreshold int      `json:"high_flap_threshold,omitempty"`
	// HandlerStatus is keyed by handler name.
	HandlerStatus map[string]HandlerStatus `json:"handler_status,omitempty"`
}

// Key is "entity/check", the event's identity.
func (e *Event) Key() string { return e.Entity + "/" + e.Check }

// IsIncident reports whether the event is not ok.
func (e *Event) IsIncident() bool { return e.Status != StatusOK }

// IsResolution reports whether the latest result is ok and the one before
// it was not.
func (e *Event) IsResolution() bool {
	n := len(e.History)
	return e.Status == StatusOK && n > 1 && e.History[n-2].Status != StatusOK
}

// Handler types.
const (
	HandlerPipe      = "pipe"
	HandlerWebhook   = "webhook"
	HandlerSlack     = "slack"
	HandlerEmail     = "email"
	HandlerPagerDuty = "pagerduty"
	HandlerSet       = "set"
)

// HandlerTypes lists the types HandlerSpec.Type accepts.
var HandlerTypes = []string{HandlerPipe, HandlerWebhook, HandlerSlack, HandlerEmail, HandlerPagerDuty, HandlerSet}

// Handler filters. Incidents and not-silenced apply unless All or
// AllowSilenced turn them off.
const (
	FilterIncidents     = "incidents"      // non-ok results and the resolution (default)
	FilterStateChange   = "state_change"   // only when the status changed
	FilterAll           = "all"            // every result, ok ones too
	FilterAllowSilenced = "allow_silenced" // silenced events too
)

// HandlerFilters lists the names HandlerSpec.Filters accepts.
var HandlerFilters = []string{FilterIncidents, FilterStateChange, FilterAll, FilterAllowSilenced}

// TimeWindow is a daily window in a time zone: Begin and End as "15:04";
// End before Begin crosses midnight (the window belongs to the day it
// begins). Days are "mon".."sun"; empty means every day.
type TimeWindow struct {
	Days     []string `json:"days,omitempty"`
	Begin    string   `json:"begin"`
	End      string   `json:"end"`
	Timezone string   `json:"timezone,omitempty"` // IANA name; default UTC
}

// WeekDays are the names TimeWindow.Days accepts, Sunday first as in
// time.Weekday.
var WeekDays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// HandlerSpec is `kind: Handler`: where events go. Fields beyond Name,
// Type, Filters, TimeWindows and Timeout belong to one type.
type HandlerSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Filters, TimeWindows: see FilterIncidents..; a handler with windows
	// handles only inside one of them.
	Filters     []string     `json:"filters,omitempty"`
	TimeWindows []TimeWindow `json:"time_windows,omitempty"`
	Timeout     Duration     `json:"timeout,omitempty"` // default 10s
	// pipe: run under `sh -c` with the event as Sensu JSON on stdin.
	Command string   `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
	// webhook, slack, pagerduty: the URL, or a secret holding it; Retries
	// (default 3) with exponential backoff.
	URL       string            `json:"url,omitempty"`
	URLSecret string            `json:"url_secret,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Retries   int               `json:"retries,omitempty"`
	// slack
	Channel string `json:"channel,omitempty"`
	// email: SMTP server host:port, STARTTLS when offered, PLAIN auth when
	// Username is set.
	SMTPAddress    string   `json:"smtp_address,omitempty"`
	Username       string   `json:"username,omitempty"`
	PasswordSecret string   `json:"password_secret,omitempty"`
	From           string   `json:"from,omitempty"`
	To             []string `json:"to,omitempty"`
	// pagerduty
	RoutingKeySecret string `json:"routing_key_secret,omitempty"`
	// set
	Handlers []string `json:"handlers,omitempty"`
}

// Validate checks a HandlerSpec on its own. Loops through sets of sets are
// found where all handlers are known (handler.CheckSets).
func (h *HandlerSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(h.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if !slices.Contains(HandlerTypes, h.Type) {
		fe.Add("type", "must be one of %s", strings.Join(HandlerTypes, ", "))
	}
	for i, f := range h.Filters {
		if !slices.Contains(HandlerFilters, f) {
			fe.Add(fmt.Sprintf("filters[%d]", i), "must be one of %s", strings.Join(HandlerFilters, ", "))
		}
	}
	for i, w := range h.TimeWindows {
		fe.Merge(fmt.Sprintf("time_windows[%d].", i), w.Validate())
	}
	if h.Timeout < 0 {
		fe.Add("timeout", "must not be negative")
	}
	if h.Retries < 0 {
		fe.Add("retries", "must not be negative")
	}
	needURL := func() {
		if h.URL == "" && h.URLSecret == "" {
			fe.Add("url", "is required (or url_secret)")
		}
		if h.URL != "" && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
			fe.Add("url", "must be an http or https URL")
		}
	}
	switch h.Type {
	case HandlerPipe:
		if h.Command == "" {
			fe.Add("command", "is required")
		}
	case HandlerWebhook, HandlerSlack:
		needURL()
	case HandlerEmail:
		if h.SMTPAddress == "" || !strings.Contains(h.SMTPAddress, ":") {
			fe.Add("smtp_address", "is required as host:port")
		}
		if h.From == "" {
			fe.Add("from", "is required")
		}
		if len(h.To) == 0 {
			fe.Add("to", "is required")
		}
		if h.PasswordSecret != "" && h.Username == "" {
			fe.Add("username", "is required with password_secret")
		}
	case HandlerPagerDuty:
		if h.RoutingKeySecret == "" {
			fe.Add("routing_key_secret", "is required")
		}
	case HandlerSet:
		if len(h.Handlers) == 0 {
			fe.Add("handlers", "is required")
		}
		for i, m := range h.Handlers {
			switch {
			case !ValidName(m):
				fe.Add(fmt.Sprintf("handlers[%d]", i), "must be %s", NameRule)
			case m == h.Name:
				fe.Add(fmt.Sprintf("handlers[%d]", i), "a set cannot contain itself")
			}
		}
	}
	return fe
}

// HasFilter reports whether the spec lists filter f.
func (h *HandlerSpec) HasFilter(f string) bool { return slices.Contains(h.Filters, f) }

// Validate checks a TimeWindow.
func (w *TimeWindow) Validate() FieldErrors {
	var fe FieldErrors
	for i, d := range w.Days {
		if !slices.Contains(WeekDays, strings.ToLower(d)) {
			fe.Add(fmt.Sprintf("days[%d]", i), "must be one of %s", strings.Join(WeekDays, ", "))
		}
	}
	if _, err := time.Parse("15:04", w.Begin); err != nil {
		fe.Add("begin", "must be HH:MM")
	}
	if _, err := time.Parse("15:04", w.End); err != nil {
		fe.Add("end", "must be HH:MM")
	}
	if w.Timezone != "" {
		if _, err := time.LoadLocation(w.Timezone); err != nil {
			fe.Add("timezone", "unknown time zone %q", w.Timezone)
		}
	}
	return fe
}

// SilenceSpec is `kind: Silence`: events of a node, a check, a subscription
// or a combination are not handled between Begin and Begin+Expire.
type SilenceSpec struct {
	// Name is derived (ID) when empty.
	Name         string `json:"name,omitempty"`
	Node         string `json:"node,omitempty"`
	Check        string `json:"check,omitempty"`
	Subscription string `json:"subscription,omitempty"`
	// Begin defaults to CreatedAt; Expire zero never expires.
	Begin           time.Time `json:"begin,omitzero"`
	Expire          Duration  `json:"expire,omitempty"`
	ExpireOnResolve bool      `json:"expire_on_resolve,omitempty"`
	Reason          string    `json:"reason,omitempty"`
	Author          string    `json:"author,omitempty"`
	// CreatedAt is set by the server.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// ID is Sensu's silence name: "subscription:check" with "*" for any, and
// "entity:NODE" as the subscription of a node.
func (s *SilenceSpec) ID() string {
	if s.Name != "" {
		return s.Name
	}
	sub, check := s.Subscription, s.Check
	if s.Node != "" {
		sub = "entity:" + s.Node
	}
	if sub == "" {
		sub = "*"
	}
	if check == "" {
		check = "*"
	}
	return sub + ":" + check
}

// Starts is when the silence takes effect.
func (s *SilenceSpec) Starts() time.Time {
	if !s.Begin.IsZero() {
		return s.Begin
	}
	return s.CreatedAt
}

// ExpiresAt is when the silence ends; zero for never.
func (s *SilenceSpec) ExpiresAt() time.Time {
	if s.Expire <= 0 {
		return time.Time{}
	}
	return s.Starts().Add(time.Duration(s.Expire))
}

// Active reports whether the silence applies at now.
func (s *SilenceSpec) Active(now time.Time) bool {
	if b := s.Starts(); !b.IsZero() && now.Before(b) {
		return false
	}
	e := s.ExpiresAt()
	return e.IsZero() || now.Before(e)
}

// Validate checks a SilenceSpec.
func (s *SilenceSpec) Validate() FieldErrors {
	var fe FieldErrors
	if s.Node == "" && s.Check == "" && s.Subscription == "" {
		fe.Add("check", "give node, check or subscription (or a combination)")
	}
	if s.Node != "" && s.Subscription != "" {
		fe.Add("subscription", "give node or subscription, not both")
	}
	if s.Node != "" && !ValidName(s.Node) {
		fe.Add("node", "must be %s", NameRule)
	}
	if s.Check != "" && !ValidName(s.Check) {
		fe.Add("check", "must be %s", NameRule)
	}
	if strings.ContainsAny(s.Subscription, ": ") {
		fe.Add("subscription", "must not contain ':' or spaces")
	}
	if s.Expire < 0 {
		fe.Add("expire", "must not be negative")
	}
	if len(s.Reason) > 1024 {
		fe.Add("reason", "is longer than 1024 bytes")
	}
	return fe
}
