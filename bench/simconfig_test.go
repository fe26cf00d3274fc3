package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"corral/internal/api"
)

// configFleet counts the catalogs simulated agents receive on their watch
// streams, as internal/agent would hold them: the newest `config/catalog`
// assignment of each node.
type configFleet struct {
	*fleet
	want int64 // agents that must see the wanted generation

	mu     sync.Mutex
	gen    string                      // the generation being waited for ("" none)
	reach  chan struct{}               // closed when want agents hold gen
	seen   map[string]bool             // agents holding gen
	at     time.Time                   // when want was reached
	lat    []time.Duration             // per agent: wait start → gen received
	start  time.Time                   // wait start
	prog   *progress                   // of seen
	hashes map[string]string           // agent → hash of the catalog it holds
	nodes  map[string]int              // agent → nodes in the shared list its catalog names (hosts in the role)
	lists  map[string]api.CatalogNodes // agent → the shared node list it holds
	named  map[string]string           // agent → the node list digest its catalog names
	gens   map[string]string           // agent → generation of the catalog it holds
	sizes  map[string]int              // agent → bytes of the catalog it holds
	bad    atomic.Int64                // catalogs that did not decode or named another node
	puts   atomic.Int64                // catalog puts received
	dels   atomic.Int64                // catalog deletes received
}

// benchGenAttr is the role attribute whose value names a generation of the
// benchmark's role.
const benchGenAttr = "bench_generation"

func newConfigFleet(want int) *configFleet {
	return &configFleet{fleet: &fleet{}, want: int64(want), hashes: map[string]string{},
		nodes: map[string]int{}, gens: map[string]string{}, sizes: map[string]int{},
		lists: map[string]api.CatalogNodes{}, named: map[string]string{}}
}

// expect starts waiting for gen: the returned channel is closed when want
// agents hold a catalog of that generation (those that already do count).
func (cf *configFleet) expect(gen string, start time.Time) <-chan struct{} {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.gen, cf.start, cf.at = gen, start, time.Time{}
	cf.reach, cf.seen, cf.lat = make(chan struct{}), map[string]bool{}, nil
	cf.prog = &progress{total: cf.want}
	cf.prog.begin(start)
	for a, g := range cf.gens {
		if g == gen && cf.usableLocked(a) {
			cf.noteLocked(a, time.Now())
		}
	}
	return cf.reach
}

// noteLocked counts agent a as holding the wanted generation.
func (cf *configFleet) noteLocked(a string, now time.Time) {
	if cf.seen[a] {
		return
	}
	cf.seen[a] = true
	cf.lat = append(cf.lat, now.Sub(cf.start))
	n := int64(len(cf.seen))
	cf.prog.note(n)
	if n == cf.want {
		cf.at = now
		close(cf.reach)
	}
}

// usableLocked reports whether agent a holds the node list its catalog
// names (or its catalog names none): only then can it converge.
func (cf *configFleet) usableLocked(a string) bool {
	d := cf.named[a]
	return d == "" || cf.lists[a].Digest == d
}

// take records one catalog or node list assignment of agent a.
func (cf *configFleet) take(a string, as api.Assignment) error {
	now := time.Now()
	if as.Key == api.CatalogNodesAssignKey && as.Type == "put" {
		var cn api.CatalogNodes
		if err := json.Unmarshal(as.Value, &cn); err != nil {
			cf.bad.Add(1)
			return fmt.Errorf("node list of %s: %w", a, err)
		}
		cf.mu.Lock()
		defer cf.mu.Unlock()
		cf.lists[a] = cn
		if cf.named[a] == cn.Digest {
			cf.nodes[a] = len(cn.Nodes)
		}
		if cf.gen != "" && cf.gens[a] == cf.gen && cf.usableLocked(a) {
			cf.noteLocked(a, now)
		}
		return nil
	}
	if as.Key != api.CatalogAssignKey {
		return nil
	}
	if as.Type != "put" {
		cf.dels.Add(1)
		cf.mu.Lock()
		delete(cf.gens, a)
		delete(cf.hashes, a)
		cf.mu.Unlock()
		return nil
	}
	cf.puts.Add(1)
	var c api.Catalog
	if err := json.Unmarshal(as.Value, &c); err != nil {
		cf.bad.Add(1)
		return fmt.Errorf("catalog of %s: %w", a, err)
	}
	if c.Node != a || c.Hash == "" {
		cf.bad.Add(1)
		return fmt.Errorf("catalog of %s names node %q, hash %q", a, c.Node, c.Hash)
	}
	gen, _ := c.Attributes[benchGenAttr].(string)
	cf.mu.Lock()
	defer cf.mu.Unlock()
	cf.hashes[a], cf.gens[a], cf.sizes[a], cf.named[a] = c.Hash, gen, len(as.Value), c.NodesDigest
	cf.nodes[a] = 0
	if l := cf.lists[a]; c.NodesDigest != "" && l.Digest == c.NodesDigest {
		cf.nodes[a] = len(l.Nodes)
	}
	if cf.gen != "" && gen == cf.gen && cf.usableLocked(a) {
		cf.noteLocked(a, now)
	}
	return nil
}

