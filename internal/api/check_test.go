package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestStatusName(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{0, "ok"}, {1, "warning"}, {2, "critical"}, {3, "unknown"}, {4, "unknown"}, {127, "unknown"}, {-1, "unknown"},
	}
	for _, tt := range tests {
		if got := StatusName(tt.status); got != tt.want {
			t.Errorf("StatusName(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestCheckSpecValidate(t *testing.T) {
	sec := Duration(time.Second)
	base := func(mod func(*CheckSpec)) CheckSpec {
		c := CheckSpec{Name: "disk", Builtin: "disk", Interval: 30 * sec}
		mod(&c)
		return c
	}
	tests := []struct {
		name string
		spec CheckSpec
		want []string // failing fields
	}{
		{"builtin", base(func(*CheckSpec) {}), nil},
		{"command", CheckSpec{Name: "http", Command: "check_http -H x", Cron: "*/5 * * * *"}, nil},
		{"ttl only", CheckSpec{Name: "backup", TTL: Duration(time.Hour)}, nil},
		{"bad name", base(func(c *CheckSpec) { c.Name = "-x" }), []string{"name"}},
		{"both", base(func(c *CheckSpec) { c.Command = "true" }), []string{"builtin"}},
		{"nothing to run", CheckSpec{Name: "x", Interval: 30 * sec}, []string{"command"}},
		{"unknown builtin", base(func(c *CheckSpec) { c.Builtin = "ping" }), []string{"builtin"}},
		{"args without builtin", CheckSpec{Name: "x", Command: "true", Interval: 30 * sec, Args: map[string]any{"a": 1}}, []string{"args"}},
		{"interval and cron", base(func(c *CheckSpec) { c.Cron = "@hourly" }), []string{"cron"}},
		{"no schedule", base(func(c *CheckSpec) { c.Interval = 0 }), []string{"interval"}},
		{"interval under 1s", base(func(c *CheckSpec) { c.Interval = Duration(500 * time.Millisecond) }), []string{"interval"}},
		{"negatives", base(func(c *CheckSpec) {
			c.Timeout, c.TTL, c.Occurrences, c.Refresh = -sec, -sec, -1, -sec
		}), []string{"occurrences", "refresh", "timeout", "ttl"}},
		{"empty subscription", base(func(c *CheckSpec) { c.Subscriptions = []string{"all", ""} }), []string{"subscriptions[1]"}},
		{"bad handler", base(func(c *CheckSpec) { c.Handlers = []string{"ok", "no way"} }), []string{"handlers[1]"}},
		{"metric format", base(func(c *CheckSpec) { c.OutputMetricFormat = "influxdb_line" }), []string{"output_metric_format"}},
		{"nagios format", base(func(c *CheckSpec) { c.OutputMetricFormat = MetricFormatNagios }), nil},
		{"flap ok", base(func(c *CheckSpec) { c.LowFlapThreshold, c.HighFlapThreshold = 20, 40 }), nil},
		{"flap reversed", base(func(c *CheckSpec) { c.LowFlapThreshold, c.HighFlapThreshold = 40, 20 }), []string{"low_flap_threshold"}},
		{"flap over 100", base(func(c *CheckSpec) { c.HighFlapThreshold = 101 }), []string{"low_flap_threshold"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := tt.spec.Validate()
			var got []string
			for k := range fe {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failing fields %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
}

func TestCheckSpecJSON(t *testing.T) {
	in := `{"name":"web","command":"check_http -H 127.0.0.1","interval":"30s","timeout":10,
		"subscriptions":["web"],"output_metric_format":"nagios_perfdata","proxy_entity":"shop-api"}`
	var c CheckSpec
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := CheckSpec{Name: "web", Command: "check_http -H 127.0.0.1", Interval: Duration(30 * time.Second),
		Timeout: Duration(10 * time.Second), Subscriptions: []string{"web"},
		OutputMetricFormat: MetricFormatNagios, ProxyEntity: "shop-api"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var again CheckSpec
	if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, want) {
		t.Errorf("round trip through %s gave %+v (%v)", b, again, err)
	}
}

func TestCheckResultValidate(t *testing.T) {
	tests := []struct {
		name string
		r    CheckResult
		want []string
	}{
		{"ok", CheckResult{Check: "disk", Entity: "n1", Status: 2}, nil},
		{"raw exit code kept", CheckResult{Check: "disk", Entity: "n1", Status: 127}, nil},
		{"bad check", CheckResult{Check: "", Entity: "n1"}, []string{"check"}},
		{"no entity", CheckResult{Check: "disk"}, []string{"entity"}},
		{"status range", CheckResult{Check: "disk", Entity: "n1", Status: 256}, []string{"status"}},
		{"negative status", CheckResult{Check: "disk", Entity: "n1", Status: -1}, []string{"status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := tt.r.Validate()
			var got []string
			for k := range fe {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failing fields %v, want %v (%v)", got, tt.want, fe)
			}
		})
	}
}
