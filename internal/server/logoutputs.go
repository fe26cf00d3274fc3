package server

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/logs/forward"
	"corral/internal/logs/query"
	logstore "corral/internal/logs/store"
	"corral/internal/store"
)

// logOutputs runs one forwarder per applied LogOutput: the entries this
// server stores are offered to each, which keeps its own spool under
// <data>/logs/outputs/<name> and sends them on (Elasticsearch, Loki,
// Logstash, syslog). Each server forwards what it received.
type logOutputs struct {
	mu  sync.RWMutex
	run map[string]*runningOutput
}

type runningOutput struct {
	spec   string // the spec it runs with, as stored
	f      *forward.Forwarder
	cancel context.CancelFunc
	done   chan struct{}
}

// offer hands entries to every forwarder (each keeps those it matches).
func (o *logOutputs) offer(entries []api.LogEntry) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, r := range o.run {
		r.f.Offer(entries)
	}
}

// stats returns every forwarder's counters, by output name.
func (o *logOutputs) stats() []forward.Stats {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]forward.Stats, 0, len(o.run))
	for _, r := range o.run {
		out = append(out, r.f.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Output < out[j].Output })
	return out
}

// startLogOutputs follows the LogOutput resources and keeps a forwarder
// running for each.
func (s *Server) startLogOutputs(ctx context.Context, g *errgroup.Group) {
	outs := store.NewMirror(s.etcd.Client(), store.ResourcesPrefix("LogOutput"), store.Decoder[store.ResourceRecord]())
	g.Go(func() error { return outs.Run(ctx) })
	s.reg.MustRegister(&logOutputCollector{o: s.outputs})
	dir := filepath.Join(s.cfg.DataDir, "logs", "outputs")
	g.Go(func() error {
		defer s.outputs.stopAll()
		select {
		case <-outs.Ready():
		case <-ctx.Done():
			return nil
		}
		return s.reconcileOn(ctx, "start log outputs", []*store.Mirror{outs}, func(ctx context.Context) error {
			vals, _ := outs.Values()
			want := map[string]wantedOutput{}
			for name, v := range vals {
				rec, ok := v.(store.ResourceRecord)
				if !ok {
					continue
				}
				raw, err := s.store.PlainSpec(rec)
				if err != nil {
					s.log.Warn("log output not started", "output", name, "err", err)
					continue
				}
				want[rec.Name] = wantedOutput{spec: string(raw), created: rec.CreatedAt}
			}
			s.outputs.apply(ctx, want, dir, s)
			return nil
		})
	})
}

// wantedOutput is a LogOutput as stored: its spec and when it was created.
type wantedOutput struct {
	spec    string
	created time.Time
}

// apply stops the forwarders whose spec changed or went away (a removed
// output's spool is deleted) and starts the missing ones. A new output (no
// spool yet) is also offered what the store took since it was created,
// before its forwarder ran.
func (o *logOutputs) apply(ctx context.Context, want map[string]wantedOutput, dir string, s *Server) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, r := range o.run {
		if w, ok := want[name]; ok && w.spec == r.spec {
			continue
		}
		r.stop()
		delete(o.run, name)
		if _, ok := want[name]; !ok {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				s.log.Warn("remove the spool of a deleted log output", "output", name, "err", err)
			}
		}
	}
	for name, w := range want {
		if _, ok := o.run[name]; ok {
			continue
		}
		raw := w.spec
		var spec api.LogOutputSpec
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			s.log.Warn("log output not started", "output", name, "err", err)
			continue
		}
		_, statErr := os.Stat(filepath.Join(dir, name))
		fresh := errors.Is(statErr, fs.ErrNotExist)
		f, err := forward.New(spec, filepath.Join(dir, name), forward.Options{
			Logger: s.cfg.Logger.With("component", "logs", "output", name), Now: s.cfg.Now, Hostname: hostname(),
		})
		if err != nil {
			s.log.Warn("log output not started", "output", name, "err", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &runningOutput{spec: raw, f: f, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			if err := f.Run(rctx); err != nil {
				s.log.Error("log output stopped", "output", name, "err", err)
			}
		}()
		o.run[name] = r
		if fresh {
			go s.backfillOutput(rctx, f, spec.Match, w.created)
		}
	}
}

// backfillMax bounds what a new output is offered from the store.
const backfillMax = 100_000

// backfillOutput offers f the stored entries matching match since the
// output was created, oldest first: the ones stored between the apply and
// the forwarder's start (the forwarder takes every later one as it is
// stored; an entry may come twice).
func (s *Server) backfillOutput(ctx context.Context, f *forward.Forwarder, match string, since time.Time) {
	q, err := query.Parse(match)
	if err != nil || since.IsZero() {
		return
	}
	var all []api.LogEntry
	cursor := ""
	for len(all) < backfillMax {
		res, err := s.logs.Search(ctx, logstore.Query{Q: q, Since: since, Limit: 1000, Cursor: cursor})
		if err != nil {
			s.log.Warn("log output: backfill from the store", "err", err)
			return
		}
		all = append(all, res.Entries...)
		if cursor = res.Next; cursor == "" {
			break
		}
	}
	slices.Reverse(all) // newest first → oldest first
	for i := 0; i < len(all); i += 1000 {
		f.Offer(all[i:min(i+1000, len(all))])
	}
}

func (r *runningOutput) stop() {
	r.cancel()
	<-r.done
	_ = r.f.Close()
}

func (o *logOutputs) stopAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for name, r := range o.run {
		r.stop()
		delete(o.run, name)
	}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// logOutputCollector exports the forwarders' counters.
type logOutputCollector struct{ o *logOutputs }

var (
	logOutSentDesc     = prometheus.NewDesc("corral_log_output_sent_total", "Log entries a log output took.", []string{"output"}, nil)
	logOutFailedDesc   = prometheus.NewDesc("corral_log_output_failed_attempts_total", "Failed attempts to send a batch to a log output (retried).", []string{"output"}, nil)
	logOutDroppedDesc  = prometheus.NewDesc("corral_log_output_dropped_total", "Spooled batches dropped because the output's spool budget was full.", []string{"output"}, nil)
	logOutRejectedDesc = prometheus.NewDesc("corral_log_output_rejected_total", "Log entries a log output refused for good.", []string{"output"}, nil)
	logOutQueuedDesc   = prometheus.NewDesc("corral_log_output_queued_bytes", "Bytes waiting in a log output's spool.", []string{"output"}, nil)
)

func (c *logOutputCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logOutSentDesc, logOutFailedDesc, logOutDroppedDesc, logOutRejectedDesc, logOutQueuedDesc} {
		ch <- d
	}
}

func (c *logOutputCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.o.stats() {
		ch <- prometheus.MustNewConstMetric(logOutSentDesc, prometheus.CounterValue, float64(st.Sent), st.Output)
		ch <- prometheus.MustNewConstMetric(logOutFailedDesc, prometheus.CounterValue, float64(st.FailedAttempts), st.Output)
		ch <- prometheus.MustNewConstMetric(logOutDroppedDesc, prometheus.CounterValue, float64(st.DroppedBudget), st.Output)
		ch <- prometheus.MustNewConstMetric(logOutRejectedDesc, prometheus.CounterValue, float64(st.Rejected), st.Output)
		ch <- prometheus.MustNewConstMetric(logOutQueuedDesc, prometheus.GaugeValue, float64(st.QueuedBytes), st.Output)
	}
}
