package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"corral/internal/agent"
	"corral/internal/api"
	"corral/internal/server"
)

// Help text of listeners whose feature is not built yet.
const (
	reservedDiscovery = " (reserved: served once the discovery feature lands)"
)

// processOptions are the flags every process command has.
type processOptions struct {
	config    string
	logFormat string
	logLevel  string
}

func (o *processOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, configFlag, "", "YAML `FILE` of settings, keys are flag names, e.g. http-addr: \":7700\" (env CORRAL_CONFIG)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// logger returns the process logger on w.
func (o *processOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
}

// processEnvHelp is the part of Long that explains the config precedence.
const processEnvHelp = `
Every flag can also be set in the YAML file given with --config (keys are
the flag names; lists as YAML lists) and in an environment variable
CORRAL_<FLAG> (--http-addr is CORRAL_HTTP_ADDR; lists comma-separated).
Flags win over the environment, which wins over the file.`

// addServerFlags defines the server's flags on fs, with the current values of
// c as defaults. dataDir says whether --data-dir is one of them.
func addServerFlags(fs *pflag.FlagSet, c *server.Config, dataDir bool) {
	if dataDir {
		fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the server's state (etcd, history, CA)")
	}
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP API (and the web UI, once it lands)")
	fs.StringVar(&c.AgentAddr, "agent-addr", c.AgentAddr, "address of the agent channel (mutual TLS)")
	fs.StringVar(&c.CarbonAddr, "carbon-addr", c.CarbonAddr, "address of carbon plaintext, TCP and UDP (\"\" turns it off)")
	fs.StringVar(&c.PickleAddr, "pickle-addr", c.PickleAddr, "address of carbon pickle, TCP (\"\" turns it off)")
	fs.StringVar(&c.StorageSchemas, "storage-schemas", c.StorageSchemas, "carbon storage-schemas.conf for new whisper files (default: 10s:6h,1m:7d,10m:5y; carbon.* 60:90d)")
	fs.StringVar(&c.StorageAggregation, "storage-aggregation", c.StorageAggregation, "carbon storage-aggregation.conf (default: .min/.max/.count/.sum by suffix, else average, xFilesFactor 0.5)")
	fs.IntVar(&c.MetricsCachePoints, "metrics-cache-points", c.MetricsCachePoints, "points the metrics write-back cache holds at most (a crash loses what it holds)")
	durationVar(fs, &c.MetricsMaxAge, "metrics-max-age", "longest a point waits in the cache before it is written while the disk keeps up (what a crash can lose)")
	fs.StringSliceVar(&c.MetricsRelay, "metrics-relay", c.MetricsRelay, "carbon destination host:port that gets every metric point, e.g. a go-carbon or VictoriaMetrics (repeatable)")
	fs.StringVar(&c.MetricsRelayRules, "metrics-relay-rules", c.MetricsRelayRules, "carbon relay-rules.conf: send points matching a pattern to destinations")
	fs.StringVar(&c.MetricsRelayProtocol, "metrics-relay-protocol", c.MetricsRelayProtocol, "how the relay sends: line (carbon plaintext, port 2003) or pickle (port 2004)")
	fs.IntVar(&c.MetricsRelayQueue, "metrics-relay-queue", c.MetricsRelayQueue, "points queued per relay destination while it is slow or away; more are dropped and counted")
	fs.StringVar(&c.EtcdClientAddr, "etcd-client-addr", c.EtcdClientAddr, "client address of the embedded etcd")
	fs.StringVar(&c.EtcdPeerAddr, "etcd-peer-addr", c.EtcdPeerAddr, "peer address of the embedded etcd")
	fs.StringSliceVar(&c.EtcdEndpoints, "etcd-endpoints", c.EtcdEndpoints, "endpoints of an external etcd cluster to use instead of the embedded one (comma list)")
	durationVar(fs, &c.EtcdReadyTimeout, "etcd-ready-timeout", "how long to wait for etcd at start")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate of the API, instead of one issued by the cluster CA")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM key of --tls-cert")
	fs.StringSliceVar(&c.AdvertiseHosts, "advertise", c.AdvertiseHosts, "extra DNS name or IP for the issued certificates (repeatable; the hostname and loopback are always in)")
	durationVar(fs, &c.LeaseTTL, "lease-ttl", "how long a node stays ready without a heartbeat")
	durationVar(fs, &c.HeartbeatInterval, "heartbeat-interval", "how often agents are told to heartbeat")
	durationVar(fs, &c.AgentCertTTL, "agent-cert-ttl", "lifetime of the certificates issued to agents (e.g. 30d)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest API request body accepted")
	fs.StringSliceVar(&c.KeepaliveHandlers, "keepalive-handlers", c.KeepaliveHandlers, "handlers of the keepalive events of agents that stop reporting (comma list)")
	durationVar(fs, &c.KeepaliveTimeout, "keepalive-timeout", "how long an agent may be silent before its keepalive event is critical")
	durationVar(fs, &c.TaskLaunchTimeout, "task-launch-timeout", "how long a task may stay staging without a word from its agent before it is failed and replaced (Marathon's task_launch_timeout)")
	durationVar(fs, &c.LogsMaxAge, "logs-max-age", "how long the log store keeps entries (e.g. 7d; 0 keeps them)")
	fs.Int64Var(&c.LogsMaxBytes, "logs-max-bytes", c.LogsMaxBytes, "size bound of the log store; the oldest entries are dropped beyond it (0: none)")
}

