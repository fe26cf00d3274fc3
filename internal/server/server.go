// Package server is the composition root of Corral's control plane: it starts
// etcd, the store, the history store, the PKI, the agent channel and the HTTP
// API, and runs them under one errgroup. Only cli imports it.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"corral/internal/etcd"
	"corral/internal/ledger"
	"corral/internal/logs/logmetrics"
	"corral/internal/logs/selflog"
	logstore "corral/internal/logs/store"
	"corral/internal/metrics/index"
	"corral/internal/metrics/ingest"
	"corral/internal/metrics/relay"
	"corral/internal/metrics/render"
	"corral/internal/metrics/whisper"
	"corral/internal/pki"
	"corral/internal/resource"
	"corral/internal/store"
)

// Addrs are the addresses the server actually listens on.
type Addrs struct {
	HTTP       string `json:"http"`        // host:port
	HTTPScheme string `json:"http_scheme"` // "http" or "https"
	Agent      string `json:"agent"`
	Carbon     string `json:"carbon,omitempty"` // plaintext, TCP and UDP
	Pickle     string `json:"pickle,omitempty"`
	EtcdClient string `json:"etcd_client,omitempty"`
	EtcdPeer   string `json:"etcd_peer,omitempty"`
}

// Server is a running control-plane process.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	addrs Addrs

	// Set up by start.
	etcd    *etcd.Etcd
	store   *store.Store
	ledger  *ledger.Ledger
	metrics *whisper.Cache
	index   *index.Index
	ca      *pki.CA
	kinds   resource.Registry
	reg     *prometheus.Registry
	nodes   *store.Mirror
	alive   *store.Mirror
	tokens  *store.Mirror
	users   *store.Mirror
	nodeLst *nodeList
	leases  sync.Map // node name → clientv3.LeaseID
	seen    sync.Map // node name → agentSeen, from this server's heartbeats
	agents  prometheus.Gauge
	reports reportHandlers
	recv    *ingest.Receivers
	relay   *relay.Relay // nil without --metrics-relay(-rules)
	tags    *index.Tags
	render  *render.Handler
	mon     *monitorSvc // monitor*.go
	cluster *clusterSvc // cluster*.go
	logs    *logstore.Store
	logRate *logmetrics.Counter // log lines as metric series (logs.go)
	self    *selflog.Collector  // the server's own logs, for the log store
	outputs *logOutputs         // log forwarders (logoutputs.go)
	hub     *assignHub          // assignhub.go
	config  *configSvc          // converge*.go

	// Points taken over HTTP and from agents, for the self metrics.
	httpPoints, httpRejected, agentPoints atomic.Int64
}

// New checks cfg and returns a Server ready to Run.
func New(cfg Config) (*Server, error) {
	d := Defaults()
	if cfg.DataDir == "" {
		return nil, errors.New("server: data dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = d.LeaseTTL
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = d.HeartbeatInterval
	}
	if cfg.HeartbeatInterval >= cfg.LeaseTTL {
		return nil, fmt.Errorf("server: heartbeat-interval %s must be shorter than lease-ttl %s", cfg.HeartbeatInterval, cfg.LeaseTTL)
	}
	if cfg.AgentCertTTL <= 0 {
		cfg.AgentCertTTL = d.AgentCertTTL
	}
	if cfg.EtcdReadyTimeout <= 0 {
		cfg.EtcdReadyTimeout = d.EtcdReadyTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.AdminTokenFile == "" {
		cfg.AdminTokenFile = filepath.Join(cfg.DataDir, "admin.token")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("server: --tls-cert and --tls-key go together")
	}
	// The server's own logs go to its log store too (source:corral).
	self := selflog.New(hostname(), slog.LevelInfo, 4096)
	cfg.Logger = slog.New(self.Handler(cfg.Logger.Handler()))
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "server"), ready: make(chan struct{}),
		kinds: resource.Builtin(), self: self, outputs: &logOutputs{run: map[string]*runningOutput{}}}, nil
}

// Ready is closed once every listener is up and the store is ready.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the listening addresses; valid after Ready.
func (s *Server) Addrs() Addrs { return s.addrs }

