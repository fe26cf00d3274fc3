package handler

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"corral/internal/api"
)

// Sensu Go's event JSON (core/v2), the shape pipe handlers read on stdin and
// webhooks receive, so existing Sensu handler scripts work unchanged.
type sensuEvent struct {
	Timestamp int64       `json:"timestamp"`
	ID        string      `json:"id"`
	Entity    sensuEntity `json:"entity"`
	Check     sensuCheck  `json:"check"`
	Metadata  sensuMeta   `json:"metadata"`
	Sequence  int         `json:"sequence"`
	Pipelines []struct{}  `json:"pipelines"`
}

type sensuMeta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace"`
}

type sensuEntity struct {
	EntityClass   string      `json:"entity_class"`
	System        sensuSystem `json:"system"`
	Subscriptions []string    `json:"subscriptions"`
	LastSeen      int64       `json:"last_seen"`
	Deregister    bool        `json:"deregister"`
	User          string      `json:"user"`
	Metadata      sensuMeta   `json:"metadata"`
}

type sensuSystem struct {
	Hostname string `json:"hostname"`
}

type sensuCheck struct {
	Command              string             `json:"command"`
	Handlers             []string           `json:"handlers"`
	HighFlapThreshold    int                `json:"high_flap_threshold"`
	LowFlapThreshold     int                `json:"low_flap_threshold"`
	Interval             int64              `json:"interval"`
	TTL                  int64              `json:"ttl"`
	Timeout              int64              `json:"timeout"`
	Publish              bool               `json:"publish"`
	Subscriptions        []string           `json:"subscriptions"`
	Duration             float64            `json:"duration"`
	Executed             int64              `json:"executed"`
	Issued               int64              `json:"issued"`
	History              []api.EventHistory `json:"history"`
	Output               string             `json:"output"`
	State                string             `json:"state"`
	Status               int                `json:"status"`
	TotalStateChange     int                `json:"total_state_change"`
	LastOK               int64              `json:"last_ok"`
	Occurrences          int                `json:"occurrences"`
	OccurrencesWatermark int                `json:"occurrences_watermark"`
	IsSilenced           bool               `json:"is_silenced"`
	Silenced             []string           `json:"silenced,omitempty"`
	OutputMetricFormat   string             `json:"output_metric_format"`
	Metadata             sensuMeta          `json:"metadata"`
	Scheduler            string             `json:"scheduler"`
	ProcessedBy          string             `json:"processed_by"`
}

// SensuJSON encodes ev as a Sensu Go event. Its id is a UUID-shaped hash of
// the event's key and issue time, stable for one result.
func SensuJSON(ev api.Event) ([]byte, error) {
	subs := ev.Subscriptions
	if subs == nil {
		subs = []string{}
	}
	handlers := ev.Handlers
	if handlers == nil {
		handlers = []string{}
	}
	history := ev.History
	if history == nil {
		history = []api.EventHistory{}
	}
	s := sensuEvent{
		Timestamp: ev.Timestamp,
		ID:        eventID(ev),
		Entity: sensuEntity{
			EntityClass:   "agent",
			System:        sensuSystem{Hostname: ev.Entity},
			Subscriptions: []string{"entity:" + ev.Entity},
			LastSeen:      ev.Issued,
			Metadata:      sensuMeta{Name: ev.Entity, Namespace: "default"},
		},
		Check: sensuCheck{
			Handlers:             handlers,
			HighFlapThreshold:    ev.HighFlapThreshold,
			LowFlapThreshold:     ev.LowFlapThreshold,
			Interval:             int64(time.Duration(ev.Interval).Seconds()),
			TTL:                  int64(time.Duration(ev.TTL).Seconds()),
			Subscriptions:        subs,
			Duration:             ev.Duration,
			Executed:             ev.Executed,
			Issued:               ev.Issued,
			History:              history,
			Output:               ev.Output,
			State:                ev.State,
			Status:               ev.Status,
			TotalStateChange:     ev.TotalStateChange,
			LastOK:               ev.LastOK,
			Occurrences:          ev.Occurrences,
			OccurrencesWatermark: ev.OccurrencesWatermark,
			IsSilenced:           ev.IsSilenced,
			Silenced:             ev.Silenced,
			Metadata:             sensuMeta{Name: ev.Check, Namespace: "default"},
			Scheduler:            "memory",
			ProcessedBy:          ev.Entity,
		},
		Metadata:  sensuMeta{Namespace: "default"},
		Pipelines: []struct{}{},
	}
	return json.Marshal(s)
}

func eventID(ev api.Event) string {
	h := fnv.New128a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", ev.Entity, ev.Check, ev.Issued, ev.Executed)
	b := h.Sum(nil)
	b[6] = b[6]&0x0f | 0x80 // version 8: custom
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// summary is the one-line description used by slack, email and pagerduty.
func summary(ev api.Event) string {
	return fmt.Sprintf("%s/%s is %s", ev.Entity, ev.Check, statusWord(ev))
}

func statusWord(ev api.Event) string {
	if ev.IsResolution() {
		return "resolved"
	}
	return api.StatusName(ev.Status)
}
