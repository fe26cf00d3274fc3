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
// ValidateArgs when a Check is applied. It imports api, the standard
// library, gopsutil and robfig/cron.
//
// Status is the command's exit code as Sensu keeps it: 0 ok, 1 warning,
// 2 critical, 3 unknown, and any other code is kept as is (api.StatusName
// calls it unknown). Three cases are rewritten: a run that outlives its
// timeout is 2 (critical, "Execution timed out after ..."), a command the
// shell cannot find or execute (exit 126 or 127) is 3 (unknown) with the
// shell's message, and a command killed by a signal is 3.
package check
