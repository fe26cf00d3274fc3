// Package agent is the composition root of a node: it joins the cluster,
// registers the node's facts, heartbeats, watches its assignments and ships
// reports from its on-disk spool. Only cli imports it.
package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"golang.org/x/sync/errgroup"

	"corral/internal/agent/facts"
	"corral/internal/api"
	"corral/internal/logs/selflog"
	"corral/internal/metrics/host"
	"corral/internal/pki"
	"corral/internal/spool"
)

// Agent is a running node agent.
type Agent struct {
	cfg Config
	log *slog.Logger

	id        *identity
	client    *http.Client
	transport swappable
	spool     *spool.Spool

	server    atomic.Int32 // index in cfg.Servers now in use
	interval  atomic.Int64 // heartbeat interval, ns
	leaseTTL  atomic.Int64 // the server's lease TTL, ns (0 until the first hello)
	helloOnce chan struct{}

	self  *selflog.Collector // the agent's own logs
	gzips sync.Pool          // *gzip.Writer for call
	// logCounters are the log inputs' counters by input ("syslog",
	// "file.nginx-access"), reported as metrics (loglisteners.go).
	logCounters sync.Map // string → func() logCounts

	mu          sync.Mutex
	assignments map[string]json.RawMessage
	rev         int64
	synced      bool          // a full snapshot of the assignments has arrived
	checksWake  chan struct{} // capacity 1: check assignments changed
	tasksWake   chan struct{} // capacity 1: task assignments changed
	// convergeWake (capacity 1): the catalog or a converge request changed.
	convergeWake chan struct{}
	// logInputsWake (capacity 1): the node's LogInputs changed.
	logInputsWake chan struct{}
}

// New checks cfg and returns an Agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("agent: data dir is required")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("agent: --server is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SpoolBytes <= 0 {
		cfg.SpoolBytes = Defaults().SpoolBytes
	}
	if cfg.StatsdFlushInterval <= 0 {
		cfg.StatsdFlushInterval = Defaults().StatsdFlushInterval
	}
	if cfg.Name != "" && !api.ValidName(cfg.Name) {
		return nil, fmt.Errorf("agent: --name %q must be %s", cfg.Name, api.NameRule)
	}
	// Its own logs go to the log store too (source:corral); the server
	// puts the node's name on them.
	self := selflog.New("", slog.LevelInfo, 4096)
	cfg.Logger = slog.New(self.Handler(cfg.Logger.Handler()))
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent"), helloOnce: make(chan struct{}), self: self,
		assignments: map[string]json.RawMessage{}, checksWake: make(chan struct{}, 1),
		tasksWake: make(chan struct{}, 1), convergeWake: make(chan struct{}, 1), logInputsWake: make(chan struct{}, 1)}
	a.interval.Store(int64(5 * time.Second))
	return a, nil
}

// Node returns the node name; valid once Run has loaded or made the identity.
func (a *Agent) Node() string {
	if a.id == nil {
		return ""
	}
	return a.id.node
}

