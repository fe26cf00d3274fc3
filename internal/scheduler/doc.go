// Package scheduler is the pure placement core of Corral's apps: given the
// nodes, the tasks already running on them and an app's spec, it decides on
// which nodes new instances go, which tasks move when a node is drained and
// which tasks die when an app scales down. It does no I/O, starts no
// goroutines and reads no clock; the server's reconciler builds a State from
// the store, calls Place, Drain or ScaleDown, and persists what they return.
// It imports only the standard library and corral/internal/api.
//
// # Resources and ports
//
// A node offers CPUs, memory and disk (MiB) and host port ranges (like a
// Mesos agent's 31000-32000). An instance fits a node when the node's free
// CPUs, memory and disk are at least the app's, and its port requests can be
// met: a dynamic request (Port 0) takes the lowest free port of the node's
// ranges; a fixed request (Port 8080) takes exactly that host port, which may
// lie outside the node's ranges and must not be used by another task on the
// node. CPUs are counted in thousandths so that sums do not drift.
//
// # Constraints
//
// Constraints are Marathon's: [field, operator, value]. The field "hostname"
// (or "@hostname") is the node's name; any other field is a node label. A
// node without the label is refused by every operator except UNLIKE, which
// always accepts it (Marathon does the same). Counts are over the app's
// tasks in the State, including tasks on down nodes, which may come back:
// callers that consider such tasks lost leave them out of the State.
//
//	UNIQUE          at most one of the app's tasks per value of the field
//	CLUSTER value   only nodes whose field equals value
//	CLUSTER         all tasks share one value: that of the existing tasks
//	                (the most common one if they disagree) or, for the
//	                first task, the value of the node it lands on
//	GROUP_BY [n]    spread evenly over the field's values: each instance
//	                goes to the value with the fewest of the app's tasks
//	                that still has a node with room (ties by value name).
//	                With n, no value gets a second task before n values have
//	                one each (Marathon's minimum): if fewer than n values
//	                have room, the rest stays unplaced. The scheduler knows
//	                every node, so n is not needed to discover values.
//	LIKE regex      only nodes whose field fully matches regex
//	UNLIKE regex    only nodes whose field does not fully match regex
//	MAX_PER n       at most n of the app's tasks per value of the field
//	IS value        only nodes whose field equals value
//
// Regular expressions are Go's (RE2) and must match the whole value. The first
// GROUP_BY on a label drives the order in which values are tried; a second
// GROUP_BY, or a GROUP_BY on hostname, is checked per node with Marathon's
// rule: a value without tasks is accepted, a value with tasks only if it has
// the fewest among the values in use and at least n values are in use.
//
// # Spread and determinism
//
// Without constraints instances spread: among candidate nodes the one with the
// fewest tasks of the app wins, then the one least loaded (mean of CPU and
// memory use after placing). To stay fast on large clusters, Place does not
// score every node: like Nomad it walks the feasible nodes in a shuffled order
// from where the previous placement stopped and scores the first
// Options.Candidates that fit (16 by default; every node on clusters that
// small). The shuffle comes from Options.Seed, so the same nodes, tasks,
// calls and seed give the same plan.
//
// # Explanations
//
// When an instance cannot be placed, Place looks at every node once and
// counts each node under the first reason that rules it out, checked in this
// order: down, drained, constraints in the spec's order, CPUs, memory, disk,
// fixed ports, dynamic ports. Plan.Rejections holds the counts and
// Plan.Explain joins their texts, for example
//
//	1 node drained; hostname UNIQUE excludes 1 node; needs 128 MiB, 2 nodes have less; no free port in 31000-32000 on 1 node
//
// # Drain and scale down
//
// Placements charge their node in the State but are not tasks: Drain and
// ScaleDown see the tasks the State was built with and those added with
// AddTask (a reconciler adds placements once they have task IDs, or builds a
// new State each pass).
//
// Drain marks a node drained and moves its tasks: each is taken out of the
// State and one instance of its app is placed elsewhere under the app's spec.
// ScaleDown picks the tasks to kill, in order: tasks on unknown or down nodes,
// tasks that break the spec's constraints (a static one, or a UNIQUE or
// MAX_PER value over its limit), unhealthy tasks, staging tasks, tasks on
// drained nodes (tasks that break a constraint are ordered among themselves
// by the classes after it); then, to keep the spread, tasks in the GROUP_BY
// value and on the node with the most of the app's tasks; then the newest,
// then by ID (Marathon kills staged tasks first, then the newest). Killing
// 5,000 of 10,000 tasks takes well under a second (BenchmarkScaleDown10kTasks).
package scheduler
