package agent

import (
	"log/slog"
	"time"
)

// Config is everything `corral agent` (and the agent half of `corral dev`) is
// started with.
type Config struct {
	DataDir string
	// Server is the server's agent channel, host:port. Several may be given,
	// tried in turn.
	Servers []string
	// JoinToken is needed only for the first start; afterwards the agent uses
	// the certificate in DataDir.
	JoinToken string
	// Name is the node name; default the hostname.
	Name string
	// Labels the node is started with (--label k=v).
	Labels map[string]string

	// Schedulable resources; zero means "all the machine has" (cpus, memory,
	// disk of DataDir's filesystem).
	CPUs     float64
	MemMB    int64
	DiskMB   int64
	PortFrom int
	PortTo   int

	// Listeners of node-local services (added by later features).
	StatsdAddr   string
	SyslogAddr   string
	JSONLogsAddr string
	BeatsAddr    string
	DNSAddr      string

	// HostMetricsInterval is how often the host collector samples the
	// machine (CPU, load, memory, swap, disks, disk I/O, network, processes)
	// and sends the points to the server; 0 turns it off.
	HostMetricsInterval time.Duration

	// StatsdPrefix is the namespace of StatsD series ("stats": etsy's
	// stats.counters.X.rate ...); StatsdFlushInterval is etsy's flushInterval.
	StatsdPrefix        string
	StatsdFlushInterval time.Duration

	// Checks runs the monitoring checks: the defaults (cpu, disk, load,
	// memory, swap) and the Checks assigned to the node.
	Checks bool

	// Converge runs the node's configuration (the roles' resources in the
	// catalog the server assigns it): on start, when the catalog changes,
	// when asked (corral converge --now), when a managed file drifts and
	// every ConvergeInterval plus a random delay of up to ConvergeSplay
	// (0 interval: no periodic runs).
	Converge         bool
	ConvergeInterval time.Duration
	ConvergeSplay    time.Duration
	// Root prefixes every path the converge touches ("/": the machine; a
	// directory for tests and for building images).
	Root string

	// DockerHost is the Docker Engine of the docker driver ("unix:///...",
	// "tcp://host:2375"); "" is the docker CLI's default (DOCKER_HOST or
	// the local socket). Docker tasks fail while the engine does not answer.
	DockerHost string
	// MockDriver adds the mock driver (scripted in-memory tasks), for tests
	// and simulations.
	MockDriver bool

	// SpoolBytes is the disk budget of the report spool.
	SpoolBytes int64

	// Version is the corral version, reported in the node's facts.
	Version string

	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults returns the Config of a production agent (DESIGN.md §2).
func Defaults() Config {
	return Config{
		DataDir:             "/var/lib/corral-agent",
		Servers:             []string{"127.0.0.1:7701"},
		PortFrom:            31000,
		PortTo:              32000,
		StatsdAddr:          "127.0.0.1:8125",
		SyslogAddr:          ":5514",
		JSONLogsAddr:        ":5545",
		BeatsAddr:           ":5044",
		DNSAddr:             "127.0.0.1:8600",
		SpoolBytes:          256 << 20,
		HostMetricsInterval: 10 * time.Second,
		StatsdPrefix:        "stats",
		StatsdFlushInterval: 10 * time.Second,
		Checks:              true,
		Converge:            true,
		ConvergeInterval:    30 * time.Minute,
		ConvergeSplay:       5 * time.Minute,
		Root:                "/",
	}
}
