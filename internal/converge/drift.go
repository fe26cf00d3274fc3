package converge

import (
	"encoding/json"
	"fmt"
)

// Drift says what the agent does when a file a resource manages is changed
// by someone else between runs (`drift: repair | report | ignore`; file,
// template, directory, link and hosts take it).
type Drift string

// Drift settings. Repair, the default, converges the node again; Report
// makes a dry run of that resource, whose report shows the change; Ignore
// does not watch the path (runs still converge it).
const (
	DriftRepair Drift = "repair"
	DriftReport Drift = "report"
	DriftIgnore Drift = "ignore"
)

// pathManager is a Provider that manages one path (a file, a directory, a
// link): a change of that path between runs is drift.
type pathManager interface {
	managedPath() string
}

func (s *fileSpec) managedPath() string      { return s.Path }
func (s *templateSpec) managedPath() string  { return s.Path }
func (s *directorySpec) managedPath() string { return s.Path }
func (s *linkSpec) managedPath() string      { return s.Path }
func (s *hostsSpec) managedPath() string     { return s.File }

// decodeDrift reads the drift property of a resource whose provider is p.
func decodeDrift(raw json.RawMessage, present bool, p Provider) (Drift, error) {
	_, watchable := p.(pathManager)
	if !present {
		if watchable {
			return DriftRepair, nil
		}
		return "", nil
	}
	if !watchable {
		return "", fieldErr("drift", "only file, template, directory, link and hosts resources are watched for drift")
	}
	var d Drift
	if err := json.Unmarshal(raw, &d); err != nil {
		return "", fieldErr("drift", "must be repair, report or ignore")
	}
	switch d {
	case DriftRepair, DriftReport, DriftIgnore:
		return d, nil
	case "":
		return DriftRepair, nil
	}
	return "", fieldErr("drift", "must be repair, report or ignore, not %q", string(d))
}

// Path is the path (without Env.Root) the resource manages, "" for
// resources that manage no single path (packages, services, ...).
func (r Resource) Path() string {
	if pm, ok := r.provider.(pathManager); ok {
		return pm.managedPath()
	}
	return ""
}

// ManagedPath is a path a resource manages and what to do when it drifts.
type ManagedPath struct {
	// Path is absolute, without Env.Root.
	Path string
	// Resource is the resource's ID ("file[/etc/motd]").
	Resource string
	Drift    Drift
}

// ManagedPaths lists the paths of resources to watch for drift, in the
// resources' order: every path-managing resource whose drift is not
// ignore.
func ManagedPaths(resources []Resource) []ManagedPath {
	var out []ManagedPath
	for _, r := range resources {
		p := r.Path()
		if p == "" || r.Drift == DriftIgnore || r.Drift == "" {
			continue
		}
		out = append(out, ManagedPath{Path: p, Resource: r.ID(), Drift: r.Drift})
	}
	return out
}

// String is "file[/etc/motd] (report)".
func (m ManagedPath) String() string { return fmt.Sprintf("%s (%s)", m.Resource, m.Drift) }