// Run runs the server until ctx ends, then stops every component.
func (s *Server) Run(ctx context.Context) error {
	start := time.Now()
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	key, created, err := pki.LoadOrCreateKey(filepath.Join(s.cfg.DataDir, "cluster.key"))
	if err != nil {
		return fmt.Errorf("cluster key: %w", err)
	}
	if created {
		s.log.Info("created cluster encryption key", "path", filepath.Join(s.cfg.DataDir, "cluster.key"))
	}
	sealer, err := pki.NewSealer(key)
	if err != nil {
		return fmt.Errorf("cluster key: %w", err)
	}
	// Corral's own metrics; /metrics serves them with the default registry,
	// which holds the Go and process collectors and embedded etcd's metrics.
	s.reg = prometheus.NewRegistry()

	s.etcd, err = etcd.Start(ctx, etcd.Config{
		DataDir: filepath.Join(s.cfg.DataDir, "etcd"), ClientAddr: s.cfg.EtcdClientAddr, PeerAddr: s.cfg.EtcdPeerAddr,
		Endpoints: s.cfg.EtcdEndpoints, ReadyTimeout: s.cfg.EtcdReadyTimeout, Logger: s.cfg.Logger,
		Debug: s.cfg.Logger.Enabled(ctx, slog.LevelDebug),
	})
	if err != nil {
		return err
	}
	defer s.etcd.Close()
	s.store = store.New(s.etcd.Client(), sealer, s.cfg.Now)

	s.ledger, err = ledger.Open(ctx, filepath.Join(s.cfg.DataDir, "history.db"))
	if err != nil {
		return fmt.Errorf("open history store: %w", err)
	}
	defer s.ledger.Close()

	s.logRate = logmetrics.New()
	if s.logs, err = s.openLogs(); err != nil {
		return err
	}
	defer s.logs.Close()

	s.index = index.New()
	s.log.Debug("open file limit", "limit", raiseOpenFiles())
	s.metrics, err = s.openMetrics()
	if err != nil {
		return err
	}
	if s.tags, err = s.openTags(); err != nil {
		return err
	}
	defer func() {
		if err := s.tags.Close(); err != nil {
			s.log.Error("write metric tag index", "err", err)
		}
	}()
	if s.render, err = s.openRender(); err != nil {
		return err
	}
	// Stopping flushes the metric cache to the whisper files, after every
	// receiver has stopped.
	defer func() {
		if err := s.metrics.Close(); err != nil {
			s.log.Error("flush metric cache", "err", err)
		}
	}()

	if err := s.initCA(ctx); err != nil {
		return err
	}
	if err := s.initAdminToken(ctx); err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	s.nodes = store.NewMirror(s.etcd.Client(), store.NodesPrefix, store.Decoder[store.NodeRecord]())
	s.alive = store.NewMirror(s.etcd.Client(), store.AlivePrefix, nil)
	s.tokens = store.NewMirror(s.etcd.Client(), store.TokensPrefix, store.Decoder[store.TokenRecord]())
	s.users = store.NewMirror(s.etcd.Client(), store.UsersPrefix, store.Decoder[store.UserRecord]())
	mirrors := []*store.Mirror{s.nodes, s.alive, s.tokens, s.users}
	for _, m := range mirrors {
		g.Go(func() error { return m.Run(gctx) })
	}
	for _, m := range mirrors {
		select {
		case <-m.Ready():
		case <-gctx.Done():
			return g.Wait()
		}
	}
	s.nodeLst = newNodeList(s.nodes, s.alive)
	s.agents = prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_agents_connected", Help: "Agents with an open watch stream to this server."})
	s.reg.MustRegister(s.agents, newNodeCollector(s.nodes, s.alive), &spoolCollector{seen: &s.seen}, &etcdCollector{etcd: s.etcd})
	s.reports = s.builtinReports()
	s.hub = newAssignHub(s.etcd.Client())
	g.Go(func() error { return s.hub.Run(gctx) })
	closeMonitor, err := s.startMonitor(gctx, g)
	if closeMonitor != nil {
		defer closeMonitor() // after g has stopped, before the ledger closes
	}
	if err != nil {
		return err
	}
	if err := s.startCluster(gctx, g); err != nil {
		return err
	}
	if err := s.startConverge(gctx, g); err != nil {
		return err
	}
	s.startLogs(gctx, g) // logs.go
	s.reg.MustRegister(&cacheCollector{cache: s.metrics}, &pipelineCollector{s: s})
	if s.relay, err = s.openRelay(); err != nil {
		return err
	}
	if s.relay != nil {
		s.reg.MustRegister(&relayCollector{relay: s.relay})
		g.Go(func() error { return s.relay.Run(gctx) })
	}
	g.Go(func() error { return s.metrics.Run(gctx) })
	g.Go(func() error { return s.loadIndex(gctx) })
	g.Go(func() error { return s.flushTags(gctx) })

	httpSrv, httpLn, err := s.httpServer()
	if err != nil {
		return err
	}
	agentSrv, agentLn, err := s.agentServer()
	if err != nil {
		httpLn.Close()
		return err
	}
	recv, err := ingest.Listen(ingest.Options{PlainAddr: s.cfg.CarbonAddr, PickleAddr: s.cfg.PickleAddr,
		Sink: s.sink(), Logger: s.log.With("component", "carbon"), Now: s.cfg.Now})
	if err != nil {
		httpLn.Close()
		agentLn.Close()
		return fmt.Errorf("carbon receivers (--carbon-addr, --pickle-addr): %w", err)
	}
	s.recv = recv
	g.Go(func() error { return recv.Run(gctx) })
	g.Go(func() error { return s.selfMetrics(gctx) })
	s.reg.MustRegister(&ingestCollector{recv: recv})
	s.addrs.Carbon, _, s.addrs.Pickle = recv.Addrs()

	// Requests (watch streams above all) end when the server stops.
	httpSrv.BaseContext = func(net.Listener) context.Context { return gctx }
	agentSrv.BaseContext = func(net.Listener) context.Context { return gctx }
	s.addrs.HTTP, s.addrs.Agent = httpLn.Addr().String(), agentLn.Addr().String()
	s.addrs.EtcdClient, s.addrs.EtcdPeer = s.etcd.ClientAddr(), s.etcd.PeerAddr()
	if err := s.writeListen(); err != nil {
		return err
	}
	for _, l := range []struct {
		srv *http.Server
		ln  net.Listener
		tls bool
	}{{httpSrv, httpLn, !s.cfg.PlainHTTP}, {agentSrv, agentLn, true}} {
		g.Go(func() error {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, "", "")
			} else {
				err = l.srv.Serve(l.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := l.srv.Shutdown(sctx); err != nil {
				l.srv.Close()
			}
			return nil
		})
	}
	if ch := s.etcd.Err(); ch != nil {
		g.Go(func() error {
			select {
			case err := <-ch:
				return fmt.Errorf("embedded etcd failed: %w", err)
			case <-gctx.Done():
				return nil
			}
		})
	}
	s.log.Info("server ready", "version", s.cfg.Version, "api", s.addrs.HTTPScheme+"://"+s.addrs.HTTP, "agent_channel", s.addrs.Agent,
		"carbon", s.addrs.Carbon, "pickle", s.addrs.Pickle, "etcd", s.etcdDesc(), "data_dir", s.cfg.DataDir, "startup", time.Since(start).Round(time.Millisecond).String())
	close(s.ready)
	err = s.wait(gctx, g)
	s.log.Info("server stopped")
	return err
}

