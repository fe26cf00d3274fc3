package marathon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
)

// App is a Marathon app as /v2/apps reads and writes it. The status fields
// at the end are only written (GET); FromMarathon ignores them.
type App struct {
	ID              string            `json:"id"`
	Cmd             string            `json:"cmd,omitempty"`
	Args            []string          `json:"args,omitempty"`
	User            string            `json:"user,omitempty"`
	Instances       *int              `json:"instances,omitempty"`
	CPUs            float64           `json:"cpus"`
	Mem             float64           `json:"mem"`
	Disk            float64           `json:"disk"`
	Env             map[string]string `json:"env"`
	Labels          map[string]string `json:"labels"`
	Constraints     []api.Constraint  `json:"constraints"`
	Container       *Container        `json:"container,omitempty"`
	Networks        []Network         `json:"networks,omitempty"`
	PortDefinitions []PortDefinition  `json:"portDefinitions,omitempty"`
	// Ports is the pre-1.0 list of ports; read only when PortDefinitions
	// is absent, never written.
	Ports        []int         `json:"ports,omitempty"`
	RequirePorts bool          `json:"requirePorts"`
	HealthChecks []HealthCheck `json:"healthChecks"`
	// UpgradeStrategy and the backoff fields are pointers so that absent
	// means Marathon's default.
	UpgradeStrategy            *UpgradeStrategy `json:"upgradeStrategy,omitempty"`
	BackoffSeconds             *float64         `json:"backoffSeconds,omitempty"`
	BackoffFactor              *float64         `json:"backoffFactor,omitempty"`
	MaxLaunchDelaySeconds      *float64         `json:"maxLaunchDelaySeconds,omitempty"`
	TaskKillGracePeriodSeconds *float64         `json:"taskKillGracePeriodSeconds,omitempty"`
	Dependencies               []string         `json:"dependencies"`
	Fetch                      []Fetch          `json:"fetch"`
	// URIs is the pre-1.0 list of fetched URIs; read, never written.
	URIs []string `json:"uris,omitempty"`

	Version        string          `json:"version,omitempty"`
	TasksRunning   int             `json:"tasksRunning"`
	TasksHealthy   int             `json:"tasksHealthy"`
	TasksUnhealthy int             `json:"tasksUnhealthy"`
	TasksStaged    int             `json:"tasksStaged"`
	Deployments    []DeploymentRef `json:"deployments"`
	Tasks          []Task          `json:"tasks,omitempty"`
}

// Container is an app's container: type DOCKER, or MESOS (the Mesos
// containerizer; with a docker image it runs that image).
type Container struct {
	Type         string        `json:"type"`
	Docker       *Docker       `json:"docker,omitempty"`
	Volumes      []Volume      `json:"volumes,omitempty"`
	PortMappings []PortMapping `json:"portMappings,omitempty"` // Marathon 1.5+
}

// Docker is the docker part of a container.
type Docker struct {
	Image        string        `json:"image"`
	Network      string        `json:"network,omitempty"` // HOST or BRIDGE
	PortMappings []PortMapping `json:"portMappings,omitempty"`
}

// PortMapping maps a host port to a container port on a bridge network.
type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
	Name          string `json:"name,omitempty"`
}

// Volume is a host path mounted into a container.
type Volume struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Mode          string `json:"mode"`
}

// Network is one of Marathon 1.5's networks: mode host or container/bridge.
type Network struct {
	Mode string `json:"mode"`
}

// PortDefinition is a port of an app on the host network.
type PortDefinition struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol,omitempty"`
	Name     string `json:"name,omitempty"`
}

// HealthCheck is a Marathon health check; durations are in seconds.
type HealthCheck struct {
	Protocol               string   `json:"protocol"`
	Path                   string   `json:"path,omitempty"`
	PortIndex              *int     `json:"portIndex,omitempty"`
	Port                   int      `json:"port,omitempty"`
	Command                *Command `json:"command,omitempty"`
	GracePeriodSeconds     *float64 `json:"gracePeriodSeconds,omitempty"`
	IntervalSeconds        *float64 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds         *float64 `json:"timeoutSeconds,omitempty"`
	MaxConsecutiveFailures *int     `json:"maxConsecutiveFailures,omitempty"`
}

// Command is the command of a COMMAND health check.
type Command struct {
	Value string `json:"value"`
}

// UpgradeStrategy is Marathon's rolling-restart bounds.
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimumHealthCapacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximumOverCapacity,omitempty"`
}

// Fetch is a URI fetched into the sandbox.
type Fetch struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable"`
	Extract    bool   `json:"extract"`
}

