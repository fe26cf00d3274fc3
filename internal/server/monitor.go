package server

// Monitoring on the server (docs/monitoring.md): the event Processor over
// the history database, the handler Runner and the silence index kept in
// step with the Check, Handler and Silence resources in etcd, keepalives from
// agent heartbeats, "check" reports, and the distribution of applied Checks
// to the nodes that subscribe to them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/metrics/carbon"
	"corral/internal/monitor/check"
	"corral/internal/monitor/event"
	"corral/internal/monitor/event/sqlstore"
	"corral/internal/monitor/handler"
	"corral/internal/store"
)

// Resource kinds of monitoring.
const (
	kindCheck   = "Check"
	kindHandler = "Handler"
	kindSilence = "Silence"
)

// checkAssignPrefix is the assignment key prefix of a node's checks; the
// agent runs every check/<name> it is given (a same-named one replaces a
// default check).
const checkAssignPrefix = "check/"

// checkRunAssignPrefix is the key prefix of run-now requests:
// checkrun/<name> holds {"nonce": "..."}, and the agent runs the check once
// for every nonce it has not seen.
const checkRunAssignPrefix = "checkrun/"

// monitorSvc is the server's monitoring: built by startMonitor.
type monitorSvc struct {
	proc     *event.Processor
	events   *sqlstore.Store
	runner   *handler.Runner
	silences *event.Silences
	checks   *store.Mirror // resources/Check/
	handlers *store.Mirror // resources/Handler/
	silenceM *store.Mirror // resources/Silence/
	// specs is the current check specs by name: applied Checks over the
	// defaults, rebuilt when the Check mirror changes.
	specs atomic.Pointer[map[string]api.CheckSpec]
	// assigned is what this server put under assign/<node>/check/: the
	// reconcile loop diffs against it.
	assigned *assignSet
	// results and metric points taken from agents and check-ins.
	results, points, rejected atomic.Int64
}

// startMonitor builds the monitoring components and starts them under g. The
// returned function closes the event store; call it after g has stopped.
func (s *Server) startMonitor(ctx context.Context, g *errgroup.Group) (func(), error) {
	m := &monitorSvc{assigned: newAssignSet(checkAssignPrefix)}
	var err error
	m.events, err = sqlstore.New(ctx, s.ledger.DB())
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	closer := func() {
		if err := m.events.Close(); err != nil {
			s.log.Error("close event store", "err", err)
		}
	}
	cli := s.etcd.Client()
	m.checks = store.NewMirror(cli, store.ResourcesPrefix(kindCheck), store.Decoder[store.ResourceRecord]())
	m.handlers = store.NewMirror(cli, store.ResourcesPrefix(kindHandler), store.Decoder[store.ResourceRecord]())
	m.silenceM = store.NewMirror(cli, store.ResourcesPrefix(kindSilence), store.Decoder[store.ResourceRecord]())
	for _, mr := range []*store.Mirror{m.checks, m.handlers, m.silenceM} {
		g.Go(func() error { return mr.Run(ctx) })
	}
	for _, mr := range []*store.Mirror{m.checks, m.handlers, m.silenceM} {
		select {
		case <-mr.Ready():
		case <-ctx.Done():
			return closer, ctx.Err()
		}
	}
	log := s.cfg.Logger.With("component", "monitor")
	m.runner = handler.NewRunner(handler.Builtins(handler.Env{Secret: s.secretValue, Logger: log.With("component", "handler"), Now: s.cfg.Now}))
	m.runner.Replace(mirrorSpecs[api.HandlerSpec](m.handlers))
	m.silences = event.NewSilences()
	m.silences.Replace(mirrorSpecs[api.SilenceSpec](m.silenceM))
	m.refreshSpecs()

	ka := s.cfg.KeepaliveTimeout
	if ka <= 0 {
		ka = 30 * time.Second
	}
	m.proc, err = event.New(event.Config{
		Store: m.events, Notifier: m.runner, Silences: m.silences, Logger: log, Now: s.cfg.Now,
		Checks: func(name string) (api.CheckSpec, bool) {
			spec, ok := (*m.specs.Load())[name]
			return spec, ok
		},
		EntitySubscriptions: s.nodeSubscriptions,
		SilenceExpired: func(id string) {
			go func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if err := s.store.DeleteResource(dctx, kindSilence, id, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
					log.Warn("delete resolved silence", "silence", id, "err", err)
				}
			}()
		},
		KeepaliveHandlers: s.cfg.KeepaliveHandlers, KeepaliveTimeout: ka,
	})
	if err != nil {
		return closer, fmt.Errorf("event processor: %w", err)
	}
	s.mon = m
	s.reg.MustRegister(&monitorCollector{m: m})
	g.Go(func() error { return m.proc.Run(ctx) })
	g.Go(func() error { return s.monitorTick(ctx) })
	g.Go(func() error { return s.followMonitorSpecs(ctx) })
	g.Go(func() error { return s.reconcileChecks(ctx) })
	return closer, nil
}

