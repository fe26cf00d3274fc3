// Package selflog collects Corral's own logs like any other service's: a
// slog.Handler that passes every record on to the handler it wraps and also
// turns records at or above a level into log entries (source "corral",
// fields "component" and the record's attributes), handed in batches to a
// sink (the server's log store, or the agent's report spool).
//
// Logging never waits for the sink: entries go through a bounded queue and
// are dropped, and counted, when it is full. Records logged while the sink
// runs are not collected again (no feedback loop through a failing sink).
package selflog

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"corral/internal/api"
)

// Collector gathers entries from the handlers it makes and hands them to a
// sink from Run.
type Collector struct {
	node  string
	level slog.Level
	queue chan api.LogEntry

	inSink  atomic.Bool
	dropped atomic.Int64
}

// New returns a Collector of records at level and above for node, holding
// at most queue entries not yet handed to the sink.
func New(node string, level slog.Level, queue int) *Collector {
	if queue <= 0 {
		queue = 4096
	}
	return &Collector{node: node, level: level, queue: make(chan api.LogEntry, queue)}
}

// Dropped is how many entries were dropped because the queue was full.
func (c *Collector) Dropped() int64 { return c.dropped.Load() }

// Handler wraps next: records go to next, and copies to the collector.
func (c *Collector) Handler(next slog.Handler) slog.Handler {
	return &handler{c: c, next: next}
}

// Run hands the collected entries to sink in batches (at most 500, or what
// gathered in 200 ms) until ctx ends, then hands what is left.
func (c *Collector) Run(ctx context.Context, sink func([]api.LogEntry) error) {
	var batch []api.LogEntry
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		c.inSink.Store(true)
		_ = sink(batch) // a failing sink logs; its records are not collected
		c.inSink.Store(false)
		batch = nil
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e := <-c.queue:
					batch = append(batch, e)
				default:
					flush()
					return
				}
			}
		case e := <-c.queue:
			batch = append(batch, e)
			if len(batch) >= 500 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

type handler struct {
	c      *Collector
	next   slog.Handler
	preset map[string]string // attributes of With, flattened under their groups
	groups []string
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l) || l >= h.c.level
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level < h.c.level || h.c.inSink.Load() {
		return err
	}
	e := api.LogEntry{Time: r.Time, Node: h.c.node, Source: "corral", Level: level(r.Level), Message: r.Message}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	fields := map[string]string{}
	add := func(a slog.Attr) bool {
		addAttr(fields, h.groups, a)
		return true
	}
	for k, v := range h.preset {
		fields[k] = v
	}
	r.Attrs(add)
	if len(fields) > 0 {
		e.Fields = fields
		if app := fields["app"]; app != "" {
			e.App = app
		}
	}
	select {
	case h.c.queue <- e:
	default:
		h.c.dropped.Add(1)
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.next = h.next.WithAttrs(as)
	n.preset = make(map[string]string, len(h.preset)+len(as))
	for k, v := range h.preset {
		n.preset[k] = v
	}
	for _, a := range as {
		addAttr(n.preset, h.groups, a)
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.next = h.next.WithGroup(name)
	n.groups = append(append([]string{}, h.groups...), name)
	return &n
}

// addAttr flattens an attribute into fields ("group.key").
func addAttr(fields map[string]string, groups []string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	for i := len(groups) - 1; i >= 0; i-- {
		key = groups[i] + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		g := append(append([]string{}, groups...), a.Key)
		for _, sub := range a.Value.Group() {
			addAttr(fields, g, sub)
		}
		return
	}
	fields[key] = fmt.Sprint(a.Value.Any())
}

func level(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}
