// Package integration holds Corral's integration tests: they build the corral
// binary once, start real servers and agents as processes in temporary
// directories on loopback, and talk to them through package client and the
// CLI, as a user would. Nothing imports it; run it with
// `go test ./test/integration/`.
package integration
