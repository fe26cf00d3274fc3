package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/logs/forward"
	"corral/internal/logs/query"
	logstore "corral/internal/logs/store"
	"corral/internal/metrics/carbon"
	"corral/internal/resource"
)

// The log store (<data>/logs) keeps what agents ship: for now the output of
// tasks ("log" reports), searched by GET /api/v1/logs and followed live.

// openLogs opens the log store.
func (s *Server) openLogs() (*logstore.Store, error) {
	st, err := logstore.Open(logstore.Options{Dir: filepath.Join(s.cfg.DataDir, "logs"),
		MaxAge: s.cfg.LogsMaxAge, MaxBytes: s.cfg.LogsMaxBytes,
		Logger: s.cfg.Logger.With("component", "logs"), Now: s.cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	return st, nil
}

// startLogs runs the loops of the logs feature: retention, the LogInputs'
// assignments, the forwarders of LogOutputs, log lines as metrics and the
// collection of the server's own logs.
func (s *Server) startLogs(ctx context.Context, g *errgroup.Group) {
	s.reg.MustRegister(logStoreCollector{s.logs})
	g.Go(func() error { return s.logs.Run(ctx, time.Minute) })
	s.startLogInputs(ctx, g)
	s.startLogOutputs(ctx, g)
	g.Go(func() error { return s.logMetrics(ctx) })
	g.Go(func() error {
		s.self.Run(ctx, func(es []api.LogEntry) error { return s.storeLogs(context.WithoutCancel(ctx), es) })
		return nil
	})
}

// logStoreCollector exports the log store's counters.
type logStoreCollector struct{ st *logstore.Store }

var (
	logEntriesDesc = prometheus.NewDesc("corral_logs_entries", "Log entries in the log store.", nil, nil)
	logBytesDesc   = prometheus.NewDesc("corral_logs_bytes", "Bytes of the log store on disk.", nil, nil)
	logDroppedDesc = prometheus.NewDesc("corral_logs_retention_dropped_entries_total", "Log entries removed by retention (age or size).", nil, nil)
	logLaggedDesc  = prometheus.NewDesc("corral_logs_tails_lagged_total", "Live tails ended because their reader fell behind.", nil, nil)
)

func (c logStoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logEntriesDesc, logBytesDesc, logDroppedDesc, logLaggedDesc} {
		ch <- d
	}
}

func (c logStoreCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(logEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(logBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(logDroppedDesc, prometheus.CounterValue, float64(st.DroppedEntries))
	ch <- prometheus.MustNewConstMetric(logLaggedDesc, prometheus.CounterValue, float64(st.TailLagged))
}

// checkLogSpec checks what a LogOutput's own Validate cannot: its match
// query.
func checkLogSpec(dec *resource.Decoded) api.FieldErrors {
	if spec, ok := dec.Spec.(*api.LogOutputSpec); ok {
		return forward.ValidateSpec(*spec)
	}
	return nil
}

// logApp is how an app or job id is written in log entries and queries:
// without its leading "/" (app:shop/api).
func logApp(id string) string { return strings.TrimPrefix(id, "/") }

// reportLogs stores log entries from an agent ("log" reports). The node is
// the sender's, whatever the entry says.
func (s *Server) reportLogs(ctx context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	rejected := map[uint64]string{}
	var all []api.LogEntry
	for _, r := range reports {
		var es []api.LogEntry
		if err := gojson.Unmarshal(r.Data, &es); err != nil {
			rejected[r.Seq] = fmt.Sprintf("bad log report: %v", err)
			continue
		}
		for i := range es {
			es[i].Node = node
			es[i].App = logApp(es[i].App)
			if es[i].Time.IsZero() {
				es[i].Time = r.Time
			}
		}
		all = append(all, es...)
	}
	if err := s.storeLogs(ctx, all); err != nil {
		return nil, err
	}
	return rejected, nil
}

// storeLogs keeps entries in the log store, counts them as metrics and
// offers them to the log outputs.
func (s *Server) storeLogs(ctx context.Context, entries []api.LogEntry) error {
	if err := s.logs.Append(ctx, entries); err != nil {
		return err
	}
	s.logRate.Add(entries)
	s.outputs.offer(entries)
	return nil
}

// logMetricsInterval is how often log line counts become metric points.
const logMetricsInterval = 10 * time.Second

// logMetrics writes the log line counts (logmetrics) into the metric store
// every interval, stamped with the interval's start.
func (s *Server) logMetrics(ctx context.Context) error {
	t := time.NewTicker(logMetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var points []carbon.Point
		for _, p := range s.logRate.Flush(s.cfg.Now().Add(-logMetricsInterval)) {
			if pt, err := pointOf(p, p.Time); err == nil {
				points = append(points, pt)
			}
		}
		if len(points) == 0 {
			continue
		}
		if err := s.sink().Write(points); err != nil {
			s.log.Warn("log line counts not stored", "series", len(points), "err", err)
		}
	}
}

// logQuery builds the query of GET /api/v1/logs from ?q= and the shortcuts
// app=, task= and run= (a job run: the tasks of its attempts).
func (s *Server) logQuery(r *http.Request) (*query.Query, error) {
	v := r.URL.Query()
	parts := []string{}
	if q := strings.TrimSpace(v.Get("q")); q != "" {
		parts = append(parts, "("+q+")")
	}
	if app := v.Get("app"); app != "" {
		parts = append(parts, "app:"+strconv.Quote(logApp(app)))
	}
	if task := v.Get("task"); task != "" {
		parts = append(parts, "task:"+strconv.Quote(task))
	}
	if run := v.Get("run"); run != "" {
		tasks, err := s.runTasks(r.Context(), logAppID(v.Get("app")), run)
		if err != nil {
			return nil, err
		}
		alt := make([]string, len(tasks))
		for i, t := range tasks {
			alt[i] = "task:" + strconv.Quote(t)
		}
		parts = append(parts, "("+strings.Join(alt, " OR ")+")")
	}
	text := strings.Join(parts, " ")
	q, err := query.Parse(text)
	if err != nil {
		if raw := v.Get("q"); raw != "" {
			if _, rawErr := query.Parse(raw); rawErr != nil {
				err = rawErr
			}
		}
		return nil, &api.Error{Status: http.StatusBadRequest, Message: "invalid log query", Fields: map[string]string{"q": err.Error()}}
	}
	return q, nil
}

func logAppID(app string) string {
	if app == "" {
		return ""
	}
	return "/" + strings.Trim(app, "/")
}

// runTasks returns the tasks of a job run's attempts.
func (s *Server) runTasks(ctx context.Context, job, run string) ([]string, error) {
	find := func(r api.JobRun) []string {
		ts := append([]string{}, r.Tasks...)
		if r.Task != "" && !slices.Contains(ts, r.Task) {
			ts = append(ts, r.Task)
		}
		return ts
	}
	for _, rs := range s.cluster.activeRuns() {
		for _, r := range rs {
			if r.ID == run && (job == "" || r.Job == job) {
				return find(r), nil
			}
		}
	}
	if job != "" {
		runs, err := s.ledger.ListJobRuns(ctx, job, 1000)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if r.ID == run {
				return find(r), nil
			}
		}
	}
	return nil, api.Errorf(http.StatusNotFound, "job run %q does not exist", run)
}

// parseSince reads a time bound: RFC 3339, or a duration ago ("10m").
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a time (RFC 3339) nor a duration like 10m", v)
	}
	return t, nil
}