// agentFlags holds the agent flags that need parsing into agent.Config.
type agentFlags struct {
	labels    []string
	portRange string
}

// addAgentFlags defines the agent's flags on fs, with the current values of c
// as defaults. standalone adds --data-dir, --server and --join-token, which
// `corral dev` sets itself.
func addAgentFlags(fs *pflag.FlagSet, c *agent.Config, af *agentFlags, standalone bool) {
	if standalone {
		fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the agent's state (certificate, spool, tasks)")
		fs.StringSliceVar(&c.Servers, "server", c.Servers, "agent channel of a server, host:port (repeatable or comma list; tried in turn)")
		fs.StringVar(&c.JoinToken, "join-token", c.JoinToken, "join `TOKEN` from \"corral token create --role agent\" (needed on first start only)")
	}
	fs.StringVar(&c.Name, "name", c.Name, "node name (default the hostname)")
	fs.StringArrayVar(&af.labels, "label", nil, "node label key=value (repeatable)")
	fs.Float64Var(&c.CPUs, "cpus", c.CPUs, "CPUs the scheduler may use (0: all)")
	fs.Int64Var(&c.MemMB, "mem-mb", c.MemMB, "memory in MiB the scheduler may use (0: all)")
	fs.Int64Var(&c.DiskMB, "disk-mb", c.DiskMB, "disk in MiB the scheduler may use (0: all of the data dir's filesystem)")
	af.portRange = fmt.Sprintf("%d-%d", c.PortFrom, c.PortTo)
	fs.StringVar(&af.portRange, "port-range", af.portRange, "host ports the scheduler may assign, FROM-TO")
	durationVar(fs, &c.HostMetricsInterval, "host-metrics-interval", "how often the host collector sends CPU, load, memory, swap, disk, disk I/O, network and process metrics (0 turns it off)")
	fs.StringVar(&c.StatsdAddr, "statsd-addr", c.StatsdAddr, "StatsD UDP address (\"\" turns it off)")
	fs.StringVar(&c.StatsdPrefix, "statsd-prefix", c.StatsdPrefix, "namespace of StatsD series (etsy's: stats.counters.X.rate, stats.timers.X.mean, stats.gauges.X, ...)")
	durationVar(fs, &c.StatsdFlushInterval, "statsd-flush-interval", "how often StatsD aggregates are computed and sent")
	fs.StringVar(&c.SyslogAddr, "syslog-addr", c.SyslogAddr, "syslog listener, UDP and TCP (RFC 3164 and 5424, octet-counted or newline framing; \"\" turns it off)")
	fs.StringVar(&c.JSONLogsAddr, "json-logs-addr", c.JSONLogsAddr, "JSON lines TCP listener, like Logstash's tcp input with the json_lines codec (\"\" turns it off)")
	fs.StringVar(&c.BeatsAddr, "beats-addr", c.BeatsAddr, "Beats (lumberjack v2) listener for Filebeat and other Beats (\"\" turns it off)")
	fs.StringVar(&c.DNSAddr, "dns-addr", c.DNSAddr, "DNS address"+reservedDiscovery)
	fs.Int64Var(&c.SpoolBytes, "spool-bytes", c.SpoolBytes, "disk budget of the report spool")
	fs.BoolVar(&c.Checks, "checks", c.Checks, "run monitoring checks on this node: the defaults (cpu, disk, load, memory, swap) and the Checks applied to it (--checks=false turns them off)")
	fs.BoolVar(&c.Converge, "converge", c.Converge, "converge this node's configuration (the resources of the roles the servers assign it): on start, when it changes, when asked (corral converge --now), when a managed file drifts, and every --converge-interval (--converge=false turns it off)")
	durationVar(fs, &c.ConvergeInterval, "converge-interval", "how often the configuration is converged anyway (0: only on start, change, request and drift)")
	durationVar(fs, &c.ConvergeSplay, "converge-splay", "largest random delay added to each --converge-interval, so that the nodes do not all converge at once")
	fs.StringVar(&c.Root, "root", c.Root, "directory that prefixes every path the configuration touches (/ is this machine)")
	fs.StringVar(&c.DockerHost, "docker-host", c.DockerHost, "Docker Engine of the docker driver, e.g. unix:///run/docker.sock or tcp://host:2375 (default DOCKER_HOST or the local socket)")
	fs.BoolVar(&c.MockDriver, "mock-driver", c.MockDriver, "add the mock driver (scripted in-memory tasks), for tests")
	_ = fs.MarkHidden("mock-driver")
}

