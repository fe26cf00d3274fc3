package server

// Configuration management on the server (converge*.go): the leader keeps
// every node's catalog assignment (api.CatalogAssignKey) equal to what
// converge.BuildCatalog makes of the Roles, Environments, NodeRoles,
// Secrets and nodes; agents fetch the secret values their catalog names
// over their channel and send "converge" reports, kept in the history
// store and turned into the "converge" check's events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"corral/internal/api"
	"corral/internal/converge"
	"corral/internal/httpapi"
	"corral/internal/resource"
	"corral/internal/store"
)

// Resource kinds of configuration management.
const (
	kindRole        = "Role"
	kindEnvironment = "Environment"
	kindNodeRoles   = "NodeRoles"
	kindSecret      = "Secret"

	// convergeCheck is the check name of converge results in monitoring.
	convergeCheck = "converge"
	// catalogDebounce gathers a burst of changes (an apply of a chef-repo,
	// agents joining) into one recomputation.
	catalogDebounce = 200 * time.Millisecond
	// catalogLoads bounds the parallel reads of nodes' catalogs when this
	// server starts leading.
	catalogLoads = 16
	// catalogTxnBytes bounds the catalogs written in one etcd transaction
	// (the embedded etcd takes requests up to 4 MiB); catalogTxns of them
	// are committed at once.
	catalogTxnBytes = 2 << 20
	catalogTxnOps   = 1000 // etcd's --max-txn-ops is 1024 here
	catalogTxns     = 4
)

// configSvc is the server's configuration management, built by
// startConverge.
type configSvc struct {
	roles, envs, nodeRoles, secrets *store.Mirror

	mu     sync.Mutex
	cached *catalogState

	// written is the leader's record of the catalog hash under each node's
	// assignment ("" for none), loaded from etcd for a node it has not seen.
	written map[string]writtenCatalog
	// nodesWritten is the digest of the shared node list the leader wrote
	// (api.CatalogNodesAssignKey); "" until it wrote one.
	nodesWritten string

	builds, puts, deletes prometheus.Counter
	seconds               prometheus.Histogram
}

// writtenCatalog is what the leader knows is stored for a node.
type writtenCatalog struct {
	hash   string
	joined time.Time // the node record's JoinedAt: a node removed and joined again starts over
}

// catalogState is the catalogs of one generation of the mirrors.
type catalogState struct {
	gens    [5]uint64 // roles, environments, NodeRoles, secrets, nodes
	cats    *converge.Catalogs
	records map[string]store.NodeRecord
}

// key identifies what the catalogs were built from: the configuration
// mirrors' generations and what of the nodes goes into catalogs.
func (st *catalogState) key() string {
	return fmt.Sprintf("%d/%d/%d/%d/%s", st.gens[0], st.gens[1], st.gens[2], st.gens[3], st.cats.NodesDigest())
}

// startConverge starts the mirrors of the configuration kinds and the
// catalog loop.
func (s *Server) startConverge(ctx context.Context, g *errgroup.Group) error {
	cli := s.etcd.Client()
	c := &configSvc{written: map[string]writtenCatalog{}}
	c.roles = store.NewMirror(cli, store.ResourcesPrefix(kindRole), store.Decoder[store.ResourceRecord]())
	c.envs = store.NewMirror(cli, store.ResourcesPrefix(kindEnvironment), store.Decoder[store.ResourceRecord]())
	c.nodeRoles = store.NewMirror(cli, store.ResourcesPrefix(kindNodeRoles), store.Decoder[store.ResourceRecord]())
	c.secrets = store.NewMirror(cli, store.ResourcesPrefix(kindSecret), store.Decoder[store.ResourceRecord]())
	mirrors := []*store.Mirror{c.roles, c.envs, c.nodeRoles, c.secrets}
	for _, m := range mirrors {
		g.Go(func() error { return m.Run(ctx) })
	}
	for _, m := range mirrors {
		select {
		case <-m.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.builds = prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_config_catalog_builds_total",
		Help: "Times the leader computed every node's catalog (the configuration or the nodes changed)."})
	c.puts = prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_config_catalog_writes_total",
		Help: "Node catalogs the leader wrote because their hash changed."})
	c.deletes = prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_config_catalog_deletes_total",
		Help: "Node catalogs the leader removed (the node holds no role any more)."})
	c.seconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corral_config_catalog_seconds",
		Help: "Time to compute and write every node's catalog once.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)})
	s.reg.MustRegister(c.builds, c.puts, c.deletes, c.seconds)
	s.config = c
	g.Go(func() error { return s.catalogLoop(ctx) })
	return nil
}

