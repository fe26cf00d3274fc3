package agent

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
	"corral/internal/logs/parse"
	"corral/internal/logs/tail"
)

// logInputAssignPrefix is the assignment key prefix of the node's
// LogInputs ("loginput/<name>").
const logInputAssignPrefix = "loginput/"

// DefaultLogInputs are the files every agent follows unless a LogInput of
// the same name replaces them: nginx's access log with the combined parser,
// when it exists.
func DefaultLogInputs() []api.LogInputSpec {
	return []api.LogInputSpec{{
		Name: "nginx-access", Type: "file", Paths: []string{"/var/log/nginx/access.log"},
		Parser: "combined", Fields: map[string]string{"service": "nginx"},
	}}
}

// logInputsLoop runs one follower per LogInput the node holds (the
// defaults, replaced by assigned ones of the same name), restarting one
// whose spec changed and stopping one that went away. Offsets are
// checkpointed under <data>/logs/, so a restart resumes where the
// spooled lines end.
func (a *Agent) logInputsLoop(ctx context.Context) error {
	type running struct {
		spec   string
		cancel context.CancelFunc
		done   chan struct{}
	}
	run := map[string]*running{}
	defer func() {
		for _, r := range run {
			r.cancel()
			<-r.done
		}
	}()
	for {
		want := a.wantedLogInputs()
		for name, r := range run {
			if b, ok := want[name]; !ok || b.raw != r.spec {
				r.cancel()
				<-r.done
				delete(run, name)
			}
		}
		for name, w := range want {
			if _, ok := run[name]; ok {
				continue
			}
			ictx, cancel := context.WithCancel(ctx)
			r := &running{spec: w.raw, cancel: cancel, done: make(chan struct{})}
			run[name] = r
			go func(spec api.LogInputSpec) {
				defer close(r.done)
				a.runLogInput(ictx, spec)
			}(w.spec)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.logInputsWake:
		}
	}
}

type wantedInput struct {
	spec api.LogInputSpec
	raw  string
}

// wantedLogInputs returns the inputs the node should run, by name.
func (a *Agent) wantedLogInputs() map[string]wantedInput {
	out := map[string]wantedInput{}
	for _, d := range DefaultLogInputs() {
		b, _ := json.Marshal(d)
		out[d.Name] = wantedInput{spec: d, raw: string(b)}
	}
	a.mu.Lock()
	assigned := maps.Clone(a.assignments)
	a.mu.Unlock()
	for k, v := range assigned {
		name, ok := strings.CutPrefix(k, logInputAssignPrefix)
		if !ok {
			continue
		}
		var spec api.LogInputSpec
		if err := json.Unmarshal(v, &spec); err != nil || len(spec.Validate()) > 0 {
			a.log.Warn("ignoring a bad log input assignment", "input", name, "err", err)
			continue
		}
		out[name] = wantedInput{spec: spec, raw: string(v)}
	}
	return out
}

// fileInput turns the lines of one LogInput's files into entries.
type fileInput struct {
	a      *Agent
	ctx    context.Context
	spec   api.LogInputSpec
	parser parse.Parser

	mu    sync.Mutex
	multi map[string]*openEvent // by file, with multiline

	lines, malformed atomic.Int64
}

type openEvent struct {
	m    *parse.Multiline
	last time.Time // when a line was last fed
}

// runLogInput follows one input's files until ctx ends.
func (a *Agent) runLogInput(ctx context.Context, spec api.LogInputSpec) {
	log := a.log.With("input", spec.Name)
	p, err := parse.New(spec.Parser, parse.Options{Pattern: spec.Pattern})
	if err != nil {
		log.Warn("log input not started", "err", err)
		return
	}
	dir := filepath.Join(a.cfg.DataDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		log.Warn("log input not started", "err", err)
		return
	}
	in := &fileInput{a: a, ctx: ctx, spec: spec, parser: p, multi: map[string]*openEvent{}}
	key := "file." + spec.Name
	a.logCounters.Store(key, func() logCounts {
		return logCounts{received: uint64(in.lines.Load()), malformed: uint64(in.malformed.Load())}
	})
	defer a.logCounters.Delete(key)
	t := tail.New(tail.Options{
		Patterns: spec.Paths, StatePath: filepath.Join(dir, "input-"+spec.Name+".json"),
		FromBeginning: spec.FromBeginning, Logger: log, Now: a.cfg.Now,
	})
	if spec.Multiline != nil {
		go in.flushIdle(ctx)
	}
	if err := t.Run(ctx, in.out); err != nil {
		log.Warn("log input stopped", "err", err)
	}
}