// stopGrace is how long the components may take to stop once the server's
// context ended.
const stopGrace = 10 * time.Second

// wait waits for the components; once ctx ended, at most stopGrace. A
// component still running then is a bug: every goroutine's stack is logged
// and the server stops anyway (the stores are closed under it).
func (s *Server) wait(ctx context.Context, g *errgroup.Group) error {
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(stopGrace):
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		s.log.Error("components still running after the stop grace; stopping anyway", "grace", stopGrace.String(), "goroutines", b.String())
		return nil
	}
}

func (s *Server) etcdDesc() string {
	if s.etcd.Embedded() {
		return "embedded " + s.etcd.ClientAddr()
	}
	return fmt.Sprintf("external %v", s.cfg.EtcdEndpoints)
}

// initCA loads the cluster CA from the store or creates it on first start.
func (s *Server) initCA(ctx context.Context) error {
	certPEM, keyPEM, created, err := s.store.InitCA(ctx, func() ([]byte, []byte, error) {
		ca, err := pki.NewCA("Corral cluster CA", s.cfg.Now())
		if err != nil {
			return nil, nil, err
		}
		kp, err := ca.KeyPEM()
		return ca.CertPEM, kp, err
	})
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	s.ca, err = pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	if created {
		s.log.Info("created cluster CA", "fingerprint", s.ca.Fingerprint())
	}
	// The CA certificate is public: written for CLI users (--ca-file).
	return writeFileAtomic(filepath.Join(s.cfg.DataDir, "ca.crt"), s.ca.CertPEM, 0o644)
}

func (s *Server) serverTLS(hosts []string) (*tls.Config, error) {
	h, _ := os.Hostname()
	all := append([]string{"localhost", "127.0.0.1", "::1", h}, s.cfg.AdvertiseHosts...)
	all = append(all, hosts...)
	certPEM, keyPEM, err := s.ca.IssueServer(all, 365*24*time.Hour, s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM) // certPEM carries the CA too
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func (s *Server) writeListen() error {
	if s.cfg.PlainHTTP {
		s.addrs.HTTPScheme = "http"
	} else {
		s.addrs.HTTPScheme = "https"
	}
	b, _ := json.MarshalIndent(s.addrs, "", "  ")
	return writeFileAtomic(filepath.Join(s.cfg.DataDir, "listen.json"), append(b, '\n'), 0o644)
}

// writeFileAtomic writes data to path via a temporary file and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
