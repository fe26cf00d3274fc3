package scheduler

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Resources are what an instance needs or a node offers.
type Resources struct {
	CPUs    float64
	MemMiB  int64
	DiskMiB int64
}

// PortRange is an inclusive range of host ports, such as 31000-32000.
type PortRange struct {
	From, To int
}

// String formats the range as "31000-32000", or "8080" for a single port.
func (r PortRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Node is a machine that runs tasks, as the scheduler sees it.
type Node struct {
	Name     string // the hostname; constraint field "hostname"
	Labels   map[string]string
	Capacity Resources
	Ports    []PortRange // ranges dynamic ports are taken from
	Drained  bool        // takes no new tasks
	Down     bool        // not heartbeating; takes no new tasks
}

// TaskStatus is what the scheduler knows of a task's health.
type TaskStatus int

// Task statuses. The zero value is a running task not known to be unhealthy.
const (
	TaskRunning   TaskStatus = iota // started, healthy or without health checks
	TaskStaging                     // assigned but not started yet
	TaskUnhealthy                   // started and failing its health checks
)

// Task is an instance of an app on a node.
type Task struct {
	ID   string
	App  string
	Node string
	Resources
	Ports   []int // host ports in use
	Status  TaskStatus
	Started time.Time // zero when not started; newest are killed first
}

// PortRequest asks for one host port: Port 0 for a dynamic port from the
// node's ranges, otherwise exactly that port.
type PortRequest struct {
	Name string
	Port int
}

// AppSpec is the part of an app's definition placement needs.
type AppSpec struct {
	ID        string
	Instances int
	Resources
	Ports       []PortRequest
	Constraints []Constraint
}

// Validate checks the spec's resources, ports and constraints.
func (a AppSpec) Validate() error {
	return errors.Join(a.validateBasics(), ValidateConstraints(a.Constraints))
}

// validateBasics checks everything but the constraints.
func (a AppSpec) validateBasics() error {
	var errs []error
	if a.ID == "" {
		errs = append(errs, errors.New("id: required"))
	}
	if a.Instances < 0 {
		errs = append(errs, fmt.Errorf("instances: %d is negative", a.Instances))
	}
	if a.CPUs < 0 || math.IsNaN(a.CPUs) || math.IsInf(a.CPUs, 0) {
		errs = append(errs, fmt.Errorf("cpus: %v is not a non-negative number", a.CPUs))
	}
	if a.MemMiB < 0 {
		errs = append(errs, fmt.Errorf("mem: %d is negative", a.MemMiB))
	}
	if a.DiskMiB < 0 {
		errs = append(errs, fmt.Errorf("disk: %d is negative", a.DiskMiB))
	}
	fixed := map[int]int{}
	for i, p := range a.Ports {
		if p.Port < 0 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("ports[%d]: port %d is outside 0-65535", i, p.Port))
			continue
		}
		if p.Port == 0 {
			continue
		}
		if j, dup := fixed[p.Port]; dup {
			errs = append(errs, fmt.Errorf("ports[%d]: port %d already requested by ports[%d]", i, p.Port, j))
		}
		fixed[p.Port] = i
	}
	return errors.Join(errs...)
}

// Placement is one instance placed on a node with the host ports it got, in
// the order of the app's port requests.
type Placement struct {
	Node  string
	Ports []int
}

// Rejection kinds, in the order nodes are checked.
const (
	RejectDown       = "down"
	RejectDrained    = "drained"
	RejectConstraint = "constraint"
	RejectCPUs       = "cpus"
	RejectMem        = "mem"
	RejectDisk       = "disk"
	RejectPort       = "port"  // a fixed port is in use
	RejectPorts      = "ports" // too few free ports in the node's ranges
	RejectNoNodes    = "no-nodes"
	RejectOther      = "other" // every node looked fit on a second look
)

// Rejection counts the nodes ruled out for one reason.
type Rejection struct {
	Kind       string // one of the Reject constants
	Constraint int    // index in the spec's constraints for RejectConstraint, else -1
	Port       int    // the fixed port for RejectPort
	Ranges     string // the node's ranges for RejectPorts, "31000-32000"
	Nodes      int
	Text       string // "needs 128 MiB, 2 nodes have less"
}

// Plan is the outcome of placing instances of one app.
type Plan struct {
	App        string
	Placements []Placement
	Unplaced   int         // instances that found no node
	Rejections []Rejection // why, when Unplaced > 0: every node counted once
}

// Reasons returns the texts of the rejections.
func (p Plan) Reasons() []string {
	out := make([]string, len(p.Rejections))
	for i, r := range p.Rejections {
		out[i] = r.Text
	}
	return out
}

// Explain says in words why instances were not placed, or "" when all were.
func (p Plan) Explain() string {
	if p.Unplaced == 0 {
		return ""
	}
	s := ""
	for i, r := range p.Rejections {
		if i > 0 {
			s += "; "
		}
		s += r.Text
	}
	return s
}
