// Package logmetrics turns log entries into metric series, the way a
// Logstash metrics filter feeding Graphite would: lines per app and level,
// lines per node, and the HTTP status codes of access logs. It is pure: the
// server adds the entries it stores and flushes the counts every interval
// into the metric store.
//
// Series (counts per interval, like StatsD counters' .count):
//
//	corral.logs.app.<app>.<level>            lines of an app's or job's tasks
//	corral.logs.node.<node>.lines            every line from a node
//	corral.logs.http.<node>.<service>.<code> access-log lines by status code
//	corral.logs.http.<node>.<service>.<N>xx  and by class
//
// <app> is the app id with "/" written as "_" (shop/api → shop_api); the
// level is "unknown" when the line had none; the service is the entry's
// "service" field, else its app, else "unknown". Characters other than
// letters, digits, '_' and '-' become '_'.
package logmetrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"corral/internal/api"
)

// Counter counts entries between flushes. It is safe for concurrent use.
type Counter struct {
	mu     sync.Mutex
	counts map[string]float64
}

// New returns an empty Counter.
func New() *Counter { return &Counter{counts: map[string]float64{}} }

// Add counts entries.
func (c *Counter) Add(entries []api.LogEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range entries {
		e := &entries[i]
		if e.Node != "" {
			c.counts["corral.logs.node."+segment(e.Node)+".lines"]++
		}
		if e.App != "" {
			lvl := e.Level
			if lvl == "" {
				lvl = "unknown"
			}
			c.counts["corral.logs.app."+segment(strings.ReplaceAll(strings.Trim(e.App, "/"), "/", "_"))+"."+segment(lvl)]++
		}
		if code := e.Fields["status"]; isStatus(code) && e.Fields["method"] != "" {
			svc := e.Fields["service"]
			if svc == "" {
				svc = strings.ReplaceAll(strings.Trim(e.App, "/"), "/", "_")
			}
			if svc == "" {
				svc = "unknown"
			}
			node := e.Node
			if node == "" {
				node = "unknown"
			}
			base := "corral.logs.http." + segment(node) + "." + segment(svc) + "."
			c.counts[base+code]++
			c.counts[base+code[:1]+"xx"]++
		}
	}
}

// Flush returns the counts since the last flush as points stamped at, and
// starts over. Series that saw no line are not sent (a gap, not a zero).
func (c *Counter) Flush(at time.Time) []api.MetricPoint {
	c.mu.Lock()
	counts := c.counts
	c.counts = make(map[string]float64, len(counts))
	c.mu.Unlock()
	out := make([]api.MetricPoint, 0, len(counts))
	for name, v := range counts {
		out = append(out, api.MetricPoint{Name: name, Value: v, Time: at.Unix()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// isStatus reports whether s is a three-digit HTTP status code.
func isStatus(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// segment makes s one safe element of a metric name.
func segment(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
