package health

import (
	"errors"
	"fmt"
	"time"
)

// Protocol is how a check probes a task.
type Protocol string

// The protocols of Marathon's health checks.
const (
	HTTP    Protocol = "HTTP"    // GET Path; 200–399 is healthy
	HTTPS   Protocol = "HTTPS"   // as HTTP over TLS; the certificate is not verified
	TCP     Protocol = "TCP"     // a TCP connection is accepted
	COMMAND Protocol = "COMMAND" // Command under sh -c exits 0 in the task's environment
)

// Marathon's defaults, applied by WithDefaults to zero fields.
const (
	DefaultGracePeriod            = 300 * time.Second
	DefaultInterval               = 60 * time.Second
	DefaultTimeout                = 20 * time.Second
	DefaultMaxConsecutiveFailures = 3
)

// Check is one health check of an app, applied to each of its tasks.
type Check struct {
	Protocol Protocol
	Path     string // HTTP(S): the request path; default "/"
	// PortIndex selects the task's port (its index in the task's ports) when
	// Port is 0. Port is a fixed port to probe instead.
	PortIndex int
	Port      int
	Command   string // COMMAND: run under sh -c

	GracePeriod time.Duration // failures this long after the start are ignored until the first success
	Interval    time.Duration // between the starts of two probes
	Timeout     time.Duration // a probe that takes longer fails
	// MaxConsecutiveFailures is how many failures in a row make the task
	// be killed; 0 never kills (the task is only reported unhealthy).
	MaxConsecutiveFailures int
	// IgnoreHTTP1xx makes 1xx statuses neither a success nor a failure.
	IgnoreHTTP1xx bool
}

// WithDefaults returns c with Marathon's defaults in its zero fields.
// MaxConsecutiveFailures is left alone: 0 is meaningful (never kill), so the
// caller applies DefaultMaxConsecutiveFailures where the spec omits it.
func (c Check) WithDefaults() Check {
	if c.Protocol == "" {
		c.Protocol = HTTP
	}
	if c.Path == "" && (c.Protocol == HTTP || c.Protocol == HTTPS) {
		c.Path = "/"
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate reports what is wrong with c, after defaults.
func (c Check) Validate() error {
	var errs []error
	switch c.Protocol {
	case HTTP, HTTPS, TCP:
		if c.Command != "" {
			errs = append(errs, fmt.Errorf("command: only for protocol COMMAND"))
		}
	case COMMAND:
		if c.Command == "" {
			errs = append(errs, errors.New("command: required for protocol COMMAND"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol %q: want HTTP, HTTPS, TCP or COMMAND", c.Protocol))
	}
	if c.PortIndex < 0 {
		errs = append(errs, fmt.Errorf("port_index %d: must not be negative", c.PortIndex))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: out of range", c.Port))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %s: must be positive", c.Interval))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", c.Timeout))
	}
	if c.Timeout > c.Interval {
		errs = append(errs, fmt.Errorf("timeout %s: must not exceed the interval %s", c.Timeout, c.Interval))
	}
	if c.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("grace_period %s: must not be negative", c.GracePeriod))
	}
	if c.MaxConsecutiveFailures < 0 {
		errs = append(errs, fmt.Errorf("max_consecutive_failures %d: must not be negative", c.MaxConsecutiveFailures))
	}
	return errors.Join(errs...)
}

// String names the check in reasons: "HTTP /health", "TCP", "COMMAND".
func (c Check) String() string {
	switch c.Protocol {
	case HTTP, HTTPS:
		return string(c.Protocol) + " " + c.Path
	default:
		return string(c.Protocol)
	}
}

// TargetPort is the port c probes for a task with these ports: Port when set,
// else ports[PortIndex].
func (c Check) TargetPort(ports []int) (int, error) {
	if c.Port != 0 {
		return c.Port, nil
	}
	if c.PortIndex >= len(ports) {
		return 0, fmt.Errorf("port_index %d: the task has %d ports", c.PortIndex, len(ports))
	}
	return ports[c.PortIndex], nil
}