// Run runs the agent until ctx ends. It returns an error at once when the
// cluster refuses it (a bad join token, a certificate of another CA).
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create agent data dir: %w", err)
	}
	if err := a.loadOrJoin(ctx); err != nil {
		return err
	}
	a.client = &http.Client{Transport: &a.transport}
	if err := a.newTransport(); err != nil {
		return err
	}
	defer a.transport.close()
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(a.cfg.DataDir, "spool"), MaxBytes: a.cfg.SpoolBytes, Now: a.cfg.Now})
	if err != nil {
		return fmt.Errorf("open report spool: %w", err)
	}
	a.spool = sp
	defer a.spool.Close()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.connectLoop(gctx) })
	g.Go(func() error { return a.watchLoop(gctx) })
	g.Go(func() error { return a.shipLoop(gctx) })
	g.Go(func() error { return a.renewLoop(gctx) })
	g.Go(func() error { return a.factsLoop(gctx) })
	g.Go(func() error { return a.tasksLoop(gctx) })
	if a.cfg.StatsdAddr != "" {
		g.Go(func() error { return a.statsdLoop(gctx) })
	}
	if a.cfg.HostMetricsInterval > 0 {
		g.Go(func() error { return a.hostMetricsLoop(gctx) })
	}
	if a.cfg.Checks {
		g.Go(func() error { return a.checksLoop(gctx) })
	}
	g.Go(func() error { return a.logInputsLoop(gctx) })
	g.Go(func() error { return a.logListenersLoop(gctx) })
	g.Go(func() error {
		// The agent's own logs, collected like any other service's.
		a.self.Run(gctx, func(es []api.LogEntry) error { return a.Report("log", es) })
		return nil
	})
	if a.cfg.Converge {
		g.Go(func() error { return a.convergeLoop(gctx) })
	}
	err = g.Wait()
	if ctx.Err() != nil && !errors.As(err, new(errFatal)) {
		err = nil
	}
	a.log.Info("agent stopped", "node", a.id.node)
	return err
}

func (a *Agent) loadOrJoin(ctx context.Context) error {
	id, ok, err := loadIdentity(a.cfg.DataDir)
	if err != nil {
		return err
	}
	if ok {
		if a.cfg.Name != "" && a.cfg.Name != id.node {
			a.log.Warn("ignoring --name: this data dir already holds the identity of another node", "name", a.cfg.Name, "node", id.node)
		}
		a.id = id
		return nil
	}
	if a.cfg.JoinToken == "" {
		return fatal("agent has no identity in %s yet: give a --join-token (corral token create --role agent)", a.cfg.DataDir)
	}
	name := a.cfg.Name
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	backoff := newBackoff(500*time.Millisecond, 30*time.Second)
	for i := 0; ; i++ {
		server := a.cfg.Servers[i%len(a.cfg.Servers)]
		a.id, err = join(ctx, a.cfg.DataDir, server, a.cfg.JoinToken, name)
		if err == nil {
			a.log.Info("joined the cluster", "node", a.id.node, "server", server)
			return nil
		}
		if errors.As(err, new(errFatal)) {
			return err
		}
		a.log.Warn("join failed; retrying", "server", server, "err", err)
		if !sleep(ctx, backoff.next()) {
			return ctx.Err()
		}
	}
}

// newTransport makes the connections of the agent channel use the current
// certificate from now on, and closes the idle ones of the old transport.
// Streams open on it (the watch) end by themselves and reconnect.
func (a *Agent) newTransport() error {
	tlsCfg, err := a.id.tlsConfig()
	if err != nil {
		return err
	}
	a.transport.swap(&http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second})
	return nil
}

// swappable is an http.RoundTripper whose transport can be replaced.
type swappable struct {
	cur atomic.Pointer[http.Transport]
}

func (s *swappable) RoundTrip(r *http.Request) (*http.Response, error) {
	return s.cur.Load().RoundTrip(r)
}

func (s *swappable) swap(t *http.Transport) {
	if old := s.cur.Swap(t); old != nil {
		old.CloseIdleConnections()
	}
}

func (s *swappable) close() {
	if t := s.cur.Load(); t != nil {
		t.CloseIdleConnections()
	}
}

// serverURL returns the base URL of the server in use.
func (a *Agent) serverURL() string {
	return "https://" + a.cfg.Servers[int(a.server.Load())%len(a.cfg.Servers)]
}

// compress gzips b at the fastest level (report batches are JSON that
// shrinks several times at little cost).
func (a *Agent) compress(b []byte) ([]byte, error) {
	zw, _ := a.gzips.Get().(*gzip.Writer)
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		zw.Reset(&buf)
	}
	defer a.gzips.Put(zw)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// failover moves to the next server after a connection error.
func (a *Agent) failover() {
	if len(a.cfg.Servers) > 1 {
		a.server.Add(1)
	}
}

