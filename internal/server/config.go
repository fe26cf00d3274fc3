package server

import (
	"log/slog"
	"time"
)

// Config is everything `corral server` (and the server half of `corral dev`)
// is started with. The CLI fills it from defaults, the config file, CORRAL_*
// environment variables and flags, in that order of precedence.
type Config struct {
	DataDir string

	// Listeners. Port 0 picks a free port; the chosen address is logged and
	// written to <DataDir>/listen.json.
	HTTPAddr       string // API + web UI
	AgentAddr      string // agent channel, mutual TLS
	CarbonAddr     string // carbon plaintext TCP+UDP (metrics feature)
	PickleAddr     string // carbon pickle (metrics feature)
	EtcdClientAddr string // embedded etcd client URL host:port
	EtcdPeerAddr   string // embedded etcd peer URL host:port

	// EtcdEndpoints, when set, uses an external etcd cluster instead of the
	// embedded one.
	EtcdEndpoints []string
	// EtcdReadyTimeout bounds the wait for etcd at start.
	EtcdReadyTimeout time.Duration

	// PlainHTTP serves the API without TLS (corral dev, on loopback only).
	PlainHTTP bool
	// TLSCert and TLSKey, when set, are the API's certificate instead of one
	// issued by the cluster CA.
	TLSCert, TLSKey string
	// AdvertiseHosts are extra DNS names or IPs put in the issued API and
	// agent-channel certificates (the hostname and loopback are always in).
	AdvertiseHosts []string

	// LeaseTTL is how long a node stays ready without a heartbeat.
	LeaseTTL time.Duration
	// HeartbeatInterval is what agents are told to use.
	HeartbeatInterval time.Duration
	// AgentCertTTL is the lifetime of the certificates issued to agents.
	AgentCertTTL time.Duration
	// MaxBodyBytes bounds API request bodies (413 past it).
	MaxBodyBytes int64

	// StorageSchemas and StorageAggregation are carbon's storage-schemas.conf
	// and storage-aggregation.conf; empty uses Corral's defaults.
	StorageSchemas, StorageAggregation string
	// MetricsCachePoints bounds the metrics write-back cache (points in
	// memory; what a crash can lose at most).
	MetricsCachePoints int
	// MetricsMaxAge is the longest a point waits in the cache before it is
	// written while the disk keeps up: with MetricsCachePoints, what a
	// crash can lose.
	MetricsMaxAge time.Duration
	// MetricsRelay are carbon destinations (host:port) that get every
	// point; MetricsRelayRules is a carbon relay-rules.conf routing points
	// by name. MetricsRelayQueue bounds each destination's queue (points).
	MetricsRelay      []string
	MetricsRelayRules string
	MetricsRelayQueue int
	// MetricsRelayProtocol is "line" (plaintext, to a :2003) or "pickle"
	// (to a :2004, as carbon-relay's destinations usually are).
	MetricsRelayProtocol string

	// KeepaliveHandlers handle the keepalive events of agents that stopped
	// reporting; KeepaliveTimeout is how long an agent may be silent before
	// its keepalive event is critical (default 30s).
	KeepaliveHandlers []string
	KeepaliveTimeout  time.Duration

	// TaskLaunchTimeout is how long a task may stay staging without a word
	// from its agent before it is failed and replaced (Marathon's
	// task_launch_timeout).
	TaskLaunchTimeout time.Duration

	// LogsMaxAge and LogsMaxBytes bound the log store (<DataDir>/logs):
	// older entries, then the oldest while it is larger, are dropped whole
	// partitions at a time. Zero: no bound.
	LogsMaxAge   time.Duration
	LogsMaxBytes int64

	// AdminTokenFile, when set, is where the first admin token is written on
	// first start (mode 0600). Default <DataDir>/admin.token.
	AdminTokenFile string

	// Version is the corral version, logged at start.
	Version string

	Logger *slog.Logger
	Now    func() time.Time
}

// Defaults returns the Config of a production server (DESIGN.md §2).
func Defaults() Config {
	return Config{
		DataDir:              "/var/lib/corral",
		HTTPAddr:             ":7700",
		AgentAddr:            ":7701",
		CarbonAddr:           ":2003",
		PickleAddr:           ":2004",
		EtcdClientAddr:       "127.0.0.1:2379",
		EtcdPeerAddr:         "127.0.0.1:2380",
		EtcdReadyTimeout:     30 * time.Second,
		LeaseTTL:             15 * time.Second,
		HeartbeatInterval:    5 * time.Second,
		AgentCertTTL:         30 * 24 * time.Hour,
		MaxBodyBytes:         4 << 20,
		MetricsCachePoints:   10_000_000,
		MetricsRelayQueue:    100_000,
		MetricsRelayProtocol: "line",
		KeepaliveTimeout:     30 * time.Second,
		LogsMaxAge:           7 * 24 * time.Hour,
		TaskLaunchTimeout:    5 * time.Minute,
		LogsMaxBytes:         10 << 30,
	}
}
