package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/api"
	"corral/internal/metrics/carbon"
	"corral/internal/metrics/index"
	"corral/internal/metrics/ingest"
	"corral/internal/metrics/whisper"
)

// openMetrics opens the whisper store under <data>/whisper with the
// configured schemas, and the write-back cache in front of it.
func (s *Server) openMetrics() (*whisper.Cache, error) {
	opts := whisper.Options{Root: filepath.Join(s.cfg.DataDir, "whisper"), Logger: s.log.With("component", "whisper")}
	if p := s.cfg.StorageSchemas; p != "" {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--storage-schemas: %w", err)
		}
		defer f.Close()
		if opts.Schemas, err = whisper.ParseSchemas(f, p); err != nil {
			return nil, fmt.Errorf("--storage-schemas: %w", err)
		}
	}
	if p := s.cfg.StorageAggregation; p != "" {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--storage-aggregation: %w", err)
		}
		defer f.Close()
		if opts.Aggregations, err = whisper.ParseAggregations(f, p); err != nil {
			return nil, fmt.Errorf("--storage-aggregation: %w", err)
		}
	}
	st, err := whisper.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open metric store: %w", err)
	}
	return whisper.NewCache(st, whisper.CacheOptions{MaxPoints: s.cfg.MetricsCachePoints, MaxAge: s.cfg.MetricsMaxAge,
		Logger: s.log.With("component", "metrics-cache"), Now: s.cfg.Now}), nil
}

// metricSink writes parsed points into the cache and adds series new to
// the cache to the name index, or tagged ones to the tag index (both
// ignore names they have).
type metricSink struct {
	cache *whisper.Cache
	index *index.Index
	tags  *index.Tags
}

// Write implements ingest.Sink. The whole batch is refused when the cache
// is full, so the caller can hold it and retry.
func (m metricSink) Write(points []carbon.Point) error {
	err := m.cache.WriteMany(len(points), func(i int) (string, whisper.Point) {
		p := &points[i]
		return p.Name, whisper.Point{Time: p.Time, Value: p.Value}
	}, func(name string) {
		if index.IsTagged(name) { // found by seriesByTag, not by path
			m.tags.Add(name)
		} else {
			m.index.Add(name)
		}
	})
	if err != nil {
		return fmt.Errorf("write %d points: %w", len(points), err)
	}
	return nil
}

// reportMetrics takes "metrics" reports: JSON lists of api.MetricPoint.
// A cache that stays full fails the batch, which the agent keeps and sends
// again.
func (s *Server) reportMetrics(_ context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	rejected := map[uint64]string{}
	var points []carbon.Point
	for _, r := range reports {
		var pts []api.MetricPoint
		if err := json.Unmarshal(r.Data, &pts); err != nil {
			rejected[r.Seq] = fmt.Sprintf("metrics report: %v", err)
			continue
		}
		for _, p := range pts {
			if pt, err := pointOf(p, p.Time); err == nil { // agents always stamp their points
				points = append(points, pt)
			}
		}
	}
	if len(points) == 0 {
		return rejected, nil
	}
	if err := s.sink().Write(points); err != nil {
		return nil, api.Errorf(http.StatusServiceUnavailable, "metric cache: %v", err)
	}
	s.agentPoints.Add(int64(len(points)))
	return rejected, nil
}

// cacheCollector exports the metric cache's state.
type cacheCollector struct{ cache *whisper.Cache }

var (
	cachePointsDesc  = prometheus.NewDesc("corral_metrics_cache_points", "Points in the metrics write-back cache.", nil, nil)
	cacheWrittenDesc = prometheus.NewDesc("corral_metrics_points_written_total", "Points written to whisper files.", nil, nil)
)

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cachePointsDesc
	ch <- cacheWrittenDesc
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.cache.Stats()
	ch <- prometheus.MustNewConstMetric(cachePointsDesc, prometheus.GaugeValue, float64(st.Points))
	ch <- prometheus.MustNewConstMetric(cacheWrittenDesc, prometheus.CounterValue, float64(st.Written))
}

// ingestCollector exports the carbon receivers' counters.
type ingestCollector struct{ recv *ingest.Receivers }

var (
	ingestPointsDesc  = prometheus.NewDesc("corral_carbon_points_total", "Points received over carbon plaintext and pickle.", nil, nil)
	ingestBadDesc     = prometheus.NewDesc("corral_carbon_bad_lines_total", "Carbon lines, pickle frames and pickle entries that could not be parsed.", nil, nil)
	ingestDroppedDesc = prometheus.NewDesc("corral_carbon_dropped_points_total", "Points dropped because the metric cache stayed full.", nil, nil)
)

func (c *ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ingestPointsDesc
	ch <- ingestBadDesc
	ch <- ingestDroppedDesc
}

func (c *ingestCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.recv.Stats()
	ch <- prometheus.MustNewConstMetric(ingestPointsDesc, prometheus.CounterValue, float64(st.Points))
	ch <- prometheus.MustNewConstMetric(ingestBadDesc, prometheus.CounterValue, float64(st.BadLines+st.BadPickles+st.BadEntries))
	ch <- prometheus.MustNewConstMetric(ingestDroppedDesc, prometheus.CounterValue, float64(st.Dropped))
}
