package server

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/metrics/carbon"
	"corral/internal/metrics/ingest"
	"corral/internal/metrics/relay"
)

// openRelay builds the carbon relay from --metrics-relay (destinations that
// get every point) and --metrics-relay-rules (carbon's relay-rules.conf).
// It returns nil when neither is set.
func (s *Server) openRelay() (*relay.Relay, error) {
	if len(s.cfg.MetricsRelay) == 0 && s.cfg.MetricsRelayRules == "" {
		return nil, nil
	}
	opts := relay.Options{Destinations: s.cfg.MetricsRelay, QueueSize: s.cfg.MetricsRelayQueue,
		Protocol: s.cfg.MetricsRelayProtocol, Logger: s.log.With("component", "relay")}
	if p := s.cfg.MetricsRelayRules; p != "" {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--metrics-relay-rules: %w", err)
		}
		defer f.Close()
		if opts.Rules, err = relay.ParseRules(f, p); err != nil {
			return nil, fmt.Errorf("--metrics-relay-rules: %w", err)
		}
	}
	r, err := relay.New(opts)
	if err != nil {
		return nil, fmt.Errorf("--metrics-relay: %w", err)
	}
	return r, nil
}

// relaySink forwards what the local store accepted to the relay. Points
// the store refuses (cache full) are not relayed: the caller sends them
// again, and they are relayed then.
type relaySink struct {
	local ingest.Sink
	relay *relay.Relay
}

func (r relaySink) Write(points []carbon.Point) error {
	if err := r.local.Write(points); err != nil {
		return err
	}
	r.relay.Write(points)
	return nil
}

// relayCollector exports each relay destination's counters.
type relayCollector struct{ relay *relay.Relay }

var (
	relaySentDesc      = prometheus.NewDesc("corral_metrics_relay_sent_total", "Points written to a relay destination.", []string{"destination"}, nil)
	relayDroppedDesc   = prometheus.NewDesc("corral_metrics_relay_dropped_total", "Points dropped because a relay destination's queue was full.", []string{"destination"}, nil)
	relayQueuedDesc    = prometheus.NewDesc("corral_metrics_relay_queued_points", "Points waiting for a relay destination.", []string{"destination"}, nil)
	relayConnectedDesc = prometheus.NewDesc("corral_metrics_relay_connected", "1 while the relay has a connection to the destination.", []string{"destination"}, nil)
)

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- relaySentDesc
	ch <- relayDroppedDesc
	ch <- relayQueuedDesc
	ch <- relayConnectedDesc
}

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range c.relay.Stats() {
		up := 0.0
		if d.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(relaySentDesc, prometheus.CounterValue, float64(d.Sent), d.Addr)
		ch <- prometheus.MustNewConstMetric(relayDroppedDesc, prometheus.CounterValue, float64(d.Dropped), d.Addr)
		ch <- prometheus.MustNewConstMetric(relayQueuedDesc, prometheus.GaugeValue, float64(d.Queued), d.Addr)
		ch <- prometheus.MustNewConstMetric(relayConnectedDesc, prometheus.GaugeValue, up, d.Addr)
	}
}
