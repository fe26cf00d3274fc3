package health_test

import (
	"context"
	"log/slog"
	"time"

	"corral/internal/driver/health"
)

// Example shows how an agent wires the monitor: one Prober and one Monitor
// per node, tasks added when they start running and removed when they end,
// and a task killed when a check says it is no longer alive.
func Example() {
	ctx := context.Background()
	prober := health.NewProber()
	defer prober.Close()
	var m *health.Monitor
	m = health.NewMonitor(health.MonitorConfig{
		Probe:  prober,
		Logger: slog.Default(),
		OnChange: func(c health.Change) {
			if !c.Alive {
				// kill the task with c.Failure.Reason, then:
				m.Remove(c.TaskID)
			}
			// report c.State of c.TaskID to the server
		},
	})
	go func() { _ = m.Run(ctx) }()

	check := health.Check{Protocol: health.HTTP, Path: "/health", GracePeriod: 30 * time.Second, Interval: 5 * time.Second, Timeout: 2 * time.Second, MaxConsecutiveFailures: 3}
	m.Add(health.Task{ID: "shop.api.1", Started: time.Now(), Target: health.Target{Ports: []int{31000}}, Checks: []health.Check{check}})
}