// UnmarshalJSON reads a fetch entry; extract defaults to true, as in Marathon.
func (f *Fetch) UnmarshalJSON(b []byte) error {
	type plain Fetch
	p := plain{Extract: true}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = Fetch(p)
	return nil
}

// DeploymentRef names a deployment in an app's deployments list.
type DeploymentRef struct {
	ID string `json:"id"`
}

// FromMarathon decodes a Marathon app JSON into an AppSpec with Corral's
// defaults (which are Marathon's) applied. It does not validate the spec;
// the caller calls Validate and reports with ErrorFromFields. Unsupported
// fields, bad JSON and mappings Corral cannot do are reported as an *Error
// whose details name the fields.
func FromMarathon(b []byte) (api.AppSpec, error) {
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return api.AppSpec{}, &Error{Message: "Invalid JSON", Details: []Detail{{Path: "/", Errors: []string{err.Error()}}}}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return api.AppSpec{}, &Error{Message: "Invalid JSON", Details: []Detail{{Path: "/", Errors: []string{"an app must be a JSON object"}}}}
	}
	var bad []Detail
	walk("", obj, appFields, &bad)
	if len(bad) > 0 {
		return api.AppSpec{}, &Error{Message: "Object is not valid: " + unsupportedNames(bad), Details: bad}
	}
	var app App
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&app); err != nil {
		return api.AppSpec{}, &Error{Message: "Invalid JSON", Details: []Detail{{Path: "/", Errors: []string{err.Error()}}}}
	}
	spec, err := app.spec()
	if err != nil {
		return api.AppSpec{}, err
	}
	spec.Defaults()
	return spec, nil
}

// unsupportedNames lists the offending fields for the message.
func unsupportedNames(ds []Detail) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Errors[0]
	}
	return strings.Join(parts, "; ")
}

// mibs converts Marathon's MiB, which may be fractional, to whole MiB,
// rounding up.
func mibs(v float64) int64 {
	if v <= 0 || math.IsNaN(v) {
		return int64(min(v, 0)) // negative: kept for Validate to report
	}
	if v > 1<<50 {
		return 1 << 50
	}
	return int64(math.Ceil(v))
}

// seconds converts Marathon's seconds to a Duration.
func seconds(p *float64) api.Duration {
	if p == nil || math.IsNaN(*p) {
		return 0
	}
	s := max(min(*p, 1e9), -1e9)
	return api.Duration(math.Round(s * float64(time.Second)))
}