// mirrorSpecs decodes the spec of every resource in a mirror; undecodable
// ones (never accepted by apply) are skipped.
func mirrorSpecs[T any](m *store.Mirror) []T {
	vals, _ := m.Values()
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		rec, ok := v.(store.ResourceRecord)
		if !ok {
			continue
		}
		var spec T
		if err := json.Unmarshal(rec.Spec, &spec); err == nil {
			out = append(out, spec)
		}
	}
	return out
}

// refreshSpecs rebuilds the check specs by name: defaults, replaced by
// applied Checks of the same name.
func (m *monitorSvc) refreshSpecs() {
	specs := map[string]api.CheckSpec{}
	for _, d := range check.Defaults() {
		specs[d.Name] = d
	}
	for _, c := range mirrorSpecs[api.CheckSpec](m.checks) {
		specs[c.Name] = c
	}
	m.specs.Store(&specs)
}

// appliedChecks returns the applied Check specs sorted by name.
func (m *monitorSvc) appliedChecks() []api.CheckSpec {
	cs := mirrorSpecs[api.CheckSpec](m.checks)
	slices.SortFunc(cs, func(a, b api.CheckSpec) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// followMonitorSpecs keeps the handler runner, the silence index and the
// check specs in step with their mirrors.
func (s *Server) followMonitorSpecs(ctx context.Context) error {
	m := s.mon
	type follow struct {
		mr    *store.Mirror
		apply func()
	}
	fs := []follow{
		{m.checks, m.refreshSpecs},
		{m.handlers, func() { m.runner.Replace(mirrorSpecs[api.HandlerSpec](m.handlers)) }},
		{m.silenceM, func() { m.silences.Replace(mirrorSpecs[api.SilenceSpec](m.silenceM)) }},
	}
	gens := make([]uint64, len(fs))
	for {
		chans := make([]<-chan struct{}, len(fs))
		for i, f := range fs {
			gen, ch := f.mr.Gen()
			if gen != gens[i] {
				f.apply()
				gens[i] = gen
			}
			chans[i] = ch
		}
		select {
		case <-ctx.Done():
			return nil
		case <-chans[0]:
		case <-chans[1]:
		case <-chans[2]:
		}
	}
}

// monitorTick fires the processor's TTL and keepalive timers every second.
func (s *Server) monitorTick(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.mon.proc.Tick(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("monitor tick", "err", err)
			}
		}
	}
}

// nodeSubscriptions are a node's own subscriptions for silences: its role
// label and the names in its subscriptions label.
func (s *Server) nodeSubscriptions(entity string) []string {
	v, ok := s.nodes.Value(entity)
	if !ok {
		return nil
	}
	return labelSubscriptions(v.(store.NodeRecord).EffectiveLabels())
}

func labelSubscriptions(labels map[string]string) []string {
	var out []string
	if r := labels["role"]; r != "" {
		out = append(out, r)
	}
	for _, sub := range strings.Split(labels["subscriptions"], ",") {
		if sub = strings.TrimSpace(sub); sub != "" {
			out = append(out, sub)
		}
	}
	return out
}

