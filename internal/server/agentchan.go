package server

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/store"
)

// The agent channel (docs/protocol.md): HTTPS on --agent-addr with the
// cluster CA. /agent/v1/join is the only call without a client certificate;
// every other call needs one issued by the CA.

// reportHandler takes the reports of one type from a node. It returns the
// reports it will never take (bad data), by seq with the reason; an error
// fails the whole batch, which the agent then sends again.
type reportHandler func(ctx context.Context, node string, reports []api.Report) (rejected map[uint64]string, err error)

// reportHandlers maps a report type to its handler.
type reportHandlers map[string]reportHandler

// builtinReports returns the report types the server takes. This is the one
// place where a feature registers the reports its agents send.
func (s *Server) builtinReports() reportHandlers {
	return reportHandlers{
		// "facts" refreshes a node's facts between hellos (disks filling, addresses changing).
		"facts": s.reportFacts,
		// "metrics" carries series points (api.MetricPoint lists) into the whisper store.
		"metrics": s.reportMetrics,
		// "check" carries check results (api.CheckResult lists) into events.
		"check": s.reportChecks,
		// "task" carries task statuses (api.TaskStatus lists) into the task records.
		"task": s.reportTasks,
		// "log" carries log entries (api.LogEntry lists) into the log store.
		"log": s.reportLogs,
		// "converge" carries one api.ConvergeReport into the history store.
		"converge": s.reportConverge,
	}
}

func (s *Server) agentServer() (*http.Server, net.Listener, error) {
	tlsCfg, err := s.serverTLS(nil)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	tlsCfg.ClientCAs = pool
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven

	mux := http.NewServeMux()
	mux.HandleFunc("POST /agent/v1/join", s.agentHandler(false, s.handleJoin))
	mux.HandleFunc("POST /agent/v1/hello", s.agentHandler(true, s.handleHello))
	mux.HandleFunc("POST /agent/v1/heartbeat", s.agentHandler(true, s.handleHeartbeat))
	mux.HandleFunc("POST /agent/v1/renew", s.agentHandler(true, s.handleRenew))
	mux.HandleFunc("GET /agent/v1/watch", s.agentHandler(true, s.handleWatch))
	mux.HandleFunc("POST /agent/v1/report", s.agentHandler(true, s.handleReport))
	mux.HandleFunc("POST /agent/v1/secrets", s.agentHandler(true, s.handleAgentSecrets))
	srv := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.With("component", "agent-channel").Handler(), slog.LevelDebug)}
	ln, err := net.Listen("tcp", s.cfg.AgentAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on --agent-addr %s: %w", s.cfg.AgentAddr, err)
	}
	return srv, ln, nil
}

// agentMaxBody bounds agent channel bodies; agents send report batches of
// at most a few MiB.
const agentMaxBody = 16 << 20

// agentMaxDecoded bounds a gzip-compressed agent body once decompressed.
const agentMaxDecoded = 4 * agentMaxBody

// gunzipBody decompresses a request body, failing a read once more than
// agentMaxDecoded bytes came out (no zip bombs).
func gunzipBody(body io.ReadCloser) (io.ReadCloser, error) {
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&capReader{r: zr, left: agentMaxDecoded}, body}, nil
}

