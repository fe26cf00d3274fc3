package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestHandlerSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec HandlerSpec
		bad  []string // fields that must fail
	}{
		{name: "pipe ok", spec: HandlerSpec{Name: "p", Type: "pipe", Command: "cat"}},
		{name: "pipe without command", spec: HandlerSpec{Name: "p", Type: "pipe"}, bad: []string{"command"}},
		{name: "unknown type", spec: HandlerSpec{Name: "p", Type: "irc"}, bad: []string{"type"}},
		{name: "slack by secret", spec: HandlerSpec{Name: "slack", Type: "slack", URLSecret: "slack-webhook", Filters: []string{"state_change"}}},
		{name: "webhook bad url", spec: HandlerSpec{Name: "w", Type: "webhook", URL: "ftp://x"}, bad: []string{"url"}},
		{name: "unknown filter", spec: HandlerSpec{Name: "w", Type: "webhook", URL: "http://x", Filters: []string{"nope"}}, bad: []string{"filters[0]"}},
		{name: "email", spec: HandlerSpec{Name: "m", Type: "email", SMTPAddress: "mx:587", From: "a@b", To: []string{"c@d"}}},
		{name: "email missing", spec: HandlerSpec{Name: "m", Type: "email", PasswordSecret: "pw"}, bad: []string{"smtp_address", "from", "to", "username"}},
		{name: "pagerduty", spec: HandlerSpec{Name: "pd", Type: "pagerduty"}, bad: []string{"routing_key_secret"}},
		{name: "set", spec: HandlerSpec{Name: "ops", Type: "set", Handlers: []string{"slack", "mail", "page"}}},
		{name: "set contains itself", spec: HandlerSpec{Name: "ops", Type: "set", Handlers: []string{"ops"}}, bad: []string{"handlers[0]"}},
		{name: "window", spec: HandlerSpec{Name: "p", Type: "pipe", Command: "x", TimeWindows: []TimeWindow{{Days: []string{"mon", "fri"}, Begin: "22:00", End: "06:00", Timezone: "Europe/Berlin"}}}},
		{name: "bad window", spec: HandlerSpec{Name: "p", Type: "pipe", Command: "x", TimeWindows: []TimeWindow{{Days: []string{"funday"}, Begin: "25:00", End: "6", Timezone: "Mars/Olympus"}}},
			bad: []string{"time_windows[0].days[0]", "time_windows[0].begin", "time_windows[0].end", "time_windows[0].timezone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := tt.spec.Validate()
			for _, f := range tt.bad {
				if _, ok := fe[f]; !ok {
					t.Errorf("field %s passed, want an error (got %v)", f, fe)
				}
			}
			if len(fe) != len(tt.bad) {
				t.Errorf("errors %v, want exactly fields %v", fe, tt.bad)
			}
		})
	}
}

func TestSilenceSpec(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		spec     SilenceSpec
		id       string
		bad      bool
		activeAt map[time.Duration]bool // offset from t0 → Active
	}{
		{name: "node and check", spec: SilenceSpec{Node: "db-1", Check: "root-disk", Expire: Duration(2 * time.Hour), CreatedAt: t0},
			id: "entity:db-1:root-disk", activeAt: map[time.Duration]bool{-time.Second: false, 0: true, 2*time.Hour - time.Second: true, 2 * time.Hour: false}},
		{name: "check only never expires", spec: SilenceSpec{Check: "cpu", CreatedAt: t0}, id: "*:cpu",
			activeAt: map[time.Duration]bool{0: true, 1000 * time.Hour: true}},
		{name: "subscription, begins later", spec: SilenceSpec{Subscription: "web", Begin: t0.Add(time.Hour), Expire: Duration(time.Hour), CreatedAt: t0}, id: "web:*",
			activeAt: map[time.Duration]bool{0: false, time.Hour: true, 2 * time.Hour: false}},
		{name: "empty", spec: SilenceSpec{Reason: "x"}, id: "*:*", bad: true},
		{name: "node and subscription", spec: SilenceSpec{Node: "a", Subscription: "b"}, id: "entity:a:*", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.ID(); got != tt.id {
				t.Errorf("ID = %q, want %q", got, tt.id)
			}
			if fe := tt.spec.Validate(); (len(fe) > 0) != tt.bad {
				t.Errorf("Validate = %v, want bad=%v", fe, tt.bad)
			}
			for off, want := range tt.activeAt {
				if got := tt.spec.Active(t0.Add(off)); got != want {
					t.Errorf("Active(t0%+v) = %v, want %v", off, got, want)
				}
			}
		})
	}
}

func TestEventJSONAndResolution(t *testing.T) {
	ev := Event{Entity: "db-1", Check: "disk", Status: 0, History: []EventHistory{{Status: 2, Executed: 1}, {Status: 0, Executed: 2}}, TTL: Duration(time.Minute)}
	if !ev.IsResolution() || ev.IsIncident() {
		t.Errorf("ok after critical: IsResolution=%v IsIncident=%v, want true false", ev.IsResolution(), ev.IsIncident())
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"entity", "check", "occurrences_watermark", "last_ok", "total_state_change", "is_silenced"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	if m["ttl"] != "1m0s" {
		t.Errorf("ttl = %v, want \"1m0s\"", m["ttl"])
	}
}