// secretValue reads a Secret resource's value for handlers.
func (s *Server) secretValue(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.secretOf(ctx, name) // converge.go
}

// monitorKeepalive records an agent's heartbeat as its keepalive.
func (s *Server) monitorKeepalive(ctx context.Context, node string) {
	if s.mon == nil {
		return
	}
	if err := s.mon.proc.Keepalive(ctx, node, 0); err != nil && ctx.Err() == nil {
		s.log.Warn("record keepalive", "node", node, "err", err)
	}
}

// reportChecks takes "check" reports: JSON lists of api.CheckResult. A
// result for another entity than the node is a proxy check's.
func (s *Server) reportChecks(ctx context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	rejected := map[uint64]string{}
	var results []api.CheckResult
	for _, r := range reports {
		var rs []api.CheckResult
		if err := json.Unmarshal(r.Data, &rs); err != nil {
			rejected[r.Seq] = fmt.Sprintf("check report: %v", err)
			continue
		}
		bad := ""
		for i := range rs {
			if rs[i].Entity == "" {
				rs[i].Entity = node
			}
			if fe := rs[i].Validate(); len(fe) > 0 {
				bad = fmt.Sprintf("check report: result %d: %v", i, fe.Err("invalid check result"))
				break
			}
		}
		if bad != "" {
			rejected[r.Seq] = bad
			continue
		}
		results = append(results, rs...)
	}
	if len(results) == 0 {
		return rejected, nil
	}
	if err := s.takeResults(ctx, results); err != nil {
		return nil, err
	}
	return rejected, nil
}

// takeResults writes the results' metric points and submits the results to
// the event processor.
func (s *Server) takeResults(ctx context.Context, results []api.CheckResult) error {
	m := s.mon
	if m == nil {
		return api.Errorf(http.StatusServiceUnavailable, "monitoring is starting")
	}
	var points []carbon.Point
	for _, r := range results {
		for _, p := range r.Metrics {
			if pt, err := pointOf(p, r.Executed); err == nil {
				points = append(points, pt)
			}
		}
	}
	if len(points) > 0 {
		if err := s.sink().Write(points); err != nil {
			return api.Errorf(http.StatusServiceUnavailable, "metric cache: %v", err)
		}
		m.points.Add(int64(len(points)))
	}
	for _, r := range results {
		if len(r.Metrics) > 0 {
			r.Metrics = nil // stored as series, not in the event
		}
		if err := m.proc.Submit(ctx, r); err != nil {
			return fmt.Errorf("submit check result: %w", err)
		}
	}
	m.results.Add(int64(len(results)))
	return nil
}

// reconcileChecks keeps every node's check assignments equal to the applied
// Checks it subscribes to, whenever Checks or nodes change.
func (s *Server) reconcileChecks(ctx context.Context) error {
	return s.reconcileOn(ctx, "assign checks to nodes", []*store.Mirror{s.mon.checks, s.nodes}, s.reconcileOnce)
}

// desiredChecks returns the assignments a node should hold: check name →
// spec JSON. ttl-only checks are fed by check-ins and not assigned. A proxy
// check carries runners[name], the nodes that take turns running it.
func desiredChecks(node string, labels map[string]string, applied []api.CheckSpec, runners map[string][]string) map[string]string {
	out := map[string]string{}
	for _, c := range applied {
		if c.Command == "" && c.Builtin == "" {
			continue
		}
		if !check.Subscribed(c, node, labels) {
			continue
		}
		if c.ProxyEntity != "" {
			c.ProxyRunners = runners[c.Name]
		}
		b, err := json.Marshal(c)
		if err != nil {
			continue
		}
		out[c.Name] = string(b)
	}
	return out
}