// apply puts the parsed agent flags into c.
func (af *agentFlags) apply(c *agent.Config) error {
	if len(af.labels) > 0 {
		c.Labels = make(map[string]string, len(af.labels))
		for _, l := range af.labels {
			k, v, remove, err := api.ParseLabel(l)
			if err != nil {
				return fmt.Errorf("--label: %w", err)
			}
			if remove {
				return fmt.Errorf("--label %q: want key=value", l)
			}
			c.Labels[k] = v
		}
	}
	from, to, err := parsePortRange(af.portRange)
	if err != nil {
		return err
	}
	c.PortFrom, c.PortTo = from, to
	return nil
}

func parsePortRange(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		from, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			to, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || from < 1 || to > 65535 || from > to {
		return 0, 0, fmt.Errorf("--port-range %q: want FROM-TO, e.g. 31000-32000", s)
	}
	return from, to, nil
}

func (a *app) serverCmd() *cobra.Command {
	cfg := server.Defaults()
	var po processOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Corral server (API, agent channel, cluster state, scheduler, metrics, monitoring, logs)",
		Long: `Run a Corral server: the HTTP API (with Graphite's find and render
endpoints and Marathon's /v2), the agent channel, the scheduler of apps and
jobs (only the server elected leader through etcd places tasks), the
carbon receivers writing whisper files (and relaying them with
--metrics-relay), monitoring (events, keepalives, handlers; history in
<data-dir>/history.db), the log store of task output (<data-dir>/logs), and
the cluster state in an embedded etcd (or an external one with
--etcd-endpoints).
On first start it creates the cluster CA and writes an admin token to
<data-dir>/admin.token. It runs until interrupted.
` + processEnvHelp,
		Example: `  corral server --data-dir /var/lib/corral --advertise corral.example.com
  corral server --config /etc/corral/server.yaml
  CORRAL_HTTP_ADDR=:8800 corral server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := loadFlagConfig(cmd.LocalFlags(), a.getenv); err != nil {
				return err
			}
			logger, err := po.logger(a.stderr)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version = logger, versionString()
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			return quiet(cmd.Context(), srv.Run(cmd.Context()))
		},
	}
	addServerFlags(cmd.Flags(), &cfg, true)
	po.addFlags(cmd.Flags())
	return cmd
}

func (a *app) agentCmd() *cobra.Command {
	cfg := agent.Defaults()
	var af agentFlags
	var po processOptions
	cmd := &cobra.Command{
		Use:   "agent --server HOST:7701 --join-token TOKEN",
		Short: "Run a Corral agent on this machine",
		Long: `Run a Corral agent: it joins the cluster (with the join token, on first
start only: afterwards it uses the certificate in its data dir), reports the
machine's facts, heartbeats, and runs what the servers assign to the node:
the tasks of apps and jobs (exec under a supervisor that outlives the
agent, docker through --docker-host), monitoring checks (the default cpu,
disk, load, memory and swap checks and the Checks assigned to it), the
node's configuration (the resources of its roles, converged on start, when
they change, on request, when a managed file is changed by hand, and every
30 minutes or so; every path under --root), a host metrics collector, a
StatsD server (127.0.0.1:8125/udp) and log collection (the files of the
LogInputs assigned to it and nginx's access log when it exists, a syslog
listener on :5514, JSON lines on :5545, Beats on :5044, its own logs), all
reported through an on-disk spool while the server is away (file inputs wait
while the spool is more than half full; their files keep the lines). Its
tasks keep running when it stops. It runs until interrupted. Its heap is kept
under 32 MiB where it can (GOMEMLIMIT overrides).
` + processEnvHelp,
		Example: `  corral agent --server corral.example.com:7701 --join-token 'K10...' --label role=web --label zone=a
  corral agent --config /etc/corral/agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := loadFlagConfig(cmd.LocalFlags(), a.getenv); err != nil {
				return err
			}
			if err := af.apply(&cfg); err != nil {
				return err
			}
			if len(cfg.Servers) == 0 {
				return errors.New("--server: give the agent channel address of a server, host:7701")
			}
			logger, err := po.logger(a.stderr)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version = logger, versionString()
			if os.Getenv("GOMEMLIMIT") == "" {
				// A small footprint on every machine: the garbage collector
				// works harder before the heap passes this.
				debug.SetMemoryLimit(agentMemoryLimit)
			}
			ag, err := agent.New(cfg)
			if err != nil {
				return err
			}
			return quiet(cmd.Context(), ag.Run(cmd.Context()))
		},
	}
	addAgentFlags(cmd.Flags(), &cfg, &af, true)
	po.addFlags(cmd.Flags())
	return cmd
}

// agentMemoryLimit is the soft heap limit of `corral agent` (GOMEMLIMIT
// overrides it).
const agentMemoryLimit = 32 << 20

// quiet turns the cancellation that stops a process into a clean exit.
func quiet(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