func (c *configSvc) mirrors(nodes *store.Mirror) [5]*store.Mirror {
	return [5]*store.Mirror{c.roles, c.envs, c.nodeRoles, c.secrets, nodes}
}

// catalogs returns the catalogs of the mirrors' current state, built again
// only when a mirror changed.
func (s *Server) catalogs() *catalogState {
	c := s.config
	var gens [5]uint64
	for i, m := range c.mirrors(s.nodes) {
		gens[i], _ = m.Gen()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != nil && c.cached.gens == gens {
		return c.cached
	}
	in := converge.CatalogInput{
		Roles:        map[string]api.RoleSpec{},
		Environments: map[string]api.EnvironmentSpec{},
		Secrets:      map[string]int64{},
	}
	for _, r := range mirrorSpecs[api.RoleSpec](c.roles) {
		in.Roles[r.Name] = r
	}
	for _, e := range mirrorSpecs[api.EnvironmentSpec](c.envs) {
		in.Environments[e.Name] = e
	}
	in.NodeRoles = mirrorSpecs[api.NodeRolesSpec](c.nodeRoles)
	secrets, _ := c.secrets.Values()
	for name, v := range secrets {
		if rec, ok := v.(store.ResourceRecord); ok {
			in.Secrets[name] = rec.Version
		}
	}
	nodes, _ := s.nodes.Values()
	records := make(map[string]store.NodeRecord, len(nodes))
	for name, v := range nodes {
		if rec, ok := v.(store.NodeRecord); ok {
			records[name] = rec
			in.Nodes = append(in.Nodes, converge.NodeInfoFrom(rec.API(false)))
		}
	}
	c.cached = &catalogState{gens: gens, cats: converge.NewCatalogs(in), records: records}
	return c.cached
}

// catalogLoop keeps the nodes' catalogs while this server leads the
// cluster. It is woken by a change of the Role, Environment, NodeRoles,
// Secret or node mirrors (gathered for catalogDebounce) and checks
// leadership every second; it writes only when what catalogs are built
// from changed, and only the catalogs whose hash changed.
func (s *Server) catalogLoop(ctx context.Context) error {
	c := s.config
	log := s.log.With("component", "config")
	done, wasLeader := "", false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var chans []<-chan struct{}
		for _, m := range c.mirrors(s.nodes) {
			_, ch := m.Gen()
			chans = append(chans, ch)
		}
		leader := s.cluster != nil && s.cluster.leader.Load()
		if leader && !wasLeader {
			// Another server may have written since: read again.
			c.written, c.nodesWritten = map[string]writtenCatalog{}, ""
			done = ""
		}
		wasLeader = leader
		if leader {
			st := s.catalogs()
			if key := st.key(); key != done {
				start := time.Now()
				if err := s.writeCatalogs(ctx, st); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					log.Warn("write node catalogs", "err", err)
					if !sleepCtx(ctx, time.Second) {
						return nil
					}
					continue
				}
				c.builds.Inc()
				c.seconds.Observe(time.Since(start).Seconds())
				done = key
			}
		}
		if !waitAny(ctx, chans, nil, tick.C) {
			return nil
		}
		if !sleepCtx(ctx, catalogDebounce) {
			return nil
		}
	}
}