// spec maps the decoded app to an AppSpec.
func (a *App) spec() (api.AppSpec, error) {
	s := api.AppSpec{
		ID: a.ID,
		RunSpec: api.RunSpec{
			Cmd: a.Cmd, Args: nilIfEmpty(a.Args), User: a.User,
			CPUs: a.CPUs, Mem: mibs(a.Mem), Disk: mibs(a.Disk),
			Constraints:     nilIfEmpty(a.Constraints),
			KillGracePeriod: seconds(a.TaskKillGracePeriodSeconds),
		},
		Instances: a.Instances,
		DependsOn: nilIfEmpty(a.Dependencies),
	}
	if len(a.Env) > 0 {
		s.Env = a.Env
	}
	if len(a.Labels) > 0 {
		s.Labels = a.Labels
	}
	fail := func(path, format string, args ...any) error {
		return &Error{Message: "Object is not valid", Details: []Detail{{Path: path, Errors: []string{fmt.Sprintf(format, args...)}}}}
	}
	network := ""
	var mappings []PortMapping
	if c := a.Container; c != nil {
		switch c.Type {
		case "DOCKER", "MESOS", "":
		default:
			return s, fail("/container/type", "must be DOCKER or MESOS")
		}
		switch {
		case c.Docker != nil:
			s.Driver, s.Image = api.DriverDocker, c.Docker.Image
			switch strings.ToUpper(c.Docker.Network) {
			case "", "HOST":
			case "BRIDGE":
				network = api.NetworkBridge
			default:
				return s, fail("/container/docker/network", "network %q is not supported (HOST or BRIDGE)", c.Docker.Network)
			}
			mappings = c.Docker.PortMappings
		case c.Type == "DOCKER":
			return s, fail("/container/docker", "a DOCKER container needs docker.image")
		default:
			s.Driver = api.DriverExec
		}
		mappings = append(mappings, c.PortMappings...)
		for _, v := range c.Volumes {
			s.Volumes = append(s.Volumes, api.VolumeSpec{HostPath: v.HostPath, ContainerPath: v.ContainerPath, Mode: strings.ToUpper(v.Mode)})
		}
	}
	for i, n := range a.Networks {
		switch n.Mode {
		case "host":
		case "container/bridge":
			network = api.NetworkBridge
		default:
			return s, fail(fmt.Sprintf("/networks(%d)/mode", i), "mode %q is not supported (host or container/bridge)", n.Mode)
		}
	}
	if s.Driver == api.DriverDocker {
		s.Network = api.NetworkHost
		if network != "" {
			s.Network = network
		}
	} else if network == api.NetworkBridge {
		return s, fail("/networks", "a bridge network needs a DOCKER container")
	}
	switch {
	case s.Network == api.NetworkBridge:
		if len(a.PortDefinitions) > 0 {
			return s, fail("/portDefinitions", "a bridge network takes portMappings, not portDefinitions")
		}
		for _, m := range mappings {
			s.Ports = append(s.Ports, api.PortSpec{Name: m.Name, Port: m.HostPort, ContainerPort: m.ContainerPort, Protocol: m.Protocol})
		}
	case len(mappings) > 0:
		return s, fail("/container/docker/portMappings", "portMappings need network BRIDGE")
	case a.PortDefinitions != nil:
		for _, p := range a.PortDefinitions {
			ps := api.PortSpec{Name: p.Name, Protocol: p.Protocol}
			if a.RequirePorts {
				ps.Port = p.Port
			}
			s.Ports = append(s.Ports, ps)
		}
	default:
		for _, p := range a.Ports {
			ps := api.PortSpec{}
			if a.RequirePorts {
				ps.Port = p
			}
			s.Ports = append(s.Ports, ps)
		}
	}
	for i, h := range a.HealthChecks {
		hc, err := healthCheck(i, h)
		if err != nil {
			return s, err
		}
		s.HealthChecks = append(s.HealthChecks, hc)
	}
	if u := a.UpgradeStrategy; u != nil {
		s.UpgradeStrategy = api.UpgradeStrategy{MinimumHealthCapacity: u.MinimumHealthCapacity, MaximumOverCapacity: u.MaximumOverCapacity}
	}
	s.Backoff.Initial = seconds(a.BackoffSeconds)
	if a.BackoffFactor != nil {
		s.Backoff.Factor = *a.BackoffFactor
		if *a.BackoffFactor == 0 {
			return s, fail("/backoffFactor", "must be at least 1")
		}
	}
	s.Backoff.Max = seconds(a.MaxLaunchDelaySeconds)
	for _, f := range a.Fetch {
		fs := api.FetchSpec{URI: f.URI, Executable: f.Executable}
		if !f.Extract {
			fs.Extract = new(bool)
		}
		s.Fetch = append(s.Fetch, fs)
	}
	if a.Fetch == nil {
		for _, u := range a.URIs {
			s.Fetch = append(s.Fetch, api.FetchSpec{URI: u})
		}
	}
	return s, nil
}

// healthCheck maps health check i.
func healthCheck(i int, h HealthCheck) (api.HealthCheck, error) {
	hc := api.HealthCheck{
		Protocol: strings.TrimPrefix(strings.ToUpper(h.Protocol), "MESOS_"),
		Path:     h.Path, Port: h.Port,
		GracePeriod: seconds(h.GracePeriodSeconds),
		Interval:    seconds(h.IntervalSeconds),
		Timeout:     seconds(h.TimeoutSeconds),
	}
	if h.PortIndex != nil {
		hc.PortIndex = *h.PortIndex
	}
	if h.Command != nil {
		hc.Command = h.Command.Value
	}
	if n := h.MaxConsecutiveFailures; n != nil {
		if *n == 0 {
			return hc, &Error{Message: "Object is not valid", Details: []Detail{{
				Path:   fmt.Sprintf("/healthChecks(%d)/maxConsecutiveFailures", i),
				Errors: []string{"0 (never kill unhealthy tasks) is not supported"},
			}}}
		}
		hc.MaxConsecutiveFailures = *n
	}
	return hc, nil
}

// AppStatus is what the server knows of an app's tasks and deployments,
// rendered into the status fields of a GET /v2/apps answer.
type AppStatus struct {
	Version        time.Time // when the current spec was stored
	TasksRunning   int
	TasksHealthy   int
	TasksUnhealthy int
	TasksStaged    int
	Deployments    []string // ids of the deployments changing the app
	Tasks          []Task   // only with ?embed=app.tasks / apps.tasks
}

