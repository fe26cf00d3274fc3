package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"corral/internal/api"
	"corral/internal/metrics/statsd"
)

// statsdLoop serves StatsD on StatsdAddr (UDP): packets are aggregated with
// etsy's semantics and flushed every StatsdFlushInterval as a "metrics"
// report, spooled like every report. A port that cannot be bound is logged
// and StatsD stays off; the rest of the agent runs on.
func (a *Agent) statsdLoop(ctx context.Context) error {
	pc, err := net.ListenPacket("udp", a.cfg.StatsdAddr)
	if err != nil {
		a.log.Error("StatsD not started: cannot listen on --statsd-addr", "addr", a.cfg.StatsdAddr, "err", err)
		return nil
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(8 << 20) // absorb bursts between reads
	}
	a.log.Info("StatsD listening", "addr", pc.LocalAddr().String())
	agg := statsd.New(statsd.Config{Prefix: a.cfg.StatsdPrefix})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if n > 0 {
				agg.Feed(buf[:n])
			}
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					a.log.Warn("StatsD read", "err", err)
				}
				return
			}
		}
	}()
	interval := a.cfg.StatsdFlushInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			pc.Close()
			<-done
			// What came in since the last flush is not lost on a clean stop.
			return a.flushStatsd(agg, interval)
		case <-t.C:
			if err := a.flushStatsd(agg, interval); err != nil {
				pc.Close()
				<-done
				return err
			}
		}
	}
}

func (a *Agent) flushStatsd(agg *statsd.Aggregator, interval time.Duration) error {
	pts := agg.Flush(a.cfg.Now(), interval)
	if len(pts) == 0 {
		return nil
	}
	out := make([]api.MetricPoint, len(pts))
	for i, p := range pts {
		out[i] = api.MetricPoint{Name: p.Name, Value: p.Value, Time: p.Time}
	}
	if err := a.Report("metrics", out); err != nil {
		return fmt.Errorf("spool StatsD metrics: %w", err)
	}
	return nil
}