// writeCatalogs puts the catalog of every node whose hash changed and
// removes the catalog of nodes that hold no role any more, in parallel
// transactions of at most catalogTxnBytes (a catalog larger than etcd's
// request limit fails the write and is logged by the loop).
func (s *Server) writeCatalogs(ctx context.Context, st *catalogState) error {
	c := s.config
	names := make([]string, 0, len(st.records))
	for name := range st.records {
		names = append(names, name)
	}
	sort.Strings(names)
	for name := range c.written {
		if _, ok := st.records[name]; !ok {
			delete(c.written, name) // removed: its assignments went with it
		}
	}
	var unknown []string
	for _, name := range names {
		if w, ok := c.written[name]; !ok || !w.joined.Equal(st.records[name].JoinedAt) {
			unknown = append(unknown, name)
		}
	}
	if err := s.loadWrittenCatalogs(ctx, unknown, st.records); err != nil {
		return err
	}
	// Transactions of at most catalogTxnBytes are committed as they fill,
	// catalogTxns at once, so that only those are held in memory.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(catalogTxns)
	commit := func(ops []clientv3.Op) {
		g.Go(func() error {
			if _, err := s.store.Client().Txn(gctx).Then(ops...).Commit(); err != nil {
				return fmt.Errorf("write %d node catalogs: %w", len(ops), err)
			}
			return nil
		})
	}
	var cur []clientv3.Op
	size := 0
	wrote := map[string]string{}
	puts, dels := 0, 0
	var buildErr error
	for _, name := range names {
		if gctx.Err() != nil {
			break
		}
		cat, _, ok := st.cats.Build(name)
		k := store.AssignPrefix(name) + api.CatalogAssignKey
		if c.written[name].hash == cat.Hash { // "" == "" when it holds none
			continue
		}
		if cat.NodesDigest != "" && cat.NodesDigest != c.nodesWritten {
			// The shared node list goes first: an agent holds it before
			// a catalog that names it.
			if err := s.writeCatalogNodes(ctx, st.cats.Nodes()); err != nil {
				buildErr = err
				break
			}
		}
		op, n := clientv3.OpDelete(k), len(k)
		if ok {
			b, err := json.Marshal(cat)
			if err != nil {
				buildErr = err
				break
			}
			op, n = clientv3.OpPut(k, string(b)), len(k)+len(b)
			puts++
		} else {
			dels++
		}
		if len(cur) > 0 && (size+n > catalogTxnBytes || len(cur) >= catalogTxnOps) {
			commit(cur)
			cur, size = nil, 0
		}
		cur = append(cur, op)
		size += n
		wrote[name] = cat.Hash
	}
	if len(cur) > 0 && buildErr == nil {
		commit(cur)
	}
	err := g.Wait()
	if err == nil {
		err = buildErr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// What was written is read again next time.
		for name := range wrote {
			delete(c.written, name)
		}
		return err
	}
	for name, h := range wrote {
		c.written[name] = writtenCatalog{hash: h, joined: st.records[name].JoinedAt}
	}
	c.puts.Add(float64(puts))
	c.deletes.Add(float64(dels))
	return nil
}

// writeCatalogNodes stores the cluster's node list as a shared assignment:
// one copy in etcd, handed to every agent (catalogs name it by digest).
func (s *Server) writeCatalogNodes(ctx context.Context, nodes api.CatalogNodes) error {
	b, err := json.Marshal(nodes)
	if err != nil {
		return err
	}
	if err := s.store.Assign(ctx, store.SharedAssignNode, api.CatalogNodesAssignKey, b); err != nil {
		return fmt.Errorf("write the node list of catalogs: %w", err)
	}
	s.config.nodesWritten = nodes.Digest
	return nil
}