// ToMarathon renders an app as GET /v2/apps/{id} shows it (inside
// {"app": ...}; see AppResponse). Absent values render as their defaults.
func ToMarathon(spec api.AppSpec, status AppStatus) App {
	spec.HealthChecks = slices.Clone(spec.HealthChecks)
	spec.Ports = slices.Clone(spec.Ports)
	spec.Volumes = slices.Clone(spec.Volumes)
	spec.DependsOn = slices.Clone(spec.DependsOn)
	spec.Defaults()
	a := App{
		ID: spec.ID, Cmd: spec.Cmd, Args: spec.Args, User: spec.User,
		Instances: spec.Instances, CPUs: spec.CPUs, Mem: float64(spec.Mem), Disk: float64(spec.Disk),
		Env: orEmpty(spec.Env), Labels: orEmpty(spec.Labels),
		Constraints:  orEmptySlice(spec.Constraints),
		HealthChecks: []HealthCheck{},
		UpgradeStrategy: &UpgradeStrategy{
			MinimumHealthCapacity: spec.UpgradeStrategy.MinimumHealthCapacity,
			MaximumOverCapacity:   spec.UpgradeStrategy.MaximumOverCapacity,
		},
		BackoffSeconds:        secondsOf(spec.Backoff.Initial),
		BackoffFactor:         &spec.Backoff.Factor,
		MaxLaunchDelaySeconds: secondsOf(spec.Backoff.Max),
		Dependencies:          orEmptySlice(spec.DependsOn),
		Fetch:                 []Fetch{},
		TasksRunning:          status.TasksRunning,
		TasksHealthy:          status.TasksHealthy,
		TasksUnhealthy:        status.TasksUnhealthy,
		TasksStaged:           status.TasksStaged,
		Deployments:           []DeploymentRef{},
		Tasks:                 status.Tasks,
	}
	if spec.KillGracePeriod > 0 {
		a.TaskKillGracePeriodSeconds = secondsOf(spec.KillGracePeriod)
	}
	if !status.Version.IsZero() {
		a.Version = FormatTime(status.Version)
	}
	for _, id := range status.Deployments {
		a.Deployments = append(a.Deployments, DeploymentRef{ID: id})
	}
	for _, f := range spec.Fetch {
		a.Fetch = append(a.Fetch, Fetch{URI: f.URI, Executable: f.Executable, Extract: f.Extracts()})
	}
	if spec.Driver == api.DriverDocker {
		a.Container = &Container{Type: "DOCKER", Docker: &Docker{Image: spec.Image, Network: strings.ToUpper(spec.Network)}}
		for _, v := range spec.Volumes {
			a.Container.Volumes = append(a.Container.Volumes, Volume{ContainerPath: v.ContainerPath, HostPath: v.HostPath, Mode: v.Mode})
		}
	}
	if spec.Network == api.NetworkBridge && a.Container != nil {
		for _, p := range spec.Ports {
			a.Container.Docker.PortMappings = append(a.Container.Docker.PortMappings,
				PortMapping{ContainerPort: p.ContainerPort, HostPort: p.Port, Protocol: p.Protocol, Name: p.Name})
		}
	} else {
		a.PortDefinitions = []PortDefinition{}
		for _, p := range spec.Ports {
			a.PortDefinitions = append(a.PortDefinitions, PortDefinition{Port: p.Port, Protocol: p.Protocol, Name: p.Name})
			if p.Port != 0 {
				a.RequirePorts = true
			}
		}
	}
	for _, h := range spec.HealthChecks {
		mh := HealthCheck{
			Protocol:               h.Protocol,
			Path:                   h.Path,
			Port:                   h.Port,
			GracePeriodSeconds:     secondsOf(h.GracePeriod),
			IntervalSeconds:        secondsOf(h.Interval),
			TimeoutSeconds:         secondsOf(h.Timeout),
			MaxConsecutiveFailures: &h.MaxConsecutiveFailures,
		}
		switch {
		case h.Protocol == api.ProtocolCommand:
			mh.Command = &Command{Value: h.Command}
		case h.Port == 0:
			mh.PortIndex = &h.PortIndex
		}
		a.HealthChecks = append(a.HealthChecks, mh)
	}
	return a
}

func secondsOf(d api.Duration) *float64 {
	s := time.Duration(d).Seconds()
	return &s
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// nilIfEmpty makes empty lists absent, as specs store them.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func orEmptySlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// AppResponse is the answer of GET /v2/apps/{id}.
type AppResponse struct {
	App App `json:"app"`
}

// AppsResponse is the answer of GET /v2/apps.
type AppsResponse struct {
	Apps []App `json:"apps"`
}
