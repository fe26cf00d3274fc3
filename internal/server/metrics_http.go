package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/metrics/carbon"
	"corral/internal/metrics/ingest"
)

// maxIngestErrors bounds the per-line errors an ingest answer carries.
const maxIngestErrors = 10

// handleMetricsIngest is POST /api/v1/metrics: carbon plaintext lines
// ("path value [timestamp]", as on :2003) or, with Content-Type
// application/json, a list of {"name", "value", "time"}. A time of 0 or -1
// means now. Bad lines are skipped and named in the answer; the good ones
// are stored. 503 means the metric cache stayed full: nothing was stored
// and the whole request may be sent again.
func (s *Server) handleMetricsIngest(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	now := s.cfg.Now().Unix()
	var (
		points []carbon.Point
		res    api.MetricsIngestResult
	)
	reject := func(format string, args ...any) {
		res.Rejected++
		if len(res.Errors) < maxIngestErrors {
			res.Errors = append(res.Errors, fmt.Sprintf(format, args...))
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var in []api.MetricPoint
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return bodyError(err, "a JSON list of {\"name\", \"value\", \"time\"}")
		}
		for i, p := range in {
			pt, err := pointOf(p, now)
			if err != nil {
				reject("[%d]: %v", i, err)
				continue
			}
			points = append(points, pt)
		}
	} else {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), carbon.MaxLineLen+1)
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			pt, err := carbon.ParseLine(line, now)
			if err != nil {
				reject("line %d: %v", n, err)
				continue
			}
			points = append(points, pt)
		}
		if err := sc.Err(); err != nil {
			return bodyError(err, "carbon plaintext lines")
		}
	}
	if len(points) > 0 {
		if err := s.sink().Write(points); err != nil {
			return api.Errorf(http.StatusServiceUnavailable, "metric cache: %v; nothing stored, send again", err)
		}
	}
	res.Accepted = len(points)
	s.httpPoints.Add(int64(len(points)))
	s.httpRejected.Add(int64(res.Rejected))
	return httpapi.JSON(w, http.StatusOK, res)
}

// bodyError reports an unreadable ingest body, keeping 413 for bodies over
// the API's limit.
func bodyError(err error, want string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return api.Errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes; send fewer points per request", tooBig.Limit)
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return api.Errorf(http.StatusBadRequest, "a line is longer than %d bytes", carbon.MaxLineLen)
	}
	if errors.Is(err, io.EOF) {
		return api.Errorf(http.StatusBadRequest, "empty body: want %s", want)
	}
	return api.Errorf(http.StatusBadRequest, "body: %v (want %s)", err, want)
}

// pointOf checks a point given as JSON (HTTP, agent reports) as carbon
// checks a plaintext line: a path without whitespace (tagged paths
// normalised), a finite value; a time of 0 or less is now.
func pointOf(p api.MetricPoint, now int64) (carbon.Point, error) {
	if strings.ContainsAny(p.Name, " \t\r\n") {
		return carbon.Point{}, fmt.Errorf("metric path %q contains whitespace", p.Name)
	}
	name, err := carbon.NormalizeName(p.Name)
	if err != nil {
		return carbon.Point{}, err
	}
	if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
		return carbon.Point{}, fmt.Errorf("%s: value must be finite", name)
	}
	t := p.Time
	if t <= 0 {
		t = now
	}
	return carbon.Point{Name: name, Value: p.Value, Time: t}, nil
}

// selfMetricsInterval is how often the server records its own metric
// series; it matches the finest default retention (10s).
const selfMetricsInterval = 10 * time.Second