// loadWrittenCatalogs reads the hash of the catalogs stored for names.
func (s *Server) loadWrittenCatalogs(ctx context.Context, names []string, records map[string]store.NodeRecord) error {
	if len(names) == 0 {
		return nil
	}
	c := s.config
	hashes := make([]string, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(catalogLoads)
	for i, name := range names {
		g.Go(func() error {
			h, err := s.storedCatalog(gctx, name)
			hashes[i] = h.Hash
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, name := range names {
		c.written[name] = writtenCatalog{hash: hashes[i], joined: records[name].JoinedAt}
	}
	return nil
}

// storedCatalog reads the catalog assigned to node (zero when none).
func (s *Server) storedCatalog(ctx context.Context, node string) (api.Catalog, error) {
	k := store.AssignPrefix(node) + api.CatalogAssignKey
	resp, err := s.store.Client().Get(ctx, k)
	if err != nil {
		return api.Catalog{}, fmt.Errorf("read the catalog of %s: %w", node, err)
	}
	var cat api.Catalog
	if len(resp.Kvs) == 0 {
		return cat, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &cat); err != nil {
		return api.Catalog{}, nil // unreadable: written again
	}
	return cat, nil
}

// checkConfigSpec validates what the generic decoding of a Role cannot:
// its resources, their sources and its templates (converge.ValidateRole).
func (s *Server) checkConfigSpec(dec *resource.Decoded) api.FieldErrors {
	if spec, ok := dec.Spec.(*api.RoleSpec); ok {
		return converge.ValidateRole(*spec)
	}
	return nil
}

// reportConverge takes "converge" reports: each one api.ConvergeReport of
// the sending node. They go to the history store; a real (not dry) run's
// outcome becomes a result of the node's "converge" check.
func (s *Server) reportConverge(ctx context.Context, node string, reports []api.Report) (map[uint64]string, error) {
	rejected := map[uint64]string{}
	var rs []api.ConvergeReport
	for _, r := range reports {
		var cr api.ConvergeReport
		if err := json.Unmarshal(r.Data, &cr); err != nil {
			rejected[r.Seq] = fmt.Sprintf("converge report: %v", err)
			continue
		}
		cr.Node = node
		if cr.Started.IsZero() {
			cr.Started = s.cfg.Now().UTC()
		}
		if cr.ID == "" {
			cr.ID = fmt.Sprintf("%s-%d", node, cr.Started.UnixNano())
		} else if !strings.HasPrefix(cr.ID, node+"-") {
			cr.ID = node + "-" + cr.ID // IDs are unique per node; keep nodes apart
		}
		rs = append(rs, cr)
	}
	if err := s.ledger.PutConvergeReports(ctx, rs, 0); err != nil {
		return nil, err
	}
	if s.mon == nil {
		return rejected, nil
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Started.Before(rs[j].Started) })
	for _, cr := range rs {
		if cr.DryRun {
			continue
		}
		res := api.CheckResult{Check: convergeCheck, Entity: node, Executed: cr.Started.Unix(), Duration: cr.Duration.Seconds(),
			Output: fmt.Sprintf("converged: %d changed, %d up to date (report %s)", cr.Totals.Changed, cr.Totals.UpToDate, cr.ID)}
		if cr.Failed() {
			res.Status, res.Output = 2, cr.Error
		}
		if err := s.mon.proc.Submit(ctx, res); err != nil {
			s.log.Warn("submit converge result", "component", "config", "node", node, "report", cr.ID, "err", err)
		}
	}
	return rejected, nil
}

// handleAgentSecrets is POST /agent/v1/secrets: the values of the secrets
// the node's catalog names; asking for any other is refused, naming them.
func (s *Server) handleAgentSecrets(w http.ResponseWriter, r *http.Request, node string) error {
	var req api.SecretsRequest
	if err := decodeAgent(r, &req); err != nil {
		return err
	}
	cat, err := s.storedCatalog(r.Context(), node)
	if err != nil {
		return err
	}
	var refused []string
	for _, n := range req.Names {
		if _, ok := cat.Secrets[n]; !ok {
			refused = append(refused, n)
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return api.Errorf(http.StatusForbidden, "the catalog of node %s uses no secret %s", node, strings.Join(refused, ", "))
	}
	out := api.SecretsResponse{Values: make(map[string]string, len(req.Names))}
	for _, n := range req.Names {
		v, err := s.secretOf(r.Context(), n)
		if err != nil {
			return err
		}
		out.Values[n] = v
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

// secretOf reads and unseals a Secret's value.
func (s *Server) secretOf(ctx context.Context, name string) (string, error) {
	rec, err := s.store.GetResource(ctx, kindSecret, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", api.NotFound("secret", name)
	} else if err != nil {
		return "", err
	}
	raw, err := s.store.PlainSpec(rec)
	if err != nil {
		return "", err
	}
	var sec api.SecretSpec
	if err := json.Unmarshal(raw, &sec); err != nil {
		return "", fmt.Errorf("secret %q: %w", name, err)
	}
	return sec.Value, nil
}

// nodeInfo returns a registered node as selectors see it.
func (s *Server) nodeInfo(name string) (converge.NodeInfo, bool) {
	v, ok := s.nodes.Value(name)
	if !ok {
		return converge.NodeInfo{}, false
	}
	return converge.NodeInfoFrom(v.(store.NodeRecord).API(false)), true
}
