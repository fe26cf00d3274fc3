// Package converge is Corral's configuration management: the resource
// providers (file, template, directory, link, package, service, user, group,
// cron, exec, hosts, sysctl, download) and the runner that converges a node's
// list of resources, one run at a time, and reports what it did.
//
// A resource is decoded from its one-key map form (`file: {path: ...}`) by
// Kinds.Decode; the runner asks each resource's Provider for a Plan (what
// would change, with a diff) and applies it unless the run is dry. Every path
// is prefixed with Env.Root, so resources can be converged into a directory
// in tests. Commands (apt-get, dpkg, systemctl, useradd, ...) go through
// Env.Exec, which tests replace.
//
// The agent imports this package (it builds the Env from its facts, the
// node's catalog and the secrets it is given); the server imports it to
// validate roles. It imports only the standard library and internal/api.
package converge