// selfMetrics writes the metric pipeline's own counters as series named
// corral.server.<host>.metrics.*, like carbon's carbon.agents.<host>.*:
// received, bad_lines, dropped and written are counts per interval,
// cache_points and cache_series the level at its end.
func (s *Server) selfMetrics(ctx context.Context) error {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	prefix := "corral.server." + strings.ReplaceAll(host, ".", "_") + ".metrics."
	t := time.NewTicker(selfMetricsInterval)
	defer t.Stop()
	var last selfCounters
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur := s.selfCounters()
		if first { // the first interval would count everything since start
			last, first = cur, false
			continue
		}
		ts := s.cfg.Now().Unix()
		pts := []carbon.Point{
			{Name: prefix + "received", Value: float64(cur.received - last.received), Time: ts},
			{Name: prefix + "bad_lines", Value: float64(cur.bad - last.bad), Time: ts},
			{Name: prefix + "dropped", Value: float64(cur.dropped - last.dropped), Time: ts},
			{Name: prefix + "written", Value: float64(cur.written - last.written), Time: ts},
			{Name: prefix + "updates", Value: float64(cur.updates - last.updates), Time: ts},
			{Name: prefix + "cache_points", Value: float64(cur.cachePoints), Time: ts},
			{Name: prefix + "cache_series", Value: float64(cur.cacheSeries), Time: ts},
		}
		last = cur
		if err := s.sink().Write(pts); err != nil {
			s.log.Warn("record self metrics", "err", err)
		}
	}
}

// selfCounters are the totals selfMetrics turns into per-interval series.
type selfCounters struct {
	received, bad, dropped, written, updates int64
	cachePoints, cacheSeries                 int
}

func (s *Server) selfCounters() selfCounters {
	var c selfCounters
	if s.recv != nil {
		st := s.recv.Stats()
		c.received, c.bad, c.dropped = int64(st.Points), int64(st.BadLines+st.BadPickles+st.BadEntries), int64(st.Dropped)
	}
	c.received += s.httpPoints.Load() + s.agentPoints.Load()
	c.bad += s.httpRejected.Load()
	cs := s.metrics.Stats()
	c.written, c.updates, c.cachePoints, c.cacheSeries = cs.Written, cs.Updates, cs.Points, cs.Series
	return c
}

// sink is where every ingested point goes: carbon receivers, HTTP, agents
// and the self metrics all write through it.
func (s *Server) sink() ingest.Sink {
	var local ingest.Sink = metricSink{cache: s.metrics, index: s.index, tags: s.tags}
	if s.relay != nil {
		return relaySink{local: local, relay: s.relay}
	}
	return local
}

// pipelineCollector exports the metric pipeline's counters that the carbon
// receivers and the cache collector do not: points taken over HTTP and from
// agents, rejected HTTP lines, series in the cache and file updates.
type pipelineCollector struct{ s *Server }

var (
	pipelinePointsDesc   = prometheus.NewDesc("corral_metrics_points_received_total", "Points received, by source (http: POST /api/v1/metrics; agent: host metrics and StatsD reports).", []string{"source"}, nil)
	pipelineRejectedDesc = prometheus.NewDesc("corral_metrics_http_rejected_total", "Lines or entries of POST /api/v1/metrics that could not be parsed.", nil, nil)
	cacheSeriesDesc      = prometheus.NewDesc("corral_metrics_cache_series", "Series with points in the metrics write-back cache.", nil, nil)
	cacheUpdatesDesc     = prometheus.NewDesc("corral_metrics_file_updates_total", "Whisper file updates (one writes all queued points of a series).", nil, nil)
	cacheFailedDesc      = prometheus.NewDesc("corral_metrics_points_failed_total", "Points that could not be written to their whisper file.", nil, nil)
)

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pipelinePointsDesc
	ch <- pipelineRejectedDesc
	ch <- cacheSeriesDesc
	ch <- cacheUpdatesDesc
	ch <- cacheFailedDesc
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(pipelinePointsDesc, prometheus.CounterValue, float64(c.s.httpPoints.Load()), "http")
	ch <- prometheus.MustNewConstMetric(pipelinePointsDesc, prometheus.CounterValue, float64(c.s.agentPoints.Load()), "agent")
	ch <- prometheus.MustNewConstMetric(pipelineRejectedDesc, prometheus.CounterValue, float64(c.s.httpRejected.Load()))
	st := c.s.metrics.Stats()
	ch <- prometheus.MustNewConstMetric(cacheSeriesDesc, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(cacheUpdatesDesc, prometheus.CounterValue, float64(st.Updates))
	ch <- prometheus.MustNewConstMetric(cacheFailedDesc, prometheus.CounterValue, float64(st.FailedPoints))
}
