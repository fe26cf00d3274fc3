// Package etcd starts the embedded etcd server or connects to an external etcd
// cluster, waits until it is ready and hands out the client. It is imported by
// server only; everything else reaches etcd through store.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults applied by Start to zero Config fields.
const (
	DefaultName         = "corral"
	DefaultClientAddr   = "127.0.0.1:2379"
	DefaultPeerAddr     = "127.0.0.1:2380"
	DefaultReadyTimeout = 30 * time.Second
	DefaultMaxTxnOps    = 1024

	dialTimeout  = 5 * time.Second
	checkTimeout = 2 * time.Second
	// healthKey is the key Check reads; etcd's own health check uses it too.
	healthKey = "health"
)

// Config says whether to embed etcd or to use an external cluster, and how.
type Config struct {
	DataDir      string        // embedded: etcd data lives in DataDir (e.g. <server-data>/etcd)
	Name         string        // member name, default "corral"
	ClientAddr   string        // host:port for the embedded client listener, port 0 = pick a free port
	PeerAddr     string        // host:port for the embedded peer listener, port 0 = pick a free port
	Endpoints    []string      // when non-empty: external cluster, nothing embedded ("http://127.0.0.1:2379" or "127.0.0.1:2379")
	ReadyTimeout time.Duration // default 30s
	MaxTxnOps    uint          // embedded only; default 1024
	Logger       *slog.Logger
	Debug        bool // etcd's own (zap) logs at info instead of error level
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.ClientAddr == "" {
		c.ClientAddr = DefaultClientAddr
	}
	if c.PeerAddr == "" {
		c.PeerAddr = DefaultPeerAddr
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Etcd is a running embedded etcd server or a connection to an external
// cluster, with a client ready to use.
type Etcd struct {
	client     *clientv3.Client
	server     *embed.Etcd // nil when external
	logs       *slogCore   // etcd's logs; nil when external
	clientAddr string
	peerAddr   string
	errc       chan error // nil when external
	stopc      chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Start embeds an etcd server in cfg.DataDir, or connects to cfg.Endpoints when
// that is set, and returns once etcd answers or cfg.ReadyTimeout has passed.
func Start(ctx context.Context, cfg Config) (*Etcd, error) {
	cfg = cfg.withDefaults()
	lg := cfg.Logger.With("component", "etcd")
	if len(cfg.Endpoints) > 0 {
		return startExternal(ctx, cfg, lg)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("embedded etcd: no data dir")
	}
	return startEmbedded(ctx, cfg, lg)
}

// Client returns the etcd client; it stays valid until Close.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// ClientAddr returns the host:port of the embedded client listener, or "" when
// the cluster is external.
func (e *Etcd) ClientAddr() string { return e.clientAddr }

// PeerAddr returns the host:port of the embedded peer listener, or "" when the
// cluster is external.
func (e *Etcd) PeerAddr() string { return e.peerAddr }

// Embedded reports whether the etcd server runs inside this process.
func (e *Etcd) Embedded() bool { return e.server != nil }

// Check reports whether etcd serves linearizable reads: it reads a small key
// with a 2s timeout. A permission error counts as healthy, as in etcdctl.
func (e *Etcd) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, err := e.client.Get(ctx, healthKey, clientv3.WithCountOnly())
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("etcd check: %w", err)
	}
	return nil
}

// Err returns a channel that receives at most one error when the embedded
// server fails or stops on its own. It is nil when the cluster is external and
// is never closed.
func (e *Etcd) Err() <-chan error { return e.errc }

// Close closes the client, then stops the embedded server. It is safe to call
// more than once.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		close(e.stopc)
		e.closeErr = e.client.Close()
		if errors.Is(e.closeErr, context.Canceled) {
			e.closeErr = nil
		}
		if e.server != nil {
			e.logs.quiet()
			e.server.Close()
		}
	})
	return e.closeErr
}

// watch forwards the first failure of the embedded server to errc.
func (e *Etcd) watch() {
	var err error
	select {
	case <-e.stopc:
		return
	case err = <-e.server.Err():
	case <-e.server.Server.StopNotify():
		err = errors.New("embedded etcd server stopped")
	}
	select {
	case <-e.stopc: // stopping on purpose; not a failure
	default:
		if err != nil {
			e.errc <- fmt.Errorf("embedded etcd: %w", err)
		}
	}
}

// newClient connects to endpoints with a quiet logger.
func newClient(endpoints []string, zl *zap.Logger) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        dialTimeout,
		DialKeepAliveTime:  30 * time.Second,
		MaxCallSendMsgSize: maxRequestBytes + 512*1024,
		Logger:             zl.Named("client"),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

// zapLevel is the level of etcd's own logs.
func zapLevel(debug bool) zapcore.Level {
	if debug {
		return zapcore.InfoLevel
	}
	return zapcore.ErrorLevel
}

// endpointURL turns "host:port" or a URL into a URL with a scheme.
func endpointURL(ep string) string {
	ep = strings.TrimSpace(ep)
	if strings.Contains(ep, "://") {
		return ep
	}
	return (&url.URL{Scheme: "http", Host: ep}).String()
}