// capReader reads at most left bytes from r, then fails.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, &http.MaxBytesError{Limit: agentMaxDecoded}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// decodeAgent reads a JSON body. Unknown fields are ignored: a newer agent
// speaking the same protocol version may send fields this server does not
// know.
func decodeAgent(r *http.Request, v any) error {
	// goccy/go-json: encoding/json's semantics, a few times faster on the
	// agents' report batches (every log line comes this way).
	if err := gojson.NewDecoder(r.Body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return api.Errorf(http.StatusBadRequest, "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// clientNode returns the node a request's client certificate names. The TLS
// handshake verified the chain against the CA; a connection may outlive the
// certificate, so its validity is checked again per request.
func (s *Server) clientNode(st *tls.ConnectionState) (string, error) {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return s.ca.VerifyClient(st.PeerCertificates[0], s.cfg.Now())
	}
	leaf := st.VerifiedChains[0][0]
	if now := s.cfg.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("certificate %q has expired or is not yet valid (valid %s to %s)",
			leaf.Subject.CommonName, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	if leaf.Subject.CommonName == "" {
		return "", errors.New("certificate has an empty common name")
	}
	return leaf.Subject.CommonName, nil
}

type agentFunc func(w http.ResponseWriter, r *http.Request, node string) error

// agentHandler checks the client certificate (when needed), bounds the body
// and writes errors in the API's shape.
func (s *Server) agentHandler(needCert bool, h agentFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		node := ""
		if needCert {
			if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
				httpapi.JSON(w, http.StatusUnauthorized, api.Errorf(http.StatusUnauthorized, "client certificate required: join first"))
				return
			}
			name, err := s.clientNode(r.TLS)
			if err != nil {
				httpapi.JSON(w, http.StatusUnauthorized, api.Errorf(http.StatusUnauthorized, "client certificate rejected: %v", err))
				return
			}
			node = name
		}
		r.Body = http.MaxBytesReader(w, r.Body, agentMaxBody)
		if r.Header.Get("Content-Encoding") == "gzip" {
			body, err := gunzipBody(r.Body)
			if err != nil {
				httpapi.JSON(w, http.StatusBadRequest, api.Errorf(http.StatusBadRequest, "invalid gzip body: %v", err))
				return
			}
			r.Body = body
		}
		if err := h(w, r, node); err != nil {
			err = mapStoreError(err)
			var ae *api.Error
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				ae = api.Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
			} else if !errors.As(err, &ae) {
				s.log.Error("agent request failed", "path", r.URL.Path, "node", node, "err", err)
				ae = api.Errorf(http.StatusInternalServerError, "internal error: %v", err)
			}
			httpapi.JSON(w, ae.Status, ae)
		}
	}
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request, _ string) (err error) {
	actor, node := "anonymous", ""
	defer func() { s.auditJoin(r, actor, node, err) }()
	var req api.JoinRequest
	if err := decodeAgent(r, &req); err != nil {
		return err
	}
	if req.Protocol < api.MinProtocolVersion || req.Protocol > api.ProtocolVersion {
		return api.Errorf(http.StatusBadRequest, "agent protocol %d not supported (server speaks %d..%d)", req.Protocol, api.MinProtocolVersion, api.ProtocolVersion)
	}
	tok, err := s.checkToken(r.Context(), req.Token)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return &api.Error{Status: ae.Status, Message: "join token rejected: " + ae.Message}
		}
		return err
	}
	actor = "token:" + tok.ID
	if tok.Name != "" {
		actor += " (" + tok.Name + ")"
	}
	if tok.Role != api.RoleAgent && tok.Role != api.RoleAdmin {
		return api.Errorf(http.StatusForbidden, "join token rejected: token %s has role %s, not agent", tok.ID, tok.Role)
	}
	csr, err := parseCSR([]byte(req.CSR))
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid CSR: %v", err)
	}
	node = csr.Subject.CommonName
	if !api.ValidName(node) {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid node name",
			Fields: map[string]string{"name": "must be " + api.NameRule}}
	}
	if _, alive := s.alive.Get(node); alive {
		return api.Conflict("node %q is already joined and alive; give this agent another --name", node)
	}
	certPEM, notAfter, err := s.ca.SignClient([]byte(req.CSR), node, s.cfg.AgentCertTTL, s.cfg.Now())
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "sign CSR: %v", err)
	}
	s.log.Info("node joined", "node", node, "token", tok.ID, "cert_expires", notAfter)
	return httpapi.JSON(w, http.StatusOK, api.CertResponse{Node: node, Cert: string(certPEM), CA: string(s.ca.CertPEM), Expires: notAfter})
}

// auditJoin writes a join, granted or refused, to the audit log.
func (s *Server) auditJoin(r *http.Request, actor, node string, err error) {
	e := api.AuditEntry{Time: s.cfg.Now().UTC(), Actor: actor, Action: "POST /agent/v1/join", Target: "node/" + node,
		Status: http.StatusOK, Result: "ok"}
	if err != nil {
		e.Status, e.Result = api.StatusOf(mapStoreError(err)), err.Error()
	}
	e.RemoteIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if _, aerr := s.ledger.AppendAudit(ctx, e); aerr != nil {
		s.log.Error("write audit entry", "action", e.Action, "err", aerr)
	}
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, node string) error {
	var req api.RenewRequest
	if err := decodeAgent(r, &req); err != nil {
		return err
	}
	certPEM, notAfter, err := s.ca.SignClient([]byte(req.CSR), node, s.cfg.AgentCertTTL, s.cfg.Now())
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "sign CSR: %v", err)
	}
	if _, err := s.store.UpdateNode(r.Context(), node, func(n *store.NodeRecord) error {
		n.CertExpires = notAfter.UTC()
		return nil
	}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.log.Info("renewed node certificate", "node", node, "cert_expires", notAfter)
	return httpapi.JSON(w, http.StatusOK, api.CertResponse{Node: node, Cert: string(certPEM), CA: string(s.ca.CertPEM), Expires: notAfter})
}