// proxyRunners returns, for each proxy check, the live nodes subscribed to
// it, sorted: every one of them holds the check, and they take turns
// (check.ProxyRunner), so each round runs on one node.
func proxyRunners(applied []api.CheckSpec, nodes map[string]any, alive func(string) bool) map[string][]string {
	out := map[string][]string{}
	for _, c := range applied {
		if c.ProxyEntity == "" {
			continue
		}
		var names []string
		for name, v := range nodes {
			rec, ok := v.(store.NodeRecord)
			if ok && alive(name) && check.Subscribed(c, name, rec.EffectiveLabels()) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		out[c.Name] = names
	}
	return out
}

func (s *Server) reconcileOnce(ctx context.Context) error {
	m := s.mon
	applied := m.appliedChecks()
	vals, _ := s.nodes.Values()
	runners := proxyRunners(applied, vals, func(node string) bool { _, ok := s.alive.Get(node); return ok })
	removed, err := s.syncAssignments(ctx, m.assigned, func(name string, rec store.NodeRecord) map[string]string {
		return desiredChecks(name, rec.EffectiveLabels(), applied, runners)
	})
	if err != nil {
		return err
	}
	for _, name := range removed {
		// Node removed: its events go with it.
		for _, ev := range m.proc.List(event.Filter{Entity: name}) {
			if err := m.proc.Delete(ctx, ev.Entity, ev.Check); err != nil {
				return fmt.Errorf("delete events of removed node %s: %w", name, err)
			}
		}
	}
	return nil
}

// monitorCollector exports the event processor's counters.
type monitorCollector struct{ m *monitorSvc }

var (
	monResultsDesc  = prometheus.NewDesc("corral_monitor_results_total", "Check results taken from agents and check-ins.", nil, nil)
	monPointsDesc   = prometheus.NewDesc("corral_monitor_metric_points_total", "Metric points read from check output and stored.", nil, nil)
	monProcDesc     = prometheus.NewDesc("corral_monitor_events_processed_total", "Results and keepalives applied to events.", nil, nil)
	monExpiredDesc  = prometheus.NewDesc("corral_monitor_expired_total", "TTL and keepalive expiries fired.", nil, nil)
	monSaveErrDesc  = prometheus.NewDesc("corral_monitor_save_errors_total", "Failed writes of events to the history store.", nil, nil)
	monEventsDesc   = prometheus.NewDesc("corral_monitor_events", "Events held (one per entity and check).", nil, nil)
	monQueuedDesc   = prometheus.NewDesc("corral_monitor_queued_results", "Results waiting to be applied.", nil, nil)
	monDroppedDesc  = prometheus.NewDesc("corral_monitor_handler_dropped_total", "Handler runs dropped because the handler queue was full.", nil, nil)
	monRunsDesc     = prometheus.NewDesc("corral_monitor_handler_runs_total", "Finished handler runs, by handler.", []string{"handler"}, nil)
	monFailuresDesc = prometheus.NewDesc("corral_monitor_handler_failures_total", "Failed handler runs, by handler.", []string{"handler"}, nil)
)

func (c *monitorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{monResultsDesc, monPointsDesc, monProcDesc, monExpiredDesc, monSaveErrDesc,
		monEventsDesc, monQueuedDesc, monDroppedDesc, monRunsDesc, monFailuresDesc} {
		ch <- d
	}
}

func (c *monitorCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.proc.Stats()
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	counter(monResultsDesc, float64(c.m.results.Load()))
	counter(monPointsDesc, float64(c.m.points.Load()))
	counter(monProcDesc, float64(st.Processed))
	counter(monExpiredDesc, float64(st.Expired))
	counter(monSaveErrDesc, float64(st.SaveErrors))
	counter(monDroppedDesc, float64(st.HandlerDropped))
	ch <- prometheus.MustNewConstMetric(monEventsDesc, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(monQueuedDesc, prometheus.GaugeValue, float64(st.Queued))
	for name, hc := range st.Handlers {
		counter(monRunsDesc, float64(hc.Runs), name)
		counter(monFailuresDesc, float64(hc.Failures), name)
	}
}
