package api

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Check statuses, as Nagios plugins exit.
const (
	StatusOK       = 0
	StatusWarning  = 1
	StatusCritical = 2
	StatusUnknown  = 3
)

// StatusName is "ok", "warning", "critical" or "unknown" (any other code).
func StatusName(status int) string {
	switch status {
	case StatusOK:
		return "ok"
	case StatusWarning:
		return "warning"
	case StatusCritical:
		return "critical"
	}
	return "unknown"
}

// Output metric formats a check's output may be read as.
const (
	MetricFormatNagios   = "nagios_perfdata"
	MetricFormatGraphite = "graphite_plaintext"
)

// CheckSpec is `kind: Check`: something every subscribed node runs on a
// schedule (a command or a builtin), or a ttl check fed by check-ins.
// Exactly one of Command, Builtin or (TTL alone) says what it is.
type CheckSpec struct {
	Name string `json:"name"`
	// Command runs under `sh -c` with a timeout that kills its process group.
	Command string `json:"command,omitempty"`
	// Builtin names a check done in Go without forking (disk, cpu, memory,
	// load, swap, process, service, tcp, http, tls_cert, file_age); Args
	// are its parameters.
	Builtin string         `json:"builtin,omitempty"`
	Args    map[string]any `json:"args,omitempty"`
	// Interval or Cron schedules it; neither with TTL means check-ins only.
	Interval Duration `json:"interval,omitempty"`
	Cron     string   `json:"cron,omitempty"`
	Timeout  Duration `json:"timeout,omitempty"` // default 10s
	// TTL makes the event critical when no result came for that long.
	TTL Duration `json:"ttl,omitempty"`
	// Subscriptions select the nodes that run it: "all", or a name matched
	// against a node's role label and its subscriptions label.
	Subscriptions []string `json:"subscriptions,omitempty"`
	Handlers      []string `json:"handlers,omitempty"`
	// Occurrences: only handle after that many non-ok results in a row.
	Occurrences int `json:"occurrences,omitempty"`
	// Refresh: while failing, handle again at most every Refresh.
	Refresh Duration `json:"refresh,omitempty"`
	// ProxyEntity runs the check on one subscriber (round robin) and reports
	// it for that entity instead of the node.
	ProxyEntity string `json:"proxy_entity,omitempty"`
	// ProxyRunners is set by the server in the assignments of a proxy
	// check: the live subscribed nodes, sorted, which take turns running it.
	ProxyRunners       []string `json:"proxy_runners,omitempty"`
	OutputMetricFormat string   `json:"output_metric_format,omitempty"`
	// Flap detection thresholds in percent of state changes (Sensu's
	// low_flap_threshold / high_flap_threshold); zero turns it off.
	LowFlapThreshold  int  `json:"low_flap_threshold,omitempty"`
	HighFlapThreshold int  `json:"high_flap_threshold,omitempty"`
	Disabled          bool `json:"disabled,omitempty"`
}

// Builtins are the names CheckSpec.Builtin accepts.
var Builtins = []string{"disk", "cpu", "memory", "load", "swap", "process", "service", "tcp", "http", "tls_cert", "file_age"}

// Validate checks a CheckSpec. The builtin's Args are checked by the agent's
// check package, which knows each builtin's parameters.
func (c *CheckSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(c.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	switch {
	case c.Command != "" && c.Builtin != "":
		fe.Add("builtin", "give command or builtin, not both")
	case c.Command == "" && c.Builtin == "" && c.TTL == 0:
		fe.Add("command", "is required (or builtin, or ttl for a check-in check)")
	}
	if c.Builtin != "" && !slices.Contains(Builtins, c.Builtin) {
		fe.Add("builtin", "unknown builtin %q (one of %s)", c.Builtin, strings.Join(Builtins, ", "))
	}
	if len(c.Args) > 0 && c.Builtin == "" {
		fe.Add("args", "only builtins take args")
	}
	if c.Interval != 0 && c.Cron != "" {
		fe.Add("cron", "give interval or cron, not both")
	}
	if (c.Command != "" || c.Builtin != "") && c.Interval == 0 && c.Cron == "" {
		fe.Add("interval", "is required (or cron)")
	}
	if c.Interval < 0 || (c.Interval > 0 && time.Duration(c.Interval) < time.Second) {
		fe.Add("interval", "must be at least 1s")
	}
	if c.Timeout < 0 {
		fe.Add("timeout", "must not be negative")
	}
	if c.TTL < 0 {
		fe.Add("ttl", "must not be negative")
	}
	if c.Occurrences < 0 {
		fe.Add("occurrences", "must not be negative")
	}
	if c.Refresh < 0 {
		fe.Add("refresh", "must not be negative")
	}
	for i, s := range c.Subscriptions {
		if s == "" {
			fe.Add(fmt.Sprintf("subscriptions[%d]", i), "must not be empty")
		}
	}
	for i, h := range c.Handlers {
		if !ValidName(h) {
			fe.Add(fmt.Sprintf("handlers[%d]", i), "must be %s", NameRule)
		}
	}
	if len(c.ProxyRunners) > 0 {
		fe.Add("proxy_runners", "is set by the server, not in a spec")
	}
	switch c.OutputMetricFormat {
	case "", MetricFormatNagios, MetricFormatGraphite:
	default:
		fe.Add("output_metric_format", "must be %s or %s", MetricFormatNagios, MetricFormatGraphite)
	}
	if c.LowFlapThreshold < 0 || c.HighFlapThreshold > 100 || c.LowFlapThreshold > c.HighFlapThreshold {
		fe.Add("low_flap_threshold", "thresholds must satisfy 0 <= low <= high <= 100")
	}
	return fe
}

// CheckResult is one run of a check, as agents send it in "check" reports
// (a JSON list of results) and as `corral checkin` posts it.
type CheckResult struct {
	Check  string `json:"check"`
	Entity string `json:"entity"` // the node, or the check's proxy entity
	Status int    `json:"status"` // 0 ok, 1 warning, 2 critical, 3 unknown
	Output string `json:"output"`
	// Executed is when the run started (unix seconds); Duration is how long
	// it took in seconds.
	Executed int64   `json:"executed"`
	Duration float64 `json:"duration"`
	// Metrics are the points read from the output (OutputMetricFormat).
	Metrics []MetricPoint `json:"metrics,omitempty"`
}

// Validate checks a CheckResult as it arrives from an agent or a check-in.
func (r *CheckResult) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(r.Check) {
		fe.Add("check", "must be %s", NameRule)
	}
	if r.Entity == "" {
		fe.Add("entity", "is required")
	}
	if r.Status < 0 || r.Status > 255 {
		fe.Add("status", "must be an exit code 0-255")
	}
	return fe
}
