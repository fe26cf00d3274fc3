package api

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Drivers an app or job runs with.
const (
	DriverExec   = "exec"
	DriverDocker = "docker"
	// DriverMock runs scripted in-memory tasks ("print hi; run 2s; exit 3")
	// for tests and simulations, on agents started with --mock-driver.
	DriverMock = "mock"
)

// Docker network modes.
const (
	NetworkHost   = "host"
	NetworkBridge = "bridge"
)

// Health check protocols, as Marathon spells them.
const (
	ProtocolHTTP    = "HTTP"
	ProtocolHTTPS   = "HTTPS"
	ProtocolTCP     = "TCP"
	ProtocolCommand = "COMMAND"
)

// Job concurrency policies: what a job does when its next run is due and
// the previous one still runs.
const (
	ConcurrencyAllow   = "ALLOW"   // start another run
	ConcurrencyForbid  = "FORBID"  // skip the due run
	ConcurrencyReplace = "REPLACE" // kill the running one, then start
)

// Defaults applied by AppSpec.Defaults and JobSpec.Defaults; those shared
// with Marathon have Marathon's values.
const (
	DefaultCPUs                   = 1.0
	DefaultMemMiB                 = 128
	DefaultInstances              = 1
	DefaultBackoffInitial         = Duration(time.Second)
	DefaultBackoffFactor          = 1.15
	DefaultBackoffMax             = Duration(time.Hour)
	DefaultHealthGracePeriod      = Duration(5 * time.Minute)
	DefaultHealthInterval         = Duration(time.Minute)
	DefaultHealthTimeout          = Duration(20 * time.Second)
	DefaultMaxConsecutiveFailures = 3
)

// FetchSpec is a file put into the task sandbox before it starts (Marathon's
// fetch): an http, https or file URL. Archives (.tar, .tar.gz, .tgz, .zip, ...)
// are extracted unless Extract is false; Executable sets the executable bit on
// a file that is not extracted.
type FetchSpec struct {
	URI        string `json:"uri"`
	Executable bool   `json:"executable,omitempty"`
	Extract    *bool  `json:"extract,omitempty"`
}

// Extracts reports whether an archive fetched by f is extracted (the default).
func (f FetchSpec) Extracts() bool { return f.Extract == nil || *f.Extract }

// PortSpec asks for a host port. Port 0 (the default) gets a dynamic port
// from the node's range; the task sees it as $PORT0.. by index and
// $PORT_<NAME> by name. ContainerPort is the port inside a docker container on
// a bridge network.
type PortSpec struct {
	Name          string `json:"name,omitempty"`
	Port          int    `json:"port,omitempty"`
	ContainerPort int    `json:"container_port,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // tcp (default) or udp
}

// VolumeSpec mounts a host path into a docker container.
type VolumeSpec struct {
	HostPath      string `json:"host_path"`
	ContainerPath string `json:"container_path"`
	Mode          string `json:"mode,omitempty"` // RO or RW (default)
}

// Constraint is one placement constraint in Marathon's shape: [field,
// operator] or [field, operator, value]. Numbers are accepted as values, so
// YAML's `[rack, MAX_PER, 2]` reads as ["rack", "MAX_PER", "2"].
type Constraint []string

// UnmarshalJSON reads a list of strings and numbers.
func (c *Constraint) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("constraint must be a list like [field, operator, value]")
	}
	out := make(Constraint, 0, len(raw))
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out = append(out, s)
			continue
		}
		var n json.Number
		if err := json.Unmarshal(r, &n); err != nil {
			return fmt.Errorf("constraint parts must be strings or numbers, got %s", r)
		}
		out = append(out, n.String())
	}
	*c = out
	return nil
}

// HealthCheck says how an instance is known to be healthy. HTTP and HTTPS
// ask Path on the instance's port (PortIndex, or Port when set) and want a
// 2xx or 3xx answer; TCP connects; COMMAND runs Command in the task's
// environment and wants exit code 0. An instance that failed
// MaxConsecutiveFailures times in a row after GracePeriod is killed.
type HealthCheck struct {
	Protocol               string   `json:"protocol"`
	Path                   string   `json:"path,omitempty"`
	PortIndex              int      `json:"port_index,omitempty"`
	Port                   int      `json:"port,omitempty"`
	Command                string   `json:"command,omitempty"`
	GracePeriod            Duration `json:"grace_period,omitempty"`
	Interval               Duration `json:"interval,omitempty"`
	Timeout                Duration `json:"timeout,omitempty"`
	MaxConsecutiveFailures int      `json:"max_consecutive_failures,omitempty"`
}

// UpgradeStrategy bounds a rolling restart, as Marathon's: at least
// MinimumHealthCapacity × instances stay healthy, at most
// (1 + MaximumOverCapacity) × instances run. Both default to 1 (start all new
// instances before stopping old ones); nil means the default.
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimum_health_capacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximum_over_capacity,omitempty"`
}