// logRange reads the query and the since/until bounds of a logs request.
func (s *Server) logRange(r *http.Request) (logstore.Query, error) {
	q, err := s.logQuery(r)
	if err != nil {
		return logstore.Query{}, err
	}
	v := r.URL.Query()
	now := s.cfg.Now()
	since, err := parseSince(v.Get("since"), now)
	if err != nil {
		return logstore.Query{}, &api.Error{Status: http.StatusBadRequest, Message: "invalid since", Fields: map[string]string{"since": err.Error()}}
	}
	until, err := parseSince(v.Get("until"), now)
	if err != nil {
		return logstore.Query{}, &api.Error{Status: http.StatusBadRequest, Message: "invalid until", Fields: map[string]string{"until": err.Error()}}
	}
	return logstore.Query{Q: q, Since: since, Until: until}, nil
}

// handleLogCount answers GET /api/v1/logs/count?field=F[&top=N]: how many
// entries matching the query have each value of F, most frequent first.
func (s *Server) handleLogCount(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	lq, err := s.logRange(r)
	if err != nil {
		return err
	}
	field := r.URL.Query().Get("field")
	if field == "" {
		return &api.Error{Status: http.StatusBadRequest, Message: "field is required", Fields: map[string]string{"field": "name the field to count by (status, level, app, ...)"}}
	}
	top, err := httpapi.QueryInt(r, "top", 10)
	if err != nil {
		return err
	}
	bs, err := s.logs.Count(r.Context(), lq, field, int(top))
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "%v", err)
	}
	return httpapi.JSON(w, http.StatusOK, logBuckets(bs))
}

