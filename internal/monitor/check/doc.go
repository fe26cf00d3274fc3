// Package check runs monitoring checks on an agent: Nagios-style commands
// under `sh -c` (Exec), builtin checks done in Go without forking
// (Builtins), and the Scheduler that runs a node's checks by interval with
// a deterministic splay or by cron and hands each api.CheckResult to a
// callback. It also reads Nagios perfdata and Graphite plaintext output into
// metric points (ParsePerfdata, ParseGraphite, Metrics), says which checks a
// node runs (Subscribed, Defaults, ForNode) and which subscriber runs a proxy
// check (ProxyRunner).
//
// The agent imports it and owns a Scheduler; the server imports it only for
// Validate (cron and builtin args) when a Check is applied. It imports api,
// the standard library, gopsutil and robfig/cron.
//
// # Wiring
//
//	s := check.NewScheduler(check.SchedulerOptions{
//		Node:    nodeName,
//		Clock:   nil, // real time
//		Logger:  logger,
//		Deliver: func(r api.CheckResult) { /* queue a "check" report */ },
//		Subscribers: func(spec api.CheckSpec) []string { /* proxy subscribers */ },
//	})
//	s.Update(check.ForNode(nodeName, nodeLabels, appliedChecks)) // and on every change
//	go s.Run(ctx)                                                // under the agent's errgroup
//
// # Statuses
//
// Status is the command's exit code as Sensu keeps it: 0 ok, 1 warning,
// 2 critical, 3 unknown, and any other code is kept as is (api.StatusName
// calls it unknown). Three cases are rewritten: a run that outlives its
// timeout is 2 (critical, "Execution timed out after ..."), a command the
// shell cannot find or execute (exit 127 or 126) is 3 (unknown) with the
// shell's message, and a command killed by a signal is 3. Output is stdout
// and stderr together, capped at 1 MiB by default.
//
// # Which checks a node runs
//
// Every node runs Defaults (cpu, disk, load, memory, swap builtins every
// 30 s). A Check applied with the same name replaces the default on every
// node; `disabled: true` turns it off. A check without subscriptions, or
// with "all", runs on every node; "entity:<node>" names one node; other
// subscriptions match the node's "role" label or a name in its
// comma-separated "subscriptions" label.
//
// # Schedules
//
// Interval checks run at unix times Splay + k*interval, Splay being a hash
// of node and check name below the interval (Sensu's splay): a node's
// checks spread over the interval and keep their phase across restarts.
// Proxy checks hash the check and its entity only, so every subscriber
// agrees on the rounds, and ProxyRunner picks one subscriber per round in
// turn (for cron proxy checks the round is a hash of the run's time, which
// spreads the runs evenly but not strictly in turn). Cron checks take the standard five fields or descriptors (@hourly,
// @every 5m). A check still running when it is due again is skipped, not
// stacked; at most MaxConcurrent commands run at once.
//
// # Metric names
//
// With output_metric_format nagios_perfdata, each perfdata item becomes
// "<prefix>.<entity>.checks.<check>.<label>" (prefix "corral"; entity, check
// and label sanitised: '.', '/', spaces → '_', a leading '/' dropped, "/"
// is "root"), valued as printed, in its own unit. With graphite_plaintext
// the paths are kept as the command printed them.
package check