// out takes one batch of lines: parsed, spooled, then acknowledged to the
// tailer (which checkpoints past them).
func (in *fileInput) out(batch []tail.Line) error {
	entries := make([]api.LogEntry, 0, len(batch))
	if in.spec.Multiline == nil {
		for i := range batch {
			entries = append(entries, in.entry(batch[i].Path, batch[i].Data))
		}
	} else {
		in.mu.Lock()
		now := in.a.cfg.Now()
		for i := range batch {
			l := &batch[i]
			ev := in.multi[l.Path]
			if ev == nil {
				m, err := parse.NewMultiline(in.spec.Multiline.Start, in.spec.Multiline.MaxLines, 0, time.Duration(in.spec.Multiline.Timeout))
				if err != nil {
					in.mu.Unlock()
					return err
				}
				ev = &openEvent{m: m}
				in.multi[l.Path] = ev
			}
			for _, done := range ev.m.Feed(l.Data) {
				entries = append(entries, in.entry(l.Path, done))
			}
			ev.last = now
		}
		// The lines of events still open stay pending: the checkpoint
		// does not pass them until their event is sent.
		for path, ev := range in.multi {
			open := ev.m.OpenLines()
			for i := len(batch) - 1; i >= 0 && open > 0; i-- {
				if batch[i].Path == path {
					batch[i].Pending = true
					open--
				}
			}
		}
		in.mu.Unlock()
	}
	if len(entries) == 0 {
		return nil
	}
	in.a.waitSpoolRoom(in.ctx)
	return in.a.Report("log", entries)
}

// spoolHighWater is the share of the spool's budget above which file
// inputs wait: a file keeps its lines, so they are read when the spool
// drains instead of pushing the oldest reports out of the budget.
const spoolHighWater = 0.5

// waitSpoolRoom waits while the spool holds more than spoolHighWater of its
// budget (or until ctx ends).
func (a *Agent) waitSpoolRoom(ctx context.Context) {
	limit := int64(float64(a.cfg.SpoolBytes) * spoolHighWater)
	if limit <= 0 {
		return
	}
	for a.spool.Stats().Bytes > limit {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// flushIdle sends multiline events that saw no new line for their timeout.
func (in *fileInput) flushIdle(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var entries []api.LogEntry
		in.mu.Lock()
		now := in.a.cfg.Now()
		for path, ev := range in.multi {
			if ev.m.Pending() && now.Sub(ev.last) >= ev.m.TimeoutOrDefault() {
				entries = append(entries, in.entry(path, ev.m.Flush()))
			}
		}
		in.mu.Unlock()
		if len(entries) > 0 {
			if err := in.a.Report("log", entries); err != nil {
				in.a.log.Warn("log lines not spooled", "input", in.spec.Name, "lines", len(entries), "err", err)
			}
		}
	}
}

// entry parses one line (or joined event) of a file.
func (in *fileInput) entry(path string, data []byte) api.LogEntry {
	e := api.LogEntry{Source: "file:" + path}
	in.lines.Add(1)
	if err := in.parser.Parse(data, &e); err != nil {
		in.malformed.Add(1)
	}
	if e.Time.IsZero() {
		e.Time = in.a.cfg.Now()
	}
	if len(in.spec.Fields) > 0 {
		if e.Fields == nil {
			e.Fields = make(map[string]string, len(in.spec.Fields))
		}
		for k, v := range in.spec.Fields {
			if _, ok := e.Fields[k]; !ok {
				e.Fields[k] = v
			}
		}
	}
	return e
}
