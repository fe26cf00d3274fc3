// Package converge is Corral's configuration management: the resource
// providers and the runner that converges a node's list of resources, one
// run at a time, and reports what it did (chef-client's job).
//
// The agent imports it (it builds the Env from its facts, the node's
// catalog and the secrets it is given, and ships the Report); the server
// imports it to validate roles (DecodeResources). It imports only the
// standard library and internal/api.
//
// # Resources
//
// A role lists resources in their one-key map form, decoded by Kinds.Decode
// (errors read `resources[3].file.mode: ...`). Every resource takes
// `notify: [ACTION TYPE NAME, ...]` (run once, at the end of the run, when
// it changed) and `ignore_failure: true`; file, template, directory, link
// and hosts take `drift: repair | report | ignore` too (what the agent does
// when their path is changed by hand: converge again, the default; a dry
// run of that resource, whose report shows the change; nothing; see
// ManagedPaths). Paths are absolute; every path is prefixed with Env.Root.
//
//	file:      {path, content | source, mode: "0644", owner, group, backup: 5, sensitive, ensure: present|absent}
//	template:  {path, source | content, vars, mode, owner, group, backup, sensitive}
//	directory: {path, mode, owner, group, recursive, ensure}
//	link:      {path, to, ensure}
//	package:   {name: curl | [curl, htop], version, source: /path/x.deb, ensure, purge, update}
//	service:   {name, enabled, running, manager: systemd|sysv}       notified with restart, reload, start, stop
//	user:      {name, uid, group, groups, home, shell, comment, system, manage_home, ensure}
//	group:     {name, gid, members, system, ensure}
//	cron:      {name, schedule, user: root, command, checkin, env, ensure}
//	exec:      {command, name, creates, unless, only_if, cwd, user, env, returns: [0], timeout, when_notified, sensitive}
//	                                                                  notified with run
//	hosts:     {path: /etc/hosts, selector, extra: [{ip, names}]}
//	sysctl:    {name, value, persist: true}
//	download:  {url, path, sha256, mode, owner, group}
//
// Modes are quoted octal strings. Source names a file stored with the role
// (Env.Sources). Templates are text/template with dot a TemplateData
// (.Node, .Facts, .Attributes, .Vars) and the functions secret, nodes,
// join, split, lower, upper, trim, replace, default and json; a missing map
// key is an error, and errors name the template's line. A file whose
// template used a secret, or marked sensitive, has its content diff
// redacted; every secret value handed out in a run is replaced by
// api.Redacted anywhere in the report and the log.
//
// Cron jobs with checkin run as `CORRAL checkin CHECKIN -- COMMAND` (through
// /bin/sh -c when the command needs a shell), so that a ttl check of that
// name sees every run (see `corral checkin --help`).
//
// # Runs
//
// Runner.Run checks each resource (Provider.Check returns a Plan with a
// diff) and applies the plan unless Env.DryRun. The first failure stops the
// run: the resources before it stay converged, the rest are skipped.
// Env.Only restricts a run to some resources (the agent's drift reports). Files
// are replaced atomically (temporary file and rename) and synced together
// before notifications run and at the end. Package, service, user, group
// and exec run commands through Env.Exec (OSRunner on a machine, a fake in
// tests).
package converge
