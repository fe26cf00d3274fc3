package agent

import (
	"context"

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
		{"JSON lines", a.cfg.JSONLogsAddr, &input.JSONLines{Addr: a.cfg.JSONLogsAddr, Sink: sink, Logger: log, Now: a.cfg.Now}},
		{"Beats", a.cfg.BeatsAddr, &input.Beats{Addr: a.cfg.BeatsAddr, Sink: sink, Logger: log, Now: a.cfg.Now}},
	} {
		if l.addr == "" {
			continue
		}
		if err := l.in.Listen(); err != nil {
			log.Warn("log listener off", "listener", l.what, "addr", l.addr, "err", err)
			continue
		}
		g.Go(func() error { return l.in.Run(ctx) })
	}
	return g.Wait()
}
