// Package deploy is the pure core that keeps Corral's apps at their instance
// count and carries out their deployments the way Marathon does: rolling
// replacement under an upgrade strategy, scaling, restarts, rollbacks,
// dependencies, crash backoff, health kills, lost tasks and node drains.
// The leader server calls Reconcile every time cluster state changes (and
// when Output.Wake comes); Reconcile returns the tasks to start, the tasks
// to kill, the tasks to mark lost and the records to delete, and the server
// persists them. It does no I/O, starts no goroutines and reads no clock but
// Input.Now. It imports the standard library, corral/internal/api and the
// placement core corral/internal/scheduler.
//
// # Tasks
//
// A task is ready when its state is healthy, or running and its spec has no
// health checks. A task is alive unless it is terminal, asked to stop
// (Desired kill), stopping (state killing) or on a node that is down or not
// known. Of an app's alive
// tasks, those whose Config is the app's Config and whose node is not
// drained are new; the others (another config, or a drained node) are old
// and get replaced.
//
// Every call first classifies each app's tasks:
//
//   - A task that is not terminal on a down or unknown node goes to
//     Output.Lost: the caller marks it lost. It is not alive and is replaced
//     elsewhere without backoff.
//   - An alive task whose health check i has failed at least its
//     max_consecutive_failures times in a row (and is past its grace period
//     when it never passed) is killed with the reason "health check i failed
//     N times: cause". Its end then counts as a failure.
//   - Terminal records: the newest KeepFailed failures and lost tasks of each
//     app are kept for `corral app show`; every other terminal record goes to
//     Output.Remove.
//
// # Rolling replacement
//
// With n instances, minimum_health_capacity h and maximum_over_capacity o
// (Marathon's upgradeStrategy, both 0..1, defaults 1 and 1):
//
//	minReady = ceil(n × h)
//	maxAlive = floor(n × (1 + o)), and minReady + 1 when that is not above
//	           minReady while old tasks remain (as Marathon: one instance of
//	           over-capacity so that h = 1, o = 0 can make progress)
//
// Each call, for each app:
//
//  1. New tasks beyond n are killed, chosen by scheduler.ScaleDown among the
//     new tasks: constraint breakers, unhealthy tasks, then staging tasks
//     and running tasks not yet known healthy, then the newest.
//  2. Old tasks that are not ready are killed: they count for nothing the
//     strategy protects, and their resources go to the new tasks.
//  3. Old ready tasks are killed while more than minReady tasks (old and
//     new) are ready: first those on drained nodes, then older versions,
//     then the newest started.
//  4. min(n - new, maxAlive - alive) new tasks are placed with
//     scheduler.Place, unless a dependency or a backoff holds the app back.
//
// So h = 1, o = 1 starts all n new tasks, waits until they are ready and
// then kills the old ones; h = 0.5, o = 0 kills half the old tasks, starts
// as many new, and goes on as they become ready; h = 0, o = 0 kills every
// old task and starts n new at once. When old tasks have crashed, the new
// ones are started anyway (up to maxAlive); the min-ready bound only stops
// kills, never starts. n = 0 kills everything. A scale with the same config
// places or kills directly. A restart or rollback is a new Config from the
// caller and rolls like an upgrade. Tasks on a drained node are old, so a
// drain starts their replacements elsewhere first and follows the strategy
// (scheduler.Drain, which moves tasks at once, is not used).
//
// A call never makes the alive count exceed maxAlive by starting tasks, and
// never kills a ready task when that leaves fewer than minReady ready.
// Ready tasks that fail by themselves can of course drop below it.
//
// # Dependencies
//
// An app with depends_on that has no alive task (a first start, or a start
// from zero) places nothing until each dependency exists and has at least
// its instance count of ready tasks (of any config). Waiting says "waiting
// for /shop/db to be healthy (1 of 2 ready)", "waiting for /shop/db, which
// does not exist" or "dependency cycle: /a → /b → /a". A running app keeps
// replacing its tasks whatever its dependencies do (as Marathon, where
// dependencies only order deployments).
//
// # Backoff
//
// A task of the app's current Config that ends failed or finished (an app
// is meant to keep running: Marathon treats a quick TASK_FINISHED as a
// failure too), or killed by the agent, or killed by a health kill, is a
// failure; tasks killed on request and lost tasks are not. Each failure is
// counted once (Backoff.Counted holds the ids counted), and after it no task
// of the app is placed until
//
//	Until = Now + min(initial × factor^(failures-1), max)
//
// so with Marathon's defaults the delays are 1s, 1.15s, 1.3225s, ... up to
// the max. A task staged after the last failure that becomes ready resets
// the failures to 0 (a long-running sibling does not: a crash loop on one
// instance keeps backing off). A new Config starts from 0, as Marathon
// resets the delay when an app changes. Output.Wake is the earliest Until
// still ahead.
//
// # Reports
//
// AppReport counts after this call's actions: New is the alive new tasks
// (including those started now), Healthy the ready among them, Old the
// tasks of other configs or on drained nodes not yet ended. Done means n new
// tasks, all ready, and no other task of the app not yet ended; for a
// deleted app, no task not yet ended. Waiting says why not: the placement
// explanation (scheduler.Plan.Explain), a dependency, a backoff, an invalid
// spec, or progress ("waiting for 2 of 4 new instances to be ready").
//
// Deleted apps, and tasks whose app is not in Input.Apps, have every alive
// task killed with the reason "app removed" and all their ended records
// removed.
//
// # Cost
//
// The placement State is built once per call from the nodes and every task
// not ended, and only when some app has to place or scale down: a steady
// state only classifies tasks. ReconcileApps looks only at the apps given
// (and their dependencies) but still places against every task. At 10,000
// nodes and 100,000 tasks a steady pass costs 30-40 ms of CPU and the first
// pass of a 1,000-instance upgrade 170-210 ms (130-160 ms through
// ReconcileApps), most of it building the State (BenchmarkSteadyState,
// BenchmarkRollingUpgrade1000, measured on a shared, loaded machine). Everything is deterministic for given
// inputs: apps and tasks are handled in id order (tasks given sorted by id
// are not sorted again) and task ids come from Input.NewID.
package deploy