// reportBatchJSON is the api.ReportBatch of reports as JSON, written
// directly: their data is valid JSON already (the spool checks it), which
// json.Marshal would check and compact again.
func reportBatchJSON(reports []api.Report) json.RawMessage {
	n := 16
	for _, r := range reports {
		n += len(r.Data) + len(r.Type) + 80
	}
	b := make([]byte, 0, n)
	b = append(b, `{"reports":[`...)
	for i, r := range reports {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, `,"type":`...)
		b = strconv.AppendQuote(b, r.Type) // report types are ASCII names
		b = append(b, `,"time":"`...)
		b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","data":`...)
		if len(r.Data) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, r.Data...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// gzipAbove is the body size from which call compresses (report batches).
const gzipAbove = 1024

// call POSTs body as JSON (gzip-compressed when larger than gzipAbove) and
// decodes the answer into out.
func (a *Agent) call(ctx context.Context, path string, body, out any) error {
	var b []byte
	var err error
	if raw, ok := body.(json.RawMessage); ok {
		b = raw
	} else if b, err = json.Marshal(body); err != nil {
		return err
	}
	gzipped := false
	if len(b) > gzipAbove {
		if b, err = a.compress(b); err != nil {
			return err
		}
		gzipped = true
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.serverURL()+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	if err := decodeAnswer(resp, out); err != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return fatal("server %s refused this agent: %v", a.serverURL(), err)
		}
		return err
	}
	return nil
}

// classify turns a TLS refusal of our certificate into a fatal error.
func classify(err error) error {
	s := err.Error()
	for _, m := range []string{"tls: unknown certificate authority", "tls: bad certificate", "tls: certificate required", "tls: expired certificate"} {
		if strings.Contains(s, m) {
			return fatal("the server refused this agent's certificate (was it issued by another cluster's CA?): %v", err)
		}
	}
	if strings.Contains(s, "not signed by the cluster CA") || strings.Contains(s, "x509:") {
		return fatal("the server's certificate is not from this agent's cluster CA: %v", err)
	}
	return err
}

func (a *Agent) hello(ctx context.Context) error {
	f, err := facts.Collect(ctx, a.cfg.Version)
	if err != nil {
		a.log.Warn("collect facts", "err", err)
	}
	res := facts.Resources(f, a.cfg.DataDir)
	if a.cfg.CPUs > 0 {
		res.CPUs = a.cfg.CPUs
	}
	if a.cfg.MemMB > 0 {
		res.MemMB = a.cfg.MemMB
	}
	if a.cfg.DiskMB > 0 {
		res.DiskMB = a.cfg.DiskMB
	}
	res.PortFrom, res.PortTo = a.cfg.PortFrom, a.cfg.PortTo
	var hr api.HelloResponse
	if err := a.call(ctx, "/agent/v1/hello", api.HelloRequest{Protocol: api.ProtocolVersion, Facts: f,
		Labels: a.cfg.Labels, Resources: res}, &hr); err != nil {
		if api.StatusOf(err) == http.StatusBadRequest {
			// The server will not take this agent as it is (protocol, name).
			return fatal("server %s refused the hello: %v", a.serverURL(), err)
		}
		return err
	}
	if hr.HeartbeatInterval > 0 {
		a.interval.Store(int64(hr.HeartbeatInterval))
	}
	a.leaseTTL.Store(int64(hr.LeaseTTL))
	return nil
}

