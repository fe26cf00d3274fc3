package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"corral/internal/api"
	"corral/internal/etcd"
	"corral/internal/httpapi"
	"corral/internal/ledger"
	"corral/internal/store"
)

// routes registers every API route. A feature adds its routes here.
func (s *Server) routes(a *httpapi.API) {
	a.Raw("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	}))
	a.Raw("GET /readyz", http.HandlerFunc(s.handleReadyz))
	a.Raw("GET /metrics", promhttp.HandlerFor(prometheus.Gatherers{s.reg, prometheus.DefaultGatherer}, promhttp.HandlerOpts{}))

	a.Public("POST /api/v1/login", s.handleLogin)
	a.Handle("GET /api/v1/whoami", api.RoleViewer, s.handleWhoami)

	a.Handle("GET /api/v1/nodes", api.RoleViewer, s.handleListNodes)
	a.Handle("GET /api/v1/nodes/{name}", api.RoleViewer, s.handleGetNode)
	a.Handle("PATCH /api/v1/nodes/{name}/labels", api.RoleOperator, s.handleLabelNode)
	a.Handle("PUT /api/v1/nodes/{name}/drain", api.RoleOperator, s.handleDrainNode)
	a.Handle("DELETE /api/v1/nodes/{name}", api.RoleAdmin, s.handleRemoveNode)

	a.Handle("POST /api/v1/tokens", api.RoleAdmin, s.handleCreateToken)
	a.Handle("GET /api/v1/tokens", api.RoleAdmin, s.handleListTokens)
	a.Handle("DELETE /api/v1/tokens/{id}", api.RoleAdmin, s.handleRevokeToken)

	a.Handle("POST /api/v1/users", api.RoleAdmin, s.handleAddUser)
	a.Handle("GET /api/v1/users", api.RoleAdmin, s.handleListUsers)
	a.Handle("DELETE /api/v1/users/{name}", api.RoleAdmin, s.handleRemoveUser)

	// Per-kind roles are checked inside the resource handlers.
	a.Handle("POST /api/v1/apply", api.RoleViewer, s.handleApply)
	a.Handle("GET /api/v1/kinds", api.RoleViewer, s.handleKinds)
	a.Handle("GET /api/v1/resources/{kind}", api.RoleViewer, s.handleListResources)
	a.Handle("GET /api/v1/resources/{kind}/{name}", api.RoleViewer, s.handleGetResource)
	a.Handle("DELETE /api/v1/resources/{kind}/{name}", api.RoleViewer, s.handleDeleteResource)

	a.Handle("GET /api/v1/audit", api.RoleAdmin, s.handleAudit)
	s.clusterRoutes(a)
	registerMarathon(a, s, s.marathonInfo) // Marathon's /v2 API (marathon_http.go)

	// Graphite's metric endpoints (graphite-web paths, for Grafana).
	for _, m := range []string{"GET", "POST"} {
		a.Query(m+" /metrics/find", api.RoleViewer, s.handleFind)
		a.Query(m+" /metrics/expand", api.RoleViewer, s.handleExpand)
	}
	a.Query("GET /metrics/index.json", api.RoleViewer, s.handleIndexJSON)
	s.renderRoutes(a) // /render, /functions, /tags/...
	a.Data("POST /api/v1/metrics", api.RoleOperator, s.handleMetricsIngest)
	s.monitorRoutes(a)  // events, check-ins, handler tests (monitor_http.go)
	s.convergeRoutes(a) // node run lists and catalogs, converge runs, reports, versions (converge_http.go)

}

func (s *Server) httpServer() (*http.Server, net.Listener, error) {
	a := httpapi.New(httpapi.Options{
		Auth: s, Audit: s.ledger, Registry: s.reg, Logger: s.log.With("component", "api"),
		MaxBodyBytes: s.cfg.MaxBodyBytes, MapError: mapStoreError, Now: s.cfg.Now,
	})
	s.routes(a)
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.With("component", "api").Handler(), slog.LevelWarn)}
	if !s.cfg.PlainHTTP {
		var err error
		if s.cfg.TLSCert != "" {
			srv.TLSConfig, err = loadTLS(s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			srv.TLSConfig, err = s.serverTLS(nil)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --http-addr %s: %w", s.cfg.HTTPAddr, err)
	}
	return srv, ln, nil
}

// mapStoreError turns the store's sentinel errors into API errors.
func mapStoreError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.Errorf(http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return api.Conflict("changed concurrently by another request; read it again and retry")
	case errors.Is(err, store.ErrExists):
		return api.Conflict("already exists")
	}
	return err
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.etcd.Check(r.Context()); err != nil {
		httpapi.JSON(w, http.StatusServiceUnavailable, api.Errorf(http.StatusServiceUnavailable, "store not ready: %v", err))
		return
	}
	if err := s.ledger.Ping(r.Context()); err != nil {
		httpapi.JSON(w, http.StatusServiceUnavailable, api.Errorf(http.StatusServiceUnavailable, "history store not ready: %v", err))
		return
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	q := r.URL.Query()
	limit, err := httpapi.QueryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	before, err := httpapi.QueryInt(r, "before", 0)
	if err != nil {
		return err
	}
	entries, err := s.ledger.ListAudit(r.Context(), ledger.AuditQuery{
		Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Limit: int(limit), BeforeID: before,
	})
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []api.AuditEntry{}
	}
	return httpapi.JSON(w, http.StatusOK, entries)
}

// etcdCollector exports the state of the cluster store as this server sees
// it: whether it answers, its database size and its raft leader.
type etcdCollector struct {
	etcd *etcd.Etcd
}

var (
	etcdUpDesc     = prometheus.NewDesc("corral_etcd_up", "1 when the cluster store answers a linearizable read.", nil, nil)
	etcdDBDesc     = prometheus.NewDesc("corral_etcd_db_size_bytes", "Size of the cluster store's database, as reported by the member this server uses.", nil, nil)
	etcdLeaderDesc = prometheus.NewDesc("corral_etcd_has_leader", "1 when the member this server uses knows a raft leader.", nil, nil)
)

func (c *etcdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- etcdUpDesc
	ch <- etcdDBDesc
	ch <- etcdLeaderDesc
}

func (c *etcdCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	up := 0.0
	if c.etcd.Check(ctx) == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(etcdUpDesc, prometheus.GaugeValue, up)
	cli := c.etcd.Client()
	eps := cli.Endpoints()
	ep := ""
	if len(eps) > 0 {
		ep = eps[0]
	}
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return
	}
	leader := 0.0
	if st.Leader != 0 {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(etcdDBDesc, prometheus.GaugeValue, float64(st.DbSize))
	ch <- prometheus.MustNewConstMetric(etcdLeaderDesc, prometheus.GaugeValue, leader)
}
