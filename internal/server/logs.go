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

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/logs/query"
	logstore "corral/internal/logs/store"
	"corral/internal/metrics/carbon"
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
		if err := json.Unmarshal(r.Data, &es); err != nil {
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
	if err := s.logs.Append(ctx, all); err != nil {
		return nil, err
	}
	s.logRate.Add(all)
	return rejected, nil
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

// handleLogs answers GET /api/v1/logs: the newest entries matching the
// query, oldest first (limit, default 100); with follow=true a stream of
// server-sent events, one entry per event, that first sends those entries
// and then every new one.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	q, err := s.logQuery(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	now := s.cfg.Now()
	since, err := parseSince(v.Get("since"), now)
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid since", Fields: map[string]string{"since": err.Error()}}
	}
	until, err := parseSince(v.Get("until"), now)
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid until", Fields: map[string]string{"until": err.Error()}}
	}
	limit, err := httpapi.QueryInt(r, "limit", 100)
	if err != nil {
		return err
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
	for i, j := 0, len(page)-1; i < j; i, j = i+1, j-1 {
		page[i], page[j] = page[j], page[i]
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