func (s *Server) handleHello(w http.ResponseWriter, r *http.Request, node string) error {
	var req api.HelloRequest
	if err := decodeAgent(r, &req); err != nil {
		return err
	}
	if req.Protocol < api.MinProtocolVersion || req.Protocol > api.ProtocolVersion {
		return api.Errorf(http.StatusBadRequest, "agent protocol %d not supported (server speaks %d..%d)", req.Protocol, api.MinProtocolVersion, api.ProtocolVersion)
	}
	now := s.cfg.Now().UTC()
	certExp := r.TLS.PeerCertificates[0].NotAfter.UTC()
	rec, err := s.store.UpdateNode(r.Context(), node, func(n *store.NodeRecord) error {
		n.Facts, n.AgentLabels, n.Resources, n.CertExpires = req.Facts, req.Labels, req.Resources, certExp
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		rec = store.NodeRecord{Name: node, AgentLabels: req.Labels, Facts: req.Facts, Resources: req.Resources,
			JoinedAt: now, UpdatedAt: now, CertExpires: certExp}
		err = s.store.CreateNode(r.Context(), rec)
	}
	if err != nil {
		return err
	}
	if err := s.heartbeat(r.Context(), node); err != nil {
		return err
	}
	s.seen.Store(node, agentSeen{at: now})
	s.monitorKeepalive(r.Context(), node)
	return httpapi.JSON(w, http.StatusOK, api.HelloResponse{
		Node: rec.API(true), Protocol: api.ProtocolVersion,
		HeartbeatInterval: api.Duration(s.cfg.HeartbeatInterval), LeaseTTL: api.Duration(s.cfg.LeaseTTL),
	})
}

// heartbeat keeps node's liveness lease alive.
func (s *Server) heartbeat(ctx context.Context, node string) error {
	var lease clientv3.LeaseID
	if v, ok := s.leases.Load(node); ok {
		lease = v.(clientv3.LeaseID)
	}
	id, err := s.store.Heartbeat(ctx, node, s.cfg.LeaseTTL, lease)
	if err != nil {
		return err
	}
	if id != lease {
		s.leases.Store(node, id)
	}
	return nil
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, node string) error {
	var req api.HeartbeatRequest
	if r.ContentLength != 0 { // an empty body is a bare heartbeat
		if err := decodeAgent(r, &req); err != nil {
			return err
		}
	}
	v, ok := s.nodes.Value(node)
	if !ok {
		rec, err := s.store.GetNode(r.Context(), node)
		if errors.Is(err, store.ErrNotFound) {
			return api.Errorf(http.StatusNotFound, "node %q is not registered: send hello first", node)
		} else if err != nil {
			return err
		}
		v = rec
	}
	rec := v.(store.NodeRecord)
	if err := s.heartbeat(r.Context(), node); err != nil {
		return err
	}
	s.seen.Store(node, agentSeen{at: s.cfg.Now().UTC(), spool: req.Spool})
	s.monitorKeepalive(r.Context(), node)
	status := api.NodeReady
	if rec.Drain {
		status = api.NodeDraining
	}
	return httpapi.JSON(w, http.StatusOK, api.HeartbeatResponse{Status: status, Drain: rec.Drain})
}

// handleWatch streams the node's assignments as JSON lines: first the
// current set (unless resuming), a "sync" line, then every change. With
// ?rev=N it resumes after revision N; if N was compacted away the stream
// starts over with a snapshot.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, node string) error {
	rev, err := strconv.ParseInt(r.URL.Query().Get("rev"), 10, 64)
	if err != nil {
		rev = 0
	}
	ctx := r.Context()
	cli := s.store.Client()
	prefix := store.AssignPrefix(node)
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	s.agents.Inc()
	defer s.agents.Dec()

	send := func(a api.Assignment) error {
		if err := enc.Encode(a); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	// snapshot sends the node's assignments and the shared ones (the same
	// revision for both) and a "sync".
	snapshot := func() (int64, error) {
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return 0, err
		}
		shared := store.AssignPrefix(store.SharedAssignNode)
		sresp, err := cli.Get(ctx, shared, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision))
		if err != nil {
			return 0, err
		}
		for _, kv := range resp.Kvs {
			if err := send(api.Assignment{Rev: kv.ModRevision, Type: "put", Key: string(kv.Key[len(prefix):]), Value: kv.Value}); err != nil {
				return 0, err
			}
		}
		for _, kv := range sresp.Kvs {
			if err := send(api.Assignment{Rev: kv.ModRevision, Type: "put", Key: string(kv.Key[len(shared):]), Value: kv.Value}); err != nil {
				return 0, err
			}
		}
		return resp.Header.Revision, send(api.Assignment{Rev: resp.Header.Revision, Type: "sync"})
	}
	// One etcd watch for every agent (assignhub.go).
	hub := s.hub
	var sub *assignSub
	if rev == 0 {
		var ok bool
		if sub, ok = hub.subscribeNow(node); !ok {
			return nil // the hub is (re)starting: the agent reconnects
		}
		defer hub.unsubscribe(sub)
		if rev, err = snapshot(); err != nil {
			return nil
		}
	} else {
		if sub = hub.subscribe(node, rev); sub == nil {
			// Changes after rev went by already: start over.
			send(api.Assignment{Rev: 0, Type: "reset"})
			return nil
		}
		defer hub.unsubscribe(sub)
		if err := send(api.Assignment{Rev: rev, Type: "sync"}); err != nil {
			return nil
		}
	}
	keepalive := time.NewTicker(10 * time.Second)
	defer keepalive.Stop()
	skip := rev // changes up to the snapshot (or the resumed revision) are known
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.gone:
			return nil // too slow, or the hub restarted: the agent reconnects
		case <-keepalive.C:
			if cur, ok := hub.current(sub); ok && cur > rev {
				rev = cur
			}
			if err := send(api.Assignment{Rev: rev, Type: "sync"}); err != nil {
				return nil
			}
		case <-sub.notify:
			for _, a := range sub.take() {
				if a.Rev <= skip {
					continue // in the snapshot already (one revision may hold several changes)
				}
				if err := enc.Encode(a); err != nil {
					return nil
				}
				rev = a.Rev
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request, node string) error {
	var batch api.ReportBatch
	if err := decodeAgent(r, &batch); err != nil {
		return err
	}
	ack := api.ReportAck{}
	byType := map[string][]api.Report{}
	var order []string
	for _, rep := range batch.Reports {
		if rep.Seq > ack.Seq {
			ack.Seq = rep.Seq
		}
		if _, ok := s.reports[rep.Type]; !ok {
			if ack.Rejected == nil {
				ack.Rejected = map[uint64]string{}
			}
			ack.Rejected[rep.Seq] = fmt.Sprintf("unknown report type %q", rep.Type)
			continue
		}
		if _, ok := byType[rep.Type]; !ok {
			order = append(order, rep.Type)
		}
		byType[rep.Type] = append(byType[rep.Type], rep)
	}
	for _, t := range order {
		// A handler error fails the whole batch: the agent keeps it and
		// resends, so nothing acknowledged is lost.
		rejected, err := s.reports[t](r.Context(), node, byType[t])
		if err != nil {
			return fmt.Errorf("take %s reports from %s: %w", t, node, err)
		}
		for seq, why := range rejected {
			if ack.Rejected == nil {
				ack.Rejected = map[uint64]string{}
			}
			ack.Rejected[seq] = why
		}
	}
	return httpapi.JSON(w, http.StatusOK, ack)
}

func (s *Server) reportFacts(ctx context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	// Only the newest good facts matter.
	rejected := map[uint64]string{}
	for i := len(reports) - 1; i >= 0; i-- {
		var f api.Facts
		if err := json.Unmarshal(reports[i].Data, &f); err != nil {
			rejected[reports[i].Seq] = fmt.Sprintf("facts report: %v", err)
			continue
		}
		_, err := s.store.UpdateNode(ctx, node, func(n *store.NodeRecord) error {
			n.Facts = f
			return nil
		})
		return rejected, err
	}
	return rejected, nil
}

func parseCSR(b []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	return csr, csr.CheckSignature()
}

func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
