package agent

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/logs/input"
)

// logListenersLoop runs the log listeners whose address is set: syslog
// (UDP and TCP), JSON lines (Logstash's tcp input with the json_lines
// codec) and Beats (lumberjack v2). What arrives is spooled as "log"
// reports before a Beats sender gets its acknowledgement. A listener whose
// port is taken is logged and left off; the agent runs on.
func (a *Agent) logListenersLoop(ctx context.Context) error {
	log := a.cfg.Logger
	sink := func(es []api.LogEntry) {
		if err := a.Report("log", es); err != nil {
			log.Warn("received log lines not spooled", "lines", len(es), "err", err)
		}
	}
	type listener interface {
		Listen() error
		Run(context.Context) error
	}
	var g errgroup.Group
	for _, l := range []struct {
		what, addr string
		in         listener
	}{
		{"syslog", a.cfg.SyslogAddr, &input.Syslog{Addr: a.cfg.SyslogAddr, Sink: sink, Logger: log, Now: a.cfg.Now}},
		{"json", a.cfg.JSONLogsAddr, &input.JSONLines{Addr: a.cfg.JSONLogsAddr, Sink: sink, Logger: log, Now: a.cfg.Now}},
		{"beats", a.cfg.BeatsAddr, &input.Beats{Addr: a.cfg.BeatsAddr, Sink: sink, Logger: log, Now: a.cfg.Now}},
	} {
		if l.addr == "" {
			continue
		}
		if err := l.in.Listen(); err != nil {
			log.Warn("log listener off", "listener", l.what, "addr", l.addr, "err", err)
			continue
		}
		if st, ok := l.in.(interface{ Stats() input.Stats }); ok {
			a.logCounters.Store(l.what, func() logCounts {
				s := st.Stats()
				return logCounts{received: s.Received, malformed: s.Malformed, truncated: s.Truncated}
			})
		}
		g.Go(func() error { return l.in.Run(ctx) })
	}
	g.Go(func() error { return a.logCountersLoop(ctx) })
	return g.Wait()
}

// logCounts are one log input's counters since it started.
type logCounts struct{ received, malformed, truncated uint64 }

// logCountersLoop reports, every 10 s, what each log input received, could
// not parse and cut since the last report, as the series
// corral.<node>.logs.<input>.{received,malformed,truncated} (files:
// <input> is file.<name>).
func (a *Agent) logCountersLoop(ctx context.Context) error {
	last := map[string]logCounts{}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := a.cfg.Now().Unix()
		var points []api.MetricPoint
		a.logCounters.Range(func(k, v any) bool {
			name, cur := k.(string), v.(func() logCounts)()
			prev := last[name]
			if cur.received < prev.received { // restarted input
				prev = logCounts{}
			}
			base := "corral." + a.Node() + ".logs." + name + "."
			points = append(points,
				api.MetricPoint{Name: base + "received", Value: float64(cur.received - prev.received), Time: now},
				api.MetricPoint{Name: base + "malformed", Value: float64(cur.malformed - prev.malformed), Time: now},
				api.MetricPoint{Name: base + "truncated", Value: float64(cur.truncated - prev.truncated), Time: now})
			last[name] = cur
			return true
		})
		if len(points) > 0 {
			if err := a.Report("metrics", points); err != nil {
				a.log.Warn("log input counters not spooled", "err", err)
			}
		}
	}
}