// handleLogHistogram answers GET /api/v1/logs/histogram?step=1m: entries
// matching the query per step from since (default 1h ago) to until
// (default now), oldest first, empty steps included.
func (s *Server) handleLogHistogram(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	lq, err := s.logRange(r)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	if lq.Until.IsZero() {
		lq.Until = now
	}
	if lq.Since.IsZero() {
		lq.Since = lq.Until.Add(-time.Hour)
	}
	step := lq.Until.Sub(lq.Since) / 60
	if v := r.URL.Query().Get("step"); v != "" {
		d, err := api.ParseDuration(v)
		if err != nil || d <= 0 {
			return &api.Error{Status: http.StatusBadRequest, Message: "invalid step", Fields: map[string]string{"step": fmt.Sprintf("want a positive duration like 1m, not %q", v)}}
		}
		step = time.Duration(d)
	}
	if step < time.Second {
		step = time.Second
	}
	if lq.Until.Sub(lq.Since)/step > 10000 {
		return &api.Error{Status: http.StatusBadRequest, Message: "too many buckets", Fields: map[string]string{"step": "since..until holds more than 10,000 steps; take a larger step"}}
	}
	bs, err := s.logs.Histogram(r.Context(), lq, step)
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "%v", err)
	}
	return httpapi.JSON(w, http.StatusOK, logBuckets(bs))
}

func logBuckets(bs []logstore.Bucket) []api.LogBucket {
	out := make([]api.LogBucket, len(bs))
	for i, b := range bs {
		out[i] = api.LogBucket{Key: b.Key, Time: b.Time, Count: b.Count}
	}
	return out
}

// handleLogs answers GET /api/v1/logs: the newest entries matching the
// query (limit, default 100), oldest first, or newest first with
// order=desc; the X-Next-Cursor header continues with older ones
// (cursor=). With follow=true a stream of server-sent events, one entry per
// event, that first sends those entries (oldest first) and then every new
// one.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	lq, err := s.logRange(r)
	if err != nil {
		return err
	}
	q, since, until := lq.Q, lq.Since, lq.Until
	v := r.URL.Query()
	limit, err := httpapi.QueryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	desc := false
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid order", Fields: map[string]string{"order": "must be asc (oldest first) or desc (newest first)"}}
	}
	follow := v.Get("follow") == "true" || v.Get("follow") == "1"
	var live chan api.LogEntry
	tailCtx, stopTail := context.WithCancel(r.Context())
	defer stopTail()
	if follow {
		// Subscribe before reading the page, so nothing falls in between
		// (an entry may come twice: it is skipped by time).
		live = make(chan api.LogEntry, 1024)
		go s.logs.Tail(tailCtx, q, func(e api.LogEntry) error {
			select {
			case live <- e:
				return nil
			case <-tailCtx.Done():
				return tailCtx.Err()
			}
		})
	}
	res, err := s.logs.Search(r.Context(), logstore.Query{Q: q, Since: since, Until: until, Limit: int(limit), Cursor: v.Get("cursor")})
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "%v", err)
	}
	page := res.Entries
	if !desc || follow {
		slices.Reverse(page)
	}
	if !follow {
		if res.Next != "" {
			w.Header().Set("X-Next-Cursor", res.Next)
		}
		if page == nil {
			page = []api.LogEntry{}
		}
		return httpapi.JSON(w, http.StatusOK, page)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	send := func(e api.LogEntry) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		return nil
	}
	var last time.Time
	for _, e := range page {
		if err := send(e); err != nil {
			return nil
		}
		last = e.Time
	}
	if fl != nil {
		fl.Flush()
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
		case e := <-live:
			if len(page) > 0 && e.Time.Before(last) {
				continue // already in the page
			}
			if err := send(e); err != nil {
				return nil
			}
		}
		if fl != nil {
			fl.Flush()
		}
	}
}
