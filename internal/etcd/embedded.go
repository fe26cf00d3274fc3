package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

const (
	maxRequestBytes   = 4 << 20 // 4 MiB
	quotaBackendBytes = 2 << 30 // 2 GiB

	// A single voter elects itself after a random 1 to 10 ticks (etcd
	// fast-forwards 9 of its 10 to 20 election ticks). With etcd's 100ms
	// ticks that made Start take 0.5 to 1s; with 10ms it takes ~0.1s. A
	// lone member sends no heartbeats, so short ticks cost nothing else.
	// Embedded peers (more than one member) would need etcd's defaults.
	tickMs     = 10
	electionMs = 100
)

// startEmbedded runs a single-member etcd in cfg.DataDir and waits until it
// is ready.
func startEmbedded(ctx context.Context, cfg Config, lg *slog.Logger) (*Etcd, error) {
	addrs, err := resolveAddrs(cfg.ClientAddr, cfg.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client and peer addresses: %w", err)
	}
	clientAddr, peerAddr := addrs[0], addrs[1]
	if cfg.ClientAddr != clientAddr || cfg.PeerAddr != peerAddr {
		lg.Info("picked free ports", "client", clientAddr, "peer", peerAddr)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	core := newSlogCore(lg, zapLevel(cfg.Debug))
	zl := newZapLogger(core)
	ec := embedConfig(cfg, clientAddr, peerAddr)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl.Named("server"))

	started := time.Now()
	srv, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	if err := waitReady(ctx, srv, cfg.ReadyTimeout); err != nil {
		core.quiet()
		srv.Close()
		if last := core.lastError(); last != "" {
			err = fmt.Errorf("%w (etcd reported: %s)", err, last)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
		}
		return nil, fmt.Errorf("embedded etcd in %s not ready after %s: %w", cfg.DataDir, cfg.ReadyTimeout, err)
	}

	// The server talks to its own etcd in process, without gRPC over TCP:
	// heartbeats renew leases at a rate where that matters. The client
	// listener stays open for tools (etcdctl) and other processes.
	cli := v3client.New(srv.Server)
	e := &Etcd{
		logs:       core,
		client:     cli,
		server:     srv,
		clientAddr: srv.Clients[0].Addr().String(),
		peerAddr:   peerAddr,
		errc:       make(chan error, 1),
		stopc:      make(chan struct{}),
	}
	go e.watch()
	lg.Info("embedded etcd ready", "dir", cfg.DataDir, "client", e.clientAddr, "peer", e.peerAddr,
		"cluster_state", ec.ClusterState, "took", time.Since(started).Round(time.Millisecond))
	return e, nil
}

// embedConfig builds etcd's configuration for a single-member cluster.
func embedConfig(cfg Config, clientAddr, peerAddr string) *embed.Config {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir

	ec.ListenClientUrls = []url.URL{{Scheme: "http", Host: clientAddr}}
	ec.AdvertiseClientUrls = []url.URL{{Scheme: "http", Host: loopback(clientAddr)}}
	ec.ListenPeerUrls = []url.URL{{Scheme: "http", Host: peerAddr}}
	ec.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: loopback(peerAddr)}}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	ec.InitialClusterToken = "corral"
	ec.ClusterState = embed.ClusterStateFlagNew
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "member")); err == nil {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}

	ec.TickMs = tickMs
	ec.ElectionMs = electionMs
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	ec.QuotaBackendBytes = quotaBackendBytes
	ec.MaxTxnOps = cfg.MaxTxnOps
	ec.MaxRequestBytes = maxRequestBytes

	ec.Logger = "zap"
	ec.LogLevel = zapLevel(cfg.Debug).String()
	ec.LogOutputs = []string{embed.StdErrLogOutput}
	return ec
}

// waitReady waits until srv has joined its cluster and serves requests.
func waitReady(ctx context.Context, srv *embed.Etcd, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-srv.Server.ReadyNotify():
		return nil
	case err := <-srv.Err():
		return err
	case <-srv.Server.StopNotify():
		return errors.New("server stopped")
	case <-timer.C:
		return errors.New("timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resolveAddrs replaces a port 0 in each address with a free port, all of
// them different (each picked while the others are still held).
func resolveAddrs(addrs ...string) ([]string, error) {
	out := make([]string, len(addrs))
	for i, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if port != "0" {
			out[i] = addr
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("pick a free port on %q: %w", host, err)
		}
		defer l.Close()
		out[i] = net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

// loopback replaces an unspecified host (":2379", "0.0.0.0:2379") with
// 127.0.0.1 (or ::1) so the address can be dialled and advertised.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.To4() != nil && ip.IsUnspecified()):
		return net.JoinHostPort("127.0.0.1", port)
	case ip != nil && ip.IsUnspecified():
		return net.JoinHostPort("::1", port)
	}
	return addr
}
