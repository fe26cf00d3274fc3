// Package health checks the running tasks of apps on a node, as Marathon's
// health checks do: HTTP, HTTPS, TCP and COMMAND probes of each task on an
// interval, a grace period after the start, and a count of consecutive
// failures after which the task must be killed and replaced.
//
// The package is split into a pure core and a thin shell:
//
//   - Check describes one health check of an app (mirroring the fields of the
//     app spec; the agent maps them).
//   - Tracker is the pure state machine of one (task, check): it takes
//     results with their time and says Healthy, Unhealthy or Unknown, whether
//     the task may stay alive and why it last failed.
//   - Prober does the I/O of one probe (one shared HTTP client with a bounded
//     transport, TCP dials, commands under sh -c in their own process group).
//   - Monitor runs every check of every task on a node from one timer heap and
//     a small worker pool, and reports state changes through a callback.
//   - Backoff is Marathon's launch delay for restarting crashed or killed
//     tasks.
//
// Tracker states (docs: a task's health over its life):
//
//	          success                     failure (after grace or after a success)
//	Unknown ─────────▶ Healthy ◀──────────────────▶ Unhealthy
//	   │                 success                        │
//	   └── failure after the grace period ──────────────┘
//	failures ≥ MaxConsecutiveFailures (> 0): Alive() == false → kill the task
//
// The agent imports this package; it imports only the standard library.
package health