// result returns when the wanted generation was reached (zero when not),
// how many agents hold it and their latencies.
func (cf *configFleet) result() (time.Time, int, []time.Duration) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.at, len(cf.seen), append([]time.Duration(nil), cf.lat...)
}

// catalogShape returns the mean size in bytes of the catalogs the agents
// hold, the most Nodes one holds and the number of distinct hashes.
func (cf *configFleet) catalogShape() (meanBytes int, maxNodes int, distinct int) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	total := 0
	for _, s := range cf.sizes {
		total += s
	}
	if len(cf.sizes) > 0 {
		meanBytes = total / len(cf.sizes)
	}
	for _, n := range cf.nodes {
		maxNodes = max(maxNodes, n)
	}
	hs := map[string]bool{}
	for _, h := range cf.hashes {
		hs[h] = true
	}
	return meanBytes, maxNodes, len(hs)
}

// joinConfigFleet joins n simulated agents (labels role=web and a zone)
// through joinWorkers workers and starts their heartbeats and watches,
// which hand every catalog to cf; they run under agents until ctx ends.
// It returns how many joined and the errors of the others.
func joinConfigFleet(ctx context.Context, s *Server, token string, n int, cf *configFleet, agents *sync.WaitGroup) (int, []error) {
	epoch := time.Now()
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []error
	var workers sync.WaitGroup
	for range joinWorkers {
		workers.Go(func() {
			for i := range jobs {
				name := fmt.Sprintf("cfg-%05d", i)
				a, err := joinSim(ctx, s.Agent, token, name)
				var interval time.Duration
				if err == nil {
					interval, err = a.hello(ctx, i)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				if interval <= 0 {
					interval = 5 * time.Second
				}
				phase := time.Duration(i) * interval / time.Duration(n)
				agents.Go(func() {
					var wg sync.WaitGroup
					wg.Go(func() {
						a.watch(ctx, cf.fleet, func(as api.Assignment) error { return cf.take(a.name, as) })
					})
					a.heartbeats(ctx, cf.fleet, epoch, phase, interval)
					wg.Wait()
					a.close()
				})
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	workers.Wait()
	return n - len(errs), errs
}

// benchRoleDocs are the documents of the benchmark's configuration: the
// issue's base and web roles, with the generation gen as a role attribute,
// and a NodeRoles giving both to every node labelled role=web. Without
// nodes, base has no hosts resource and web's template reads attributes
// instead of querying the cluster, so that catalogs hold no node list;
// with nodes, they are the roles as written and every catalog
// holds every node.
func benchRoleDocs(gen string, nodes bool) []api.Document {
	tmpl := "upstream app {\n  server {{ .Attributes.upstream }}:8080;\n}\n"
	if nodes {
		tmpl = "upstream app {\n{{ range nodes \"role=api\" }}  server {{ .PrivateIP }}:8080;\n{{ end }}}\n"
	}
	base := []map[string]any{
		{"package": map[string]any{"name": []string{"curl", "htop"}}},
		{"user": map[string]any{"name": "deploy", "shell": "/bin/bash", "home": "/home/deploy"}},
		{"file": map[string]any{"path": "/etc/motd", "content": "Managed by corral (" + gen + ")\n", "mode": "0644"}},
		{"cron": map[string]any{"name": "backup", "schedule": "0 3 * * *", "user": "root", "command": "/usr/local/bin/backup", "checkin": "backup-ran"}},
	}
	if nodes {
		base = append([]map[string]any{{"hosts": map[string]any{}}}, base...)
	}
	return []api.Document{
		{Source: "bench", Body: map[string]any{"kind": "Role", "name": "base",
			"attributes": map[string]any{"ntp_server": "pool.ntp.org", "upstream": "10.0.0.1", benchGenAttr: gen}, "resources": base}},
		{Source: "bench", Body: map[string]any{"kind": "Role", "name": "web",
			"resources": []map[string]any{
				{"package": map[string]any{"name": "nginx"}},
				{"template": map[string]any{"path": "/etc/nginx/conf.d/upstream.conf", "source": "upstream.conf.tmpl",
					"notify": []string{"restart service nginx"}}},
				{"service": map[string]any{"name": "nginx", "enabled": true, "running": true}},
				{"exec": map[string]any{"command": "/usr/local/bin/warm-cache", "creates": "/var/cache/warm.done"}},
			},
			"files": map[string]string{"upstream.conf.tmpl": tmpl},
		}},
		{Source: "bench", Body: map[string]any{"kind": "Environment", "name": "production", "attributes": map[string]any{"log_level": "warn"}}},
		{Source: "bench", Body: map[string]any{"kind": "NodeRoles", "selector": map[string]string{"role": "web"},
			"roles": []string{"base", "web"}, "environment": "production"}},
	}
}