// Backoff delays restarts of failing instances: Initial, times Factor after
// each failure, up to Max (Marathon's backoffSeconds, backoffFactor,
// maxLaunchDelaySeconds).
type Backoff struct {
	Initial Duration `json:"initial,omitempty"`
	Factor  float64  `json:"factor,omitempty"`
	Max     Duration `json:"max,omitempty"`
}

// RunSpec is what an app instance or a job run executes and needs; AppSpec
// and JobSpec embed it, so its fields sit at the top level of their
// documents.
type RunSpec struct {
	Driver string `json:"driver,omitempty"` // exec (default) or docker
	// Cmd runs under `sh -c`; Args runs without a shell. Give one. With
	// docker, neither means the image's own command.
	Cmd   string   `json:"cmd,omitempty"`
	Args  []string `json:"args,omitempty"`
	Image string   `json:"image,omitempty"` // docker: pulled only if absent
	// Network is the docker network mode: host (default) or bridge.
	Network string      `json:"network,omitempty"`
	User    string      `json:"user,omitempty"`
	Fetch   []FetchSpec `json:"fetch,omitempty"`
	CPUs    float64     `json:"cpus,omitempty"`
	// Mem and Disk are MiB; mem is enforced where the node can (cgroups).
	Mem         int64             `json:"mem,omitempty"`
	Disk        int64             `json:"disk,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Ports       []PortSpec        `json:"ports,omitempty"`
	Volumes     []VolumeSpec      `json:"volumes,omitempty"`
	Constraints []Constraint      `json:"constraints,omitempty"`
	// KillGracePeriod is how long a task has between SIGTERM and SIGKILL;
	// zero means the driver's default.
	KillGracePeriod Duration `json:"kill_grace_period,omitempty"`
}

// AppSpec is `kind: App`: a long-running service kept at Instances copies
// (Marathon's app). Its key is ID, a path whose prefix is its group.
type AppSpec struct {
	ID string `json:"id"`
	RunSpec
	// Instances is how many copies run; nil means 1 and 0 suspends the app.
	Instances       *int            `json:"instances,omitempty"`
	HealthChecks    []HealthCheck   `json:"health_checks,omitempty"`
	UpgradeStrategy UpgradeStrategy `json:"upgrade_strategy,omitzero"`
	Backoff         Backoff         `json:"backoff,omitzero"`
	// DependsOn lists apps that are started (and healthy) before this one.
	DependsOn []string `json:"depends_on,omitempty"`
}

// JobSpec is `kind: Job`: a command run to completion, on a cron Schedule
// or, without one, once (Chronos/Metronome's job).
type JobSpec struct {
	ID string `json:"id"`
	RunSpec
	// Schedule is a 5-field cron expression ("0 3 * * *") or a descriptor
	// (@hourly, @daily, ...) read in Timezone (default UTC).
	Schedule          string `json:"schedule,omitempty"`
	Timezone          string `json:"timezone,omitempty"`
	ConcurrencyPolicy string `json:"concurrency_policy,omitempty"` // ALLOW (default), FORBID, REPLACE
	// StartingDeadline: a run that could not start within this long of its
	// due time is skipped; zero means no deadline.
	StartingDeadline Duration `json:"starting_deadline,omitempty"`
	// Retries is how often a failed run is retried.
	Retries int `json:"retries,omitempty"`
}

// Count returns the number of instances: 1 when unset.
func (a *AppSpec) Count() int {
	if a.Instances == nil {
		return DefaultInstances
	}
	return *a.Instances
}

// Group returns the app's group, the prefix of its path: "/shop" for
// "/shop/api", "/" for "/api".
func (a *AppSpec) Group() string { return PathGroup(a.ID) }

// Group returns the job's group, the prefix of its path.
func (j *JobSpec) Group() string { return PathGroup(j.ID) }

// PathGroup returns the group of an app or job id: everything before the last
// segment, "/" at the top.
func PathGroup(id string) string {
	id = "/" + strings.Trim(id, "/")
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "/"
	}
	return id[:i]
}

// Defaults fills what the spec leaves out: a leading "/" on the id, driver
// exec, 1 CPU and 128 MiB (Marathon's defaults; so cpus and mem cannot be
// asked to be 0), network host for docker, protocol tcp on ports, mode RW on
// volumes.
func (r *RunSpec) Defaults() {
	if r.Driver == "" {
		r.Driver = DriverExec
	}
	if r.Driver == DriverDocker && r.Network == "" {
		r.Network = NetworkHost
	}
	if r.CPUs == 0 {
		r.CPUs = DefaultCPUs
	}
	if r.Mem == 0 {
		r.Mem = DefaultMemMiB
	}
	for i := range r.Ports {
		if r.Ports[i].Protocol == "" {
			r.Ports[i].Protocol = "tcp"
		}
	}
	for i := range r.Volumes {
		if r.Volumes[i].Mode == "" {
			r.Volumes[i].Mode = "RW"
		}
	}
}

// Defaults fills RunSpec's defaults and Marathon's for the rest: 1
// instance, upgrade strategy 1/1, backoff 1s × 1.15 up to 1h (or the
// initial backoff, if longer); health checks get path "/" (HTTP, HTTPS),
// grace period 5m, interval 1m, timeout 20s (or the interval, if shorter)
// and 3 failures. Ids get a leading "/", as do depends_on entries. A spec
// that validates still validates after Defaults.
func (a *AppSpec) Defaults() {
	a.ID = absID(a.ID)
	a.RunSpec.Defaults()
	if a.Instances == nil {
		n := DefaultInstances
		a.Instances = &n
	}
	one := func(p **float64) {
		if *p == nil {
			v := 1.0
			*p = &v
		}
	}
	one(&a.UpgradeStrategy.MinimumHealthCapacity)
	one(&a.UpgradeStrategy.MaximumOverCapacity)
	if a.Backoff.Initial == 0 {
		a.Backoff.Initial = DefaultBackoffInitial
	}
	if a.Backoff.Factor == 0 {
		a.Backoff.Factor = DefaultBackoffFactor
	}
	if a.Backoff.Max == 0 {
		a.Backoff.Max = max(DefaultBackoffMax, a.Backoff.Initial)
	}
	for i := range a.HealthChecks {
		h := &a.HealthChecks[i]
		h.Protocol = strings.ToUpper(h.Protocol)
		if h.Path == "" && (h.Protocol == ProtocolHTTP || h.Protocol == ProtocolHTTPS) {
			h.Path = "/"
		}
		if h.GracePeriod == 0 {
			h.GracePeriod = DefaultHealthGracePeriod
		}
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		if h.Timeout == 0 {
			h.Timeout = min(DefaultHealthTimeout, h.Interval)
		}
		if h.MaxConsecutiveFailures == 0 {
			h.MaxConsecutiveFailures = DefaultMaxConsecutiveFailures
		}
	}
	for i, d := range a.DependsOn {
		a.DependsOn[i] = absID(d)
	}
}

// Normalize puts the leading "/" on the id and returns it: the app's name
// as stored.
func (a *AppSpec) Normalize() string { a.ID = absID(a.ID); return a.ID }

// Normalize puts the leading "/" on the id and returns it: the job's name
// as stored.
func (j *JobSpec) Normalize() string { j.ID = absID(j.ID); return j.ID }

// ActionWords are the last path segments the API reads as actions on an app
// or job (/api/v1/apps/shop/api/scale); an id may not end with one.
var ActionWords = []string{"tasks", "versions", "scale", "restart", "rollback", "run", "runs", "logs"}

// endsWithAction reports whether id's last segment is an action word.
func endsWithAction(id string) bool {
	last := id[strings.LastIndexByte(id, '/')+1:]
	for _, w := range ActionWords {
		if last == w {
			return true
		}
	}
	return false
}

// Defaults fills RunSpec's defaults, a leading "/" on the id and
// concurrency policy ALLOW.
func (j *JobSpec) Defaults() {
	j.ID = absID(j.ID)
	j.RunSpec.Defaults()
	if j.ConcurrencyPolicy == "" {
		j.ConcurrencyPolicy = ConcurrencyAllow
	}
}

// absID puts a leading "/" on a non-empty relative id.
func absID(id string) string {
	if id != "" && !strings.HasPrefix(id, "/") {
		return "/" + id
	}
	return id
}

var idSegmentRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// IDRule is the human description of ValidID, for error messages.
const IDRule = "a path like /group/name of segments of lowercase letters, digits and '-', each starting and ending with a letter or digit, at most 63 characters"

// ValidID reports whether id is a valid app or job id: a path of one or
// more segments, the leading "/" optional, as Marathon's ids but without
// relative segments ("." and ".."). Segments are DNS labels (at most 63
// characters) because discovery names apps by them.
func ValidID(id string) bool {
	rest := strings.TrimPrefix(id, "/")
	if rest == "" || len(id) > 255 {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if len(seg) > 63 || !idSegmentRE.MatchString(seg) {
			return false
		}
	}
	return true
}

// Validate checks a RunSpec; field names are those of the YAML document.
func (r *RunSpec) Validate() FieldErrors {
	var fe FieldErrors
	docker := r.Driver == DriverDocker
	switch r.Driver {
	case "", DriverExec:
		if r.Cmd == "" && len(r.Args) == 0 {
			fe.Add("cmd", "is required for driver exec (or args)")
		}
		if r.Image != "" {
			fe.Add("image", "only driver docker runs an image")
		}
	case DriverDocker:
		if r.Image == "" {
			fe.Add("image", "is required for driver docker")
		}
	case DriverMock:
		if r.Cmd == "" && len(r.Args) == 0 {
			fe.Add("cmd", "is required for driver mock: its script, e.g. \"print hi; run 10s; exit 3\"")
		}
	default:
		fe.Add("driver", "must be exec or docker (or mock, for tests on agents started with --mock-driver)")
	}
	if r.Cmd != "" && len(r.Args) > 0 {
		fe.Add("args", "give cmd or args, not both")
	}
	switch r.Network {
	case "", NetworkHost, NetworkBridge:
		if r.Network != "" && !docker {
			fe.Add("network", "only driver docker has a network mode")
		}
	default:
		fe.Add("network", "must be host or bridge")
	}
	for i, f := range r.Fetch {
		if err := checkFetchURI(f.URI); err != "" {
			fe.Add(fmt.Sprintf("fetch[%d].uri", i), "%s", err)
		}
	}
	if !(r.CPUs >= 0) || math.IsInf(r.CPUs, 0) {
		fe.Add("cpus", "must be a positive number")
	}
	if r.Mem < 0 {
		fe.Add("mem", "must not be negative")
	}
	if r.Disk < 0 {
		fe.Add("disk", "must not be negative")
	}
	for k := range r.Env {
		if !envNameRE.MatchString(k) {
			fe.Add("env", "%q is not a variable name (letters, digits, '_', not starting with a digit)", k)
		}
	}
	for k, v := range r.Labels {
		if _, _, _, err := ParseLabel(k + "=" + v); err != nil {
			fe.Add("labels", "%v", err)
		}
	}
	r.validatePorts(&fe)
	for i, v := range r.Volumes {
		p := fmt.Sprintf("volumes[%d]", i)
		if !docker {
			fe.Add(p, "only driver docker mounts volumes")
		}
		if !strings.HasPrefix(v.HostPath, "/") {
			fe.Add(p+".host_path", "must be an absolute path")
		}
		if !strings.HasPrefix(v.ContainerPath, "/") {
			fe.Add(p+".container_path", "must be an absolute path")
		}
		if v.Mode != "" && v.Mode != "RO" && v.Mode != "RW" {
			fe.Add(p+".mode", "must be RO or RW")
		}
	}
	for i, c := range r.Constraints {
		if msg := checkConstraint(c); msg != "" {
			fe.Add(fmt.Sprintf("constraints[%d]", i), "%s", msg)
		}
	}
	if r.KillGracePeriod < 0 {
		fe.Add("kill_grace_period", "must not be negative")
	}
	return fe
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var portNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (r *RunSpec) validatePorts(fe *FieldErrors) {
	fixed := map[int]int{}
	names := map[string]int{}
	for i, p := range r.Ports {
		path := fmt.Sprintf("ports[%d]", i)
		if p.Name != "" {
			if !portNameRE.MatchString(p.Name) {
				fe.Add(path+".name", "must be lowercase letters, digits and '-', at most 63 characters")
			} else if j, dup := names[p.Name]; dup {
				fe.Add(path+".name", "%q is already the name of ports[%d]", p.Name, j)
			}
			names[p.Name] = i
		}
		if p.Port < 0 || p.Port > 65535 {
			fe.Add(path+".port", "must be 0 (dynamic) or a port 1-65535")
		} else if p.Port != 0 {
			if j, dup := fixed[p.Port]; dup {
				fe.Add(path+".port", "%d is already asked for by ports[%d]", p.Port, j)
			}
			fixed[p.Port] = i
		}
		switch {
		case p.ContainerPort < 0 || p.ContainerPort > 65535:
			fe.Add(path+".container_port", "must be a port 1-65535")
		case p.ContainerPort != 0 && r.Network != NetworkBridge:
			fe.Add(path+".container_port", "only a docker bridge network maps container ports")
		}
		switch p.Protocol {
		case "", "tcp", "udp":
		default:
			fe.Add(path+".protocol", "must be tcp or udp")
		}
	}
}

// checkFetchURI returns what is wrong with a fetch URI, or "".
func checkFetchURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	switch {
	case uri == "":
		return "is required"
	case !ok:
		return "must be an http, https or file URL"
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		if rest == "" || rest[0] == '/' {
			return "needs a host"
		}
	case "file":
		if !strings.HasPrefix(rest, "/") || len(rest) == 1 {
			return "must be file:///absolute/path"
		}
	default:
		return fmt.Sprintf("scheme %q is not http, https or file", scheme)
	}
	return ""
}

// checkConstraint returns what is wrong with a constraint, or "". The rules
// are scheduler.ValidateConstraints': operators are upper-cased there too.
func checkConstraint(c Constraint) string {
	if len(c) != 2 && len(c) != 3 {
		return fmt.Sprintf("want [field, operator] or [field, operator, value], got %d parts", len(c))
	}
	field, op, value := c[0], strings.ToUpper(c[1]), ""
	if len(c) == 3 {
		value = c[2]
	}
	if field == "" {
		return "needs a field"
	}
	switch op {
	case "UNIQUE":
		if value != "" {
			return fmt.Sprintf("UNIQUE takes no value, got %q", value)
		}
	case "CLUSTER":
	case "IS":
		if value == "" {
			return "IS needs a value"
		}
	case "LIKE", "UNLIKE":
		if value == "" {
			return op + " needs a regular expression"
		}
		if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
			return fmt.Sprintf("%s regular expression %q: %v", op, value, err)
		}
	case "MAX_PER", "GROUP_BY":
		if value == "" {
			if op == "MAX_PER" {
				return "MAX_PER needs a positive integer"
			}
			break
		}
		if n, err := strconv.Atoi(value); err != nil || n < 1 {
			return fmt.Sprintf("%s needs a positive integer, got %q", op, value)
		}
	case "":
		return "needs an operator"
	default:
		return fmt.Sprintf("unknown operator %q (want UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS)", c[1])
	}
	return ""
}

// Validate checks an AppSpec; field names are those of the YAML document.
// Call Defaults first: Validate does not fill defaults, and checks what is
// given.
func (a *AppSpec) Validate() FieldErrors {
	fe := a.RunSpec.Validate()
	if !ValidID(a.ID) {
		fe.Add("id", "must be %s", IDRule)
	} else if endsWithAction(a.ID) {
		fe.Add("id", "must not end with %q: the API reads it as an action", a.ID[strings.LastIndexByte(a.ID, '/')+1:])
	}
	if a.Instances != nil && *a.Instances < 0 {
		fe.Add("instances", "must not be negative (0 suspends the app)")
	}
	for i, h := range a.HealthChecks {
		p := fmt.Sprintf("health_checks[%d].", i)
		switch strings.ToUpper(h.Protocol) {
		case ProtocolHTTP, ProtocolHTTPS:
			if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
				fe.Add(p+"path", "must start with /")
			}
		case ProtocolTCP:
			if h.Path != "" {
				fe.Add(p+"path", "only HTTP and HTTPS checks have a path")
			}
		case ProtocolCommand:
			if h.Command == "" {
				fe.Add(p+"command", "is required for protocol COMMAND")
			}
		default:
			fe.Add(p+"protocol", "must be HTTP, HTTPS, TCP or COMMAND")
		}
		if h.Command != "" && strings.ToUpper(h.Protocol) != ProtocolCommand {
			fe.Add(p+"command", "only COMMAND checks run a command")
		}
		if h.PortIndex < 0 || (strings.ToUpper(h.Protocol) != ProtocolCommand && h.Port == 0 && h.PortIndex >= len(a.Ports)) {
			fe.Add(p+"port_index", "must be the index of one of the app's %d ports", len(a.Ports))
		}
		if h.Port < 0 || h.Port > 65535 {
			fe.Add(p+"port", "must be a port 1-65535")
		}
		for name, d := range map[string]Duration{"grace_period": h.GracePeriod, "interval": h.Interval, "timeout": h.Timeout} {
			if d < 0 {
				fe.Add(p+name, "must not be negative")
			}
		}
		if h.Interval > 0 && h.Timeout > h.Interval {
			fe.Add(p+"timeout", "must not be longer than the interval")
		}
		if h.MaxConsecutiveFailures < 0 {
			fe.Add(p+"max_consecutive_failures", "must not be negative")
		}
	}
	for name, v := range map[string]*float64{
		"upgrade_strategy.minimum_health_capacity": a.UpgradeStrategy.MinimumHealthCapacity,
		"upgrade_strategy.maximum_over_capacity":   a.UpgradeStrategy.MaximumOverCapacity,
	} {
		if v != nil && !(*v >= 0 && *v <= 1) {
			fe.Add(name, "must be between 0 and 1")
		}
	}
	if a.Backoff.Initial < 0 {
		fe.Add("backoff.initial", "must not be negative")
	}
	if a.Backoff.Factor != 0 && !(a.Backoff.Factor >= 1) || math.IsInf(a.Backoff.Factor, 0) {
		fe.Add("backoff.factor", "must be at least 1")
	}
	if a.Backoff.Max < 0 || (a.Backoff.Max > 0 && a.Backoff.Max < a.Backoff.Initial) {
		fe.Add("backoff.max", "must not be less than backoff.initial")
	}
	seen := map[string]int{}
	for i, d := range a.DependsOn {
		p := fmt.Sprintf("depends_on[%d]", i)
		switch {
		case !ValidID(d):
			fe.Add(p, "must be %s", IDRule)
		case absID(d) == absID(a.ID):
			fe.Add(p, "an app cannot depend on itself")
		}
		if j, dup := seen[absID(d)]; dup {
			fe.Add(p, "repeats depends_on[%d]", j)
		}
		seen[absID(d)] = i
	}
	return fe
}

// Validate checks a JobSpec; field names are those of the YAML document.
// The schedule is checked for syntax here; the scheduler parses it fully.
func (j *JobSpec) Validate() FieldErrors {
	fe := j.RunSpec.Validate()
	if !ValidID(j.ID) {
		fe.Add("id", "must be %s", IDRule)
	} else if endsWithAction(j.ID) {
		fe.Add("id", "must not end with %q: the API reads it as an action", j.ID[strings.LastIndexByte(j.ID, '/')+1:])
	}
	if j.Schedule != "" {
		if msg := CheckCron(j.Schedule); msg != "" {
			fe.Add("schedule", "%s", msg)
		}
	}
	if j.Timezone != "" {
		if j.Schedule == "" {
			fe.Add("timezone", "only a scheduled job has a timezone")
		} else if _, err := time.LoadLocation(j.Timezone); err != nil {
			fe.Add("timezone", "unknown time zone %q", j.Timezone)
		}
	}
	switch j.ConcurrencyPolicy {
	case "", ConcurrencyAllow, ConcurrencyForbid, ConcurrencyReplace:
	default:
		fe.Add("concurrency_policy", "must be ALLOW, FORBID or REPLACE")
	}
	if j.StartingDeadline < 0 {
		fe.Add("starting_deadline", "must not be negative")
	}
	if j.Retries < 0 {
		fe.Add("retries", "must not be negative")
	}
	return fe
}

// cronFields are the five fields of a cron expression: name, range and the
// names allowed in place of numbers.
var cronFields = [5]struct {
	name     string
	min, max int
	names    []string
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 6, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// CheckCron returns what is wrong with a cron expression, or "". It accepts
// what robfig/cron's standard parser does: five fields (minute, hour, day of
// month, month, day of week) of *, ?, numbers, names (jan, mon), ranges a-b,
// lists a,b and steps /n, or a descriptor (@yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly, @every <duration>).
func CheckCron(expr string) string {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") {
		switch {
		case strings.HasPrefix(expr, "@every "):
			d, err := time.ParseDuration(strings.TrimSpace(expr[len("@every "):]))
			if err != nil || d <= 0 {
				return fmt.Sprintf("@every needs a positive duration, got %q", expr)
			}
		case expr == "@yearly" || expr == "@annually" || expr == "@monthly" || expr == "@weekly" ||
			expr == "@daily" || expr == "@midnight" || expr == "@hourly":
		default:
			return fmt.Sprintf("unknown descriptor %q", expr)
		}
		return ""
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Sprintf("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	for i, f := range fields {
		for _, item := range strings.Split(f, ",") {
			if msg := checkCronItem(i, item); msg != "" {
				return fmt.Sprintf("%s field %q: %s", cronFields[i].name, f, msg)
			}
		}
	}
	return ""
}

func checkCronItem(field int, item string) string {
	spec := cronFields[field]
	rng, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		if n, err := strconv.Atoi(step); err != nil || n < 1 {
			return fmt.Sprintf("step %q is not a positive number", step)
		}
	}
	if rng == "*" || rng == "?" {
		return ""
	}
	lo, hi, isRange := strings.Cut(rng, "-")
	value := func(s string) (int, string) {
		if n, err := strconv.Atoi(s); err == nil {
			if n < spec.min || n > spec.max {
				return 0, fmt.Sprintf("%d is outside %d-%d", n, spec.min, spec.max)
			}
			return n, ""
		}
		for i, name := range spec.names {
			if strings.EqualFold(s, name) {
				return spec.min + i, ""
			}
		}
		return 0, fmt.Sprintf("%q is not a number", s)
	}
	a, msg := value(lo)
	if msg != "" {
		return msg
	}
	if isRange {
		b, msg := value(hi)
		if msg != "" {
			return msg
		}
		if b < a {
			return fmt.Sprintf("range %s ends before it starts", rng)
		}
	}
	return ""
}