// connectLoop says hello, then heartbeats; after a failure it says hello
// again (the server may have restarted or another may answer).
func (a *Agent) connectLoop(ctx context.Context) error {
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		err := a.hello(ctx)
		if err == nil {
			a.log.Info("connected", "node", a.id.node, "server", a.serverURL())
			select {
			case <-a.helloOnce:
			default:
				close(a.helloOnce)
			}
			backoff.reset()
			err = a.heartbeatLoop(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.As(err, new(errFatal)) {
			return err
		}
		a.log.Warn("server unreachable; retrying", "server", a.serverURL(), "err", err)
		a.failover()
		if ttl := time.Duration(a.leaseTTL.Load()); ttl > 0 {
			// Retry often enough that a short outage does not outlast the lease.
			backoff.max = min(10*time.Second, max(ttl/4, 200*time.Millisecond))
		}
		if !sleep(ctx, backoff.next()) {
			return nil
		}
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) error {
	for {
		if !sleep(ctx, time.Duration(a.interval.Load())) {
			return nil
		}
		st := a.spool.Stats()
		req := api.HeartbeatRequest{Spool: api.SpoolStats{Records: st.Records, Bytes: st.Bytes,
			BudgetBytes: a.cfg.SpoolBytes, Dropped: st.Dropped}}
		var hb api.HeartbeatResponse
		if err := a.call(ctx, "/agent/v1/heartbeat", req, &hb); err != nil {
			return err
		}
	}
}

// waitConnected waits for the first successful hello; false when ctx ended.
func (a *Agent) waitConnected(ctx context.Context) bool {
	select {
	case <-a.helloOnce:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchLoop follows the node's assignments, resuming from the last revision.
func (a *Agent) watchLoop(ctx context.Context) error {
	if !a.waitConnected(ctx) {
		return nil
	}
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		started := time.Now()
		err := a.watch(ctx)
		if time.Since(started) > 10*time.Second {
			backoff.reset() // the stream was up: reconnect quickly
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.As(err, new(errFatal)) {
			return err
		}
		a.log.Debug("assignment watch ended; reconnecting", "err", err)
		if !sleep(ctx, backoff.next()) {
			return nil
		}
	}
}

func (a *Agent) watch(ctx context.Context) error {
	a.mu.Lock()
	rev := a.rev
	a.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.serverURL()+"/agent/v1/watch?rev="+strconv.FormatInt(rev, 10), nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeAnswer(resp, nil)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	snapshot := rev == 0
	fresh := map[string]json.RawMessage{}
	for sc.Scan() {
		var as api.Assignment
		if err := json.Unmarshal(sc.Bytes(), &as); err != nil {
			return fmt.Errorf("watch: bad line: %w", err)
		}
		a.mu.Lock()
		switch as.Type {
		case "put":
			if snapshot {
				fresh[as.Key] = as.Value
			} else {
				a.assignments[as.Key] = as.Value
			}
		case "delete":
			delete(a.assignments, as.Key)
		case "sync":
			if snapshot {
				a.assignments, fresh, snapshot = fresh, map[string]json.RawMessage{}, false
			}
		case "reset":
			a.rev = 0
			a.mu.Unlock()
			return errors.New("watch: revision compacted; starting over")
		}
		a.wakeChecks(as, snapshot)
		a.wakeTasks(as, snapshot)
		a.wakeConverge(as, snapshot)
		wakeOn(a.logInputsWake, as, snapshot, func(k string) bool { return strings.HasPrefix(k, logInputAssignPrefix) })
		if as.Rev > a.rev && !snapshot {
			a.rev = as.Rev
		}
		a.mu.Unlock()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("watch stream closed")
}

// wakeOn wakes a loop through ch (capacity 1) when as concerns it: a
// change of a key match accepts, after the snapshot; or the snapshot's end
// (its "sync"), which wakes every loop once.
func wakeOn(ch chan struct{}, as api.Assignment, snapshot bool, match func(key string) bool) {
	if as.Type != "sync" && (snapshot || !match(as.Key)) {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Assignments returns a copy of what the node holds now.
func (a *Agent) Assignments() map[string]json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]json.RawMessage, len(a.assignments))
	for k, v := range a.assignments {
		out[k] = v
	}
	return out
}

// Report queues a report for the server; it is durable once this returns.
func (a *Agent) Report(typ string, data any) error {
	b, err := gojson.Marshal(data) // encoding/json's output, faster (every log line comes this way)
	if err != nil {
		return err
	}
	_, err = a.spool.Append(typ, b)
	return err
}

// shipLoop sends spooled reports in batches and drops them once acknowledged.
func (a *Agent) shipLoop(ctx context.Context) error {
	if !a.waitConnected(ctx) {
		return nil
	}
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for {
		appended := a.spool.Wait() // before Read, so no append is missed
		batch, err := a.spool.Read(1000, 2<<20)
		if err != nil {
			return fmt.Errorf("read spool: %w", err)
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-appended:
			case <-time.After(5 * time.Second):
			}
			continue
		}
		var ack api.ReportAck
		if err := a.call(ctx, "/agent/v1/report", reportBatchJSON(batch), &ack); err != nil {
			if errors.As(err, new(errFatal)) {
				return err
			}
			a.log.Debug("ship reports failed; kept in spool", "n", len(batch), "err", err)
			if !sleep(ctx, backoff.next()) {
				return nil
			}
			continue
		}
		backoff.reset()
		for seq, why := range ack.Rejected {
			a.log.Warn("server rejected a report", "seq", seq, "reason", why)
		}
		if err := a.spool.Ack(ack.Seq); err != nil {
			return fmt.Errorf("ack spool: %w", err)
		}
	}
}

// renewLoop renews the certificate once two thirds of its life have passed.
func (a *Agent) renewLoop(ctx context.Context) error {
	for {
		leaf := a.id.cert.Load().Leaf
		issued := leaf.NotBefore.Add(pki.Backdate)
		life := leaf.NotAfter.Sub(issued)
		at := issued.Add(life * 2 / 3)
		wait := at.Sub(a.cfg.Now())
		if wait > 0 && !sleep(ctx, min(wait, time.Hour)) {
			return nil
		}
		if a.cfg.Now().Before(at) {
			continue
		}
		if err := a.renew(ctx); err != nil {
			if errors.As(err, new(errFatal)) {
				return err
			}
			a.log.Warn("certificate renewal failed; retrying", "err", err)
			if !sleep(ctx, min(life/20+time.Second, time.Minute)) {
				return nil
			}
		}
	}
}

func (a *Agent) renew(ctx context.Context) error {
	key, err := pki.ParseKey(a.id.keyPEM)
	if err != nil {
		return err
	}
	csr, err := pki.NewCSR(key, a.id.node)
	if err != nil {
		return err
	}
	var cr api.CertResponse
	if err := a.call(ctx, "/agent/v1/renew", api.RenewRequest{CSR: string(csr)}, &cr); err != nil {
		return err
	}
	if err := a.id.setCert([]byte(cr.Cert)); err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if err := a.id.save(a.cfg.DataDir); err != nil {
		return err
	}
	// Open connections keep presenting the old certificate: move to a new
	// transport, whose handshakes present the new one.
	if err := a.newTransport(); err != nil {
		return err
	}
	a.log.Info("renewed certificate", "expires", cr.Expires)
	return nil
}

// factsLoop reports the node's facts every few minutes.
func (a *Agent) factsLoop(ctx context.Context) error {
	for sleep(ctx, 5*time.Minute) {
		f, err := facts.Collect(ctx, a.cfg.Version)
		if err != nil {
			a.log.Warn("collect facts", "err", err)
			continue
		}
		if err := a.Report("facts", f); err != nil {
			return fmt.Errorf("spool facts: %w", err)
		}
	}
	return nil
}

// hostMetricsLoop samples the machine every HostMetricsInterval and queues
// the points as a "metrics" report: spooled on disk, so samples taken while
// the server is away reach it later.
func (a *Agent) hostMetricsLoop(ctx context.Context) error {
	c := host.New(a.id.node, host.Options{Now: a.cfg.Now})
	t := time.NewTicker(a.cfg.HostMetricsInterval)
	defer t.Stop()
	for {
		points, err := c.Collect(ctx)
		if err != nil {
			a.log.Debug("host metrics", "err", err)
		}
		if len(points) > 0 {
			if err := a.Report("metrics", points); err != nil {
				return fmt.Errorf("spool host metrics: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

type backoff struct{ cur, initial, max time.Duration }

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{cur: initial, initial: initial, max: max}
}

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d
}

func (b *backoff) reset() { b.cur = b.initial }
