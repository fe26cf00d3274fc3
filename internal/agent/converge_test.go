package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/converge"
)

// syncBuffer is a bytes.Buffer safe for the loggers of several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// convergeNode is one simulated node for the converge loop: the
// assignments the watch would hold, a temp root and data dir, the reports
// sent and the secrets the fake server hands out. Agent restarts share it.
type convergeNode struct {
	t    *testing.T
	root string
	dir  string
	rep  *reports
	logs *syncBuffer

	mu      sync.Mutex
	catalog json.RawMessage
	run     json.RawMessage
	nodes   json.RawMessage // the shared node list (config/nodes)
	synced  bool
	wake    chan struct{}

	secrets      map[string]string
	secretCalls  atomic.Int32
	secretsAsked [][]string

	// opts adjusts the options of the next start.
	opts func(o *convergeOptions)
}

func newConvergeNode(t *testing.T) *convergeNode {
	return &convergeNode{t: t, root: t.TempDir(), dir: t.TempDir(), rep: &reports{}, logs: &syncBuffer{},
		wake: make(chan struct{}, 1), secrets: map[string]string{}}
}

func (n *convergeNode) read() convergeInputs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return convergeInputs{catalog: n.catalog, run: n.run, nodes: n.nodes, synced: n.synced}
}

// set changes the assignments and wakes the loop, as the watch does.
func (n *convergeNode) set(f func()) {
	n.mu.Lock()
	f()
	n.synced = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *convergeNode) setCatalog(c *api.Catalog) {
	n.set(func() {
		if c == nil {
			n.catalog = nil
			return
		}
		n.catalog = raw(n.t, c)
	})
}

func (n *convergeNode) request(nonce string, dry bool) {
	n.set(func() { n.run = raw(n.t, api.ConvergeRequest{Nonce: nonce, DryRun: dry, By: "admin", At: time.Now()}) })
}

// start runs a converge loop on the node until the returned stop.
func (n *convergeNode) start() (stop func()) {
	n.t.Helper()
	opt := convergeOptions{
		Node: "node-1", Labels: map[string]string{"role": "web"}, Root: n.root,
		StateFile: filepath.Join(n.dir, convergeStateFile), Report: n.rep.add,
		Secrets: func(ctx context.Context, names []string) (map[string]string, error) {
			n.secretCalls.Add(1)
			n.mu.Lock()
			defer n.mu.Unlock()
			n.secretsAsked = append(n.secretsAsked, names)
			out := map[string]string{}
			for _, name := range names {
				out[name] = n.secrets[name]
			}
			return out, nil
		},
		Facts:    func(context.Context) api.Facts { return api.Facts{Hostname: "host-1", PrivateIP: "10.0.0.1"} },
		Exec:     &blockingExec{},
		NoSync:   true,
		Debounce: 20 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if n.opts != nil {
		n.opts(&opt)
	}
	c := newConverger(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, n.wake, n.read) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				n.t.Error(err)
			}
		})
	}
	n.t.Cleanup(stop)
	return stop
}

// converges are the converge reports sent, in order.
func (r *reports) converges(t testing.TB) []api.ConvergeReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []api.ConvergeReport
	for _, rec := range r.recs {
		if rec.typ != "converge" {
			continue
		}
		var rep api.ConvergeReport
		if err := json.Unmarshal(rec.data, &rep); err != nil {
			t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}

// waitConverges waits for n converge reports and returns them.
func (n *convergeNode) waitConverges(want int) []api.ConvergeReport {
	n.t.Helper()
	var got []api.ConvergeReport
	deadline := time.Now().Add(20 * time.Second)
	for got = n.rep.converges(n.t); len(got) < want; got = n.rep.converges(n.t) {
		if time.Now().After(deadline) {
			n.t.Fatalf("timed out waiting for %d converge reports; have %s\nlogs:\n%s", want, describe(got), n.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return got
}

func describe(reps []api.ConvergeReport) string {
	var s []string
	for _, r := range reps {
		d := ""
		if r.DryRun {
			d = " dry"
		}
		s = append(s, r.Trigger+d+" nonce="+r.Nonce+" hash="+r.CatalogHash+" err="+r.Error)
	}
	return "[" + strings.Join(s, "; ") + "]"
}

func (n *convergeNode) readRoot(p string) string {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.root, p))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}

func (n *convergeNode) writeRoot(p, content string) {
	n.t.Helper()
	if err := os.WriteFile(filepath.Join(n.root, p), []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// testCatalog is a catalog of role "base" with resources given as JSON
// one-key maps.
func testCatalog(t testing.TB, hash string, resources ...string) *api.Catalog {
	c := &api.Catalog{Node: "node-1", Roles: []string{"base"}, Hash: hash, Attributes: map[string]any{"greeting": "hello"}}
	for _, r := range resources {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatalf("bad test resource %s: %v", r, err)
		}
		c.Resources = append(c.Resources, api.CatalogResource{Role: "base", Resource: m})
	}
	return c
}

// blockingExec runs no command; one whose text contains "block" waits
// until release is closed. It records how many commands ran at once.
type blockingExec struct {
	started chan struct{} // closed when a blocking command started
	release chan struct{}
	mu      sync.Mutex
	running int
	maxRun  int
	calls   []string
}

func (b *blockingExec) Run(ctx context.Context, c converge.Command) (converge.CommandResult, error) {
	b.mu.Lock()
	b.running++
	b.maxRun = max(b.maxRun, b.running)
	b.calls = append(b.calls, c.String())
	block := strings.Contains(c.String(), "block") && b.release != nil
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.mu.Unlock()
	}()
	if block {
		select {
		case <-b.started:
		default:
			close(b.started)
		}
		select {
		case <-b.release:
		case <-ctx.Done():
		}
	}
	return converge.CommandResult{}, nil
}

func TestConvergeOnStartAndOnChange(t *testing.T) {
	n := newConvergeNode(t)
	if err := os.MkdirAll(filepath.Join(n.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Nothing runs before the watch has synced.
	n.mu.Lock()
	n.catalog = raw(t, testCatalog(t, "h1", `{"file": {"path": "/etc/motd", "content": "one\n"}}`))
	n.mu.Unlock()
	n.start()
	n.set(func() {}) // the sync
	reps := n.waitConverges(1)
	r := reps[0]
	if r.Trigger != triggerStart || r.Node != "node-1" || r.CatalogHash != "h1" || !slices.Equal(r.Roles, []string{"base"}) ||
		!strings.HasPrefix(r.ID, "node-1-") || r.Totals != (api.ConvergeTotals{Changed: 1}) || r.Failed() || r.DryRun {
		t.Errorf("start report %+v", r)
	}
	if got := n.readRoot("etc/motd"); got != "one\n" {
		t.Errorf("motd %q", got)
	}
	// The same catalog again (a re-snapshot) is not a change.
	n.setCatalog(testCatalog(t, "h1", `{"file": {"path": "/etc/motd", "content": "one\n"}}`))
	n.setCatalog(testCatalog(t, "h2", `{"template": {"path": "/etc/motd", "content": "{{ .Attributes.greeting }} from {{ .Node.Name }} at {{ .Node.PrivateIP }}\n"}}`))
	reps = n.waitConverges(2)
	if r := reps[1]; r.Trigger != triggerChange || r.CatalogHash != "h2" || r.Totals.Changed != 1 || r.Failed() {
		t.Errorf("change report %+v", r)
	}
	if got, want := n.readRoot("etc/motd"), "hello from node-1 at 10.0.0.1\n"; got != want {
		t.Errorf("motd %q, want %q", got, want)
	}
	// A removed catalog: nothing to do; a request still gets an (empty)
	// report naming its nonce.
	n.setCatalog(nil)
	n.request("r1", false)
	reps = n.waitConverges(3)
	if r := reps[2]; r.Trigger != triggerManual || r.Nonce != "r1" || len(r.Resources) != 0 || r.Failed() || r.CatalogHash != "" {
		t.Errorf("report without a catalog %+v", r)
	}
	if len(reps) != 3 {
		t.Errorf("reports %s", describe(reps))
	}
}

// TestConvergeSharedNodes: a catalog that names a node list waits for the
// shared list with that digest, and its hosts resource lists those nodes.
func TestConvergeSharedNodes(t *testing.T) {
	n := newConvergeNode(t)
	if err := os.MkdirAll(filepath.Join(n.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	list := func(digest string, names ...string) json.RawMessage {
		cn := api.CatalogNodes{Digest: digest}
		for i, name := range names {
			cn.Nodes = append(cn.Nodes, api.CatalogNode{Name: name, Hostname: name + ".lan", PrivateIP: fmt.Sprintf("10.1.0.%d", i+1)})
		}
		return raw(t, cn)
	}
	cat := testCatalog(t, "h1", `{"hosts": {}}`)
	cat.NodesDigest = "d2"
	n.mu.Lock()
	n.catalog = raw(t, cat)
	n.nodes = list("d1", "node-1") // an older list: the catalog waits
	n.mu.Unlock()
	n.start()
	n.set(func() {})
	time.Sleep(300 * time.Millisecond)
	if got := len(n.rep.converges(t)); got != 0 {
		t.Fatalf("%d runs before the node list the catalog names arrived", got)
	}
	n.set(func() { n.nodes = list("d2", "node-1", "node-2") })
	reps := n.waitConverges(1)
	if r := reps[0]; r.Failed() || r.Totals.Changed != 1 {
		t.Fatalf("report %+v", r)
	}
	hosts := n.readRoot("etc/hosts")
	for _, want := range []string{"10.1.0.1\tnode-1.lan node-1", "10.1.0.2\tnode-2.lan node-2"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
	}
}

// TestConvergeRequestOnce: a converge request runs once; after a restart
// its nonce does not run again, a new one does.
func TestConvergeRequestOnce(t *testing.T) {
	n := newConvergeNode(t)
	cat := testCatalog(t, "h1", `{"file": {"path": "/motd", "content": "x\n"}}`)
	n.mu.Lock()
	n.catalog = raw(t, cat)
	n.run = raw(t, api.ConvergeRequest{Nonce: "n1"})
	n.synced = true
	n.mu.Unlock()
	stop := n.start()
	reps := n.waitConverges(1)
	// The start run and the request were both waiting: one run.
	if r := reps[0]; r.Trigger != triggerManual || r.Nonce != "n1" || r.Totals.Changed != 1 {
		t.Errorf("first report %+v", r)
	}
	n.request("n2", false)
	reps = n.waitConverges(2)
	if r := reps[1]; r.Nonce != "n2" || r.Totals != (api.ConvergeTotals{UpToDate: 1}) {
		t.Errorf("second report %+v", r)
	}
	stop()

	// A restart sees the same nonce and runs for the start only.
	n.start()
	reps = n.waitConverges(3)
	if r := reps[2]; r.Trigger != triggerStart || r.Nonce != "" {
		t.Errorf("after restart %+v", r)
	}
	n.request("n3", true)
	reps = n.waitConverges(4)
	if r := reps[3]; r.Nonce != "n3" || !r.DryRun || r.Trigger != triggerManual {
		t.Errorf("new request after restart %+v", r)
	}
	if len(reps) != 4 {
		t.Errorf("reports %s", describe(reps))
	}
	if st := string(mustRead(t, filepath.Join(n.dir, convergeStateFile))); !strings.Contains(st, `"n3"`) {
		t.Errorf("state file %s", st)
	}
}

func TestConvergeDryRunChangesNothing(t *testing.T) {
	n := newConvergeNode(t)
	n.setCatalog(testCatalog(t, "h1",
		`{"file": {"path": "/app.conf", "content": "port 80\n", "mode": "0644"}}`,
		`{"link": {"path": "/current", "to": "/srv/v1"}}`))
	n.start()
	n.waitConverges(1)
	n.writeRoot("app.conf", "port 8080\n")
	if err := os.Remove(filepath.Join(n.root, "current")); err != nil {
		t.Fatal(err)
	}
	n.request("dry1", true)
	reps := n.waitConverges(2)
	r := reps[1]
	if !r.DryRun || r.Nonce != "dry1" || r.Totals != (api.ConvergeTotals{Changed: 2}) {
		t.Fatalf("dry run report %+v", r)
	}
	if d := r.Resources[0].Diff; !strings.Contains(d, "-port 8080") || !strings.Contains(d, "+port 80") {
		t.Errorf("diff %q", d)
	}
	if got := n.readRoot("app.conf"); got != "port 8080\n" {
		t.Errorf("dry run changed app.conf: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(n.root, "current")); err == nil {
		t.Error("dry run made the link")
	}
}

func TestNextInterval(t *testing.T) {
	quarter := func(n int64) int64 { return n / 4 }
	tests := []struct {
		name            string
		interval, splay time.Duration
		want            time.Duration
		wantOK          bool
	}{
		{"interval plus random splay", 30 * time.Minute, 5 * time.Minute, 30*time.Minute + 75*time.Second, true},
		{"no splay", 10 * time.Minute, 0, 10 * time.Minute, true},
		{"no interval: never", 0, 5 * time.Minute, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextInterval(tt.interval, tt.splay, quarter)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %s %v, want %s %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	// The random delay is below the splay.
	for range 1000 {
		if d, _ := nextInterval(time.Minute, time.Second, newConverger(convergeOptions{}).opt.Rand); d < time.Minute || d >= time.Minute+time.Second {
			t.Fatalf("delay %s out of [1m, 1m1s)", d)
		}
	}
}

func TestConvergeInterval(t *testing.T) {
	n := newConvergeNode(t)
	fa := newFakeAfter()
	n.opts = func(o *convergeOptions) {
		o.Interval, o.Splay = 30*time.Minute, 5*time.Minute
		o.Rand = func(n int64) int64 { return n / 5 }
		o.After = fa.After
	}
	n.setCatalog(testCatalog(t, "h1", `{"file": {"path": "/motd", "content": "x\n"}}`))
	n.start()
	n.waitConverges(1)
	if d := waitAsked(t, fa); d != 31*time.Minute {
		t.Errorf("first periodic run in %s, want 31m", d)
	}
	fa.fire <- time.Now()
	reps := n.waitConverges(2)
	if r := reps[1]; r.Trigger != triggerInterval || r.Totals != (api.ConvergeTotals{UpToDate: 1}) {
		t.Errorf("interval report %+v", r)
	}
	if d := waitAsked(t, fa); d != 31*time.Minute {
		t.Errorf("next periodic run in %s, want 31m", d)
	}
	// A dry run does not move the timer.
	n.request("d", true)
	n.waitConverges(3)
	select {
	case d := <-fa.asked:
		t.Errorf("a dry run set the timer (%s)", d)
	default:
	}
}

func TestRunQueue(t *testing.T) {
	tests := []struct {
		name string
		add  []runRequest
		want []runRequest
	}{
		{"runs coalesce, keeping the first trigger",
			[]runRequest{{Trigger: "start"}, {Trigger: "change"}, {Trigger: "interval"}},
			[]runRequest{{Trigger: "start"}}},
		{"a requested run takes over a waiting one",
			[]runRequest{{Trigger: "change"}, {Trigger: "manual", Nonce: "a"}, {Trigger: "drift"}},
			[]runRequest{{Trigger: "manual", Nonce: "a"}}},
		{"two requests stay apart",
			[]runRequest{{Trigger: "manual", Nonce: "a"}, {Trigger: "manual", Nonce: "b"}, {Trigger: "change"}},
			[]runRequest{{Trigger: "manual", Nonce: "a"}, {Trigger: "manual", Nonce: "b"}}},
		{"dry runs are apart from runs",
			[]runRequest{{Trigger: "change"}, {Trigger: "manual", Nonce: "a", DryRun: true}},
			[]runRequest{{Trigger: "change"}, {Trigger: "manual", Nonce: "a", DryRun: true}}},
		{"drift reports join, restricted to the union",
			[]runRequest{{Trigger: "drift", DryRun: true, Only: []string{"file[/a]"}}, {Trigger: "drift", DryRun: true, Only: []string{"file[/b]", "file[/a]"}}},
			[]runRequest{{Trigger: "drift", DryRun: true, Only: []string{"file[/a]", "file[/b]"}}}},
		{"a full dry run covers a drift report",
			[]runRequest{{Trigger: "drift", DryRun: true, Only: []string{"file[/a]"}}, {Trigger: "manual", Nonce: "x", DryRun: true}},
			[]runRequest{{Trigger: "manual", Nonce: "x", DryRun: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q runQueue
			for _, r := range tt.add {
				q.add(r)
			}
			var got []runRequest
			for r, ok := q.next(); ok; r, ok = q.next() {
				got = append(got, r)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestConvergeOneRunAtATime holds a run while requests and a catalog
// change arrive: they wait, and coalesce.
func TestConvergeOneRunAtATime(t *testing.T) {
	n := newConvergeNode(t)
	ex := &blockingExec{started: make(chan struct{}), release: make(chan struct{})}
	n.opts = func(o *convergeOptions) { o.Exec = ex }
	n.setCatalog(testCatalog(t, "h1", `{"exec": {"command": "block"}}`))
	n.start()
	select {
	case <-ex.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the start run did not begin")
	}
	// The watch keeps only the newest request: each is read before the
	// next, as requests minutes apart would be.
	seen := func(nonce string) {
		eventually(t, "the loop read request "+nonce, func() bool {
			b, err := os.ReadFile(filepath.Join(n.dir, convergeStateFile))
			return err == nil && strings.Contains(string(b), `"`+nonce+`"`)
		})
	}
	n.request("a", false)
	seen("a")
	n.setCatalog(testCatalog(t, "h2", `{"exec": {"command": "block"}}`, `{"file": {"path": "/f", "content": "f\n"}}`))
	n.setCatalog(testCatalog(t, "h3", `{"exec": {"command": "block"}}`, `{"file": {"path": "/f", "content": "g\n"}}`))
	n.request("b", false)
	seen("b")
	close(ex.release)
	reps := n.waitConverges(3)
	want := []string{"start nonce= hash=h1 err=", "manual nonce=a hash=h3 err=", "manual nonce=b hash=h3 err="}
	var got []string
	for _, r := range reps {
		got = append(got, strings.Trim(describe([]api.ConvergeReport{r}), "[]"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("runs\n got %q\nwant %q", got, want)
	}
	if n.readRoot("f") != "g\n" {
		t.Error("the coalesced run did not use the newest catalog")
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.maxRun != 1 {
		t.Errorf("%d commands ran at once", ex.maxRun)
	}
}

// TestConvergeSecrets: the values are fetched when the catalog's Secrets
// change, used in templates, and never in a report, a log line or a file
// of the agent's data dir.
func TestConvergeSecrets(t *testing.T) {
	n := newConvergeNode(t)
	n.secrets["db-password"] = "s3cret-v1"
	tmpl := func(hash string, version int64, extra string) *api.Catalog {
		c := testCatalog(t, hash, `{"template": {"path": "/db.conf", "source": "base/db.conf.tmpl"}}`,
			`{"file": {"path": "/other", "content": "`+extra+`\n"}}`)
		c.Files = map[string]string{"base/db.conf.tmpl": "user app\npassword {{ secret \"db-password\" }}\n"}
		c.Secrets = map[string]int64{"db-password": version}
		return c
	}
	n.setCatalog(tmpl("h1", 1, "a"))
	n.start()
	reps := n.waitConverges(1)
	if reps[0].Failed() {
		t.Fatal(reps[0].Error)
	}
	if got := n.readRoot("db.conf"); got != "user app\npassword s3cret-v1\n" {
		t.Errorf("db.conf %q", got)
	}
	// Another catalog with the same secret versions: no fetch.
	n.setCatalog(tmpl("h2", 1, "b"))
	n.waitConverges(2)
	if c := n.secretCalls.Load(); c != 1 {
		t.Errorf("%d fetches after a change that kept the secrets, want 1", c)
	}
	// A new version of the secret: fetched again, and the file changes.
	n.secrets["db-password"] = "s3cret-v2"
	n.setCatalog(tmpl("h3", 2, "b"))
	reps = n.waitConverges(3)
	if c := n.secretCalls.Load(); c != 2 {
		t.Errorf("%d fetches, want 2", c)
	}
	if got := n.readRoot("db.conf"); got != "user app\npassword s3cret-v2\n" {
		t.Errorf("db.conf %q", got)
	}
	if !slices.Equal(n.secretsAsked[1], []string{"db-password"}) {
		t.Errorf("asked for %v", n.secretsAsked)
	}
	if d := reps[2].Resources[0].Diff; reps[2].Resources[0].Status != api.StatusChanged || !strings.Contains(d, "redacted") {
		t.Errorf("template result %+v", reps[2].Resources[0])
	}
	n.request("dry", true)
	n.waitConverges(4)
	for _, v := range []string{"s3cret-v1", "s3cret-v2"} {
		n.rep.mu.Lock()
		for _, rec := range n.rep.recs {
			if bytes.Contains(rec.data, []byte(v)) {
				t.Errorf("a %s report holds the secret: %s", rec.typ, rec.data)
			}
		}
		n.rep.mu.Unlock()
		if strings.Contains(n.logs.String(), v) {
			t.Errorf("the log holds the secret:\n%s", n.logs.String())
		}
		filepath.WalkDir(n.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(string(mustRead(t, p)), v) {
				t.Errorf("%s holds the secret", p)
			}
			return nil
		})
	}
}

// TestConvergeDrift: a managed file changed by hand is converged again
// (repair) or reported by a dry run of its resource (report); the
// agent's own writes are not drift.
func TestConvergeDrift(t *testing.T) {
	n := newConvergeNode(t)
	n.opts = func(o *convergeOptions) { o.Watch = true }
	if err := os.MkdirAll(filepath.Join(n.root, "etc/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.setCatalog(testCatalog(t, "h1",
		`{"file": {"path": "/etc/motd", "content": "managed\n"}}`,
		`{"file": {"path": "/etc/app/app.conf", "content": "port 80\n", "drift": "report"}}`,
		`{"file": {"path": "/etc/app/free.conf", "content": "free\n", "drift": "ignore"}}`))
	n.start()
	if r := n.waitConverges(1)[0]; r.Totals.Changed != 3 {
		t.Fatalf("start %+v", r)
	}
	// The run's own writes are no drift: the next report is the request's.
	n.request("r1", false)
	if r := n.waitConverges(2)[1]; r.Nonce != "r1" {
		t.Fatalf("reports %s", describe(n.rep.converges(t)))
	}

	// repair: an edit of /etc/motd (an editor's rename over it) is undone.
	tmp := filepath.Join(n.root, "etc/.motd.swp")
	n.writeRoot("etc/.motd.swp", "edited by hand\n")
	if err := os.Rename(tmp, filepath.Join(n.root, "etc/motd")); err != nil {
		t.Fatal(err)
	}
	r := n.waitConverges(3)[2]
	if r.Trigger != triggerDrift || r.DryRun || r.Totals != (api.ConvergeTotals{Changed: 1, UpToDate: 2}) {
		t.Errorf("drift repair %+v", r)
	}
	if got := n.readRoot("etc/motd"); got != "managed\n" {
		t.Errorf("motd %q after repair", got)
	}

	// report: a dry run of that resource only, with the diff; the file
	// keeps the edit.
	n.writeRoot("etc/app/app.conf", "port 8080\n")
	r = n.waitConverges(4)[3]
	if r.Trigger != triggerDrift || !r.DryRun || len(r.Resources) != 1 || r.Resources[0].Name != "/etc/app/app.conf" ||
		r.Resources[0].Status != api.StatusChanged || !strings.Contains(r.Resources[0].Diff, "-port 8080") {
		t.Errorf("drift report %+v", r)
	}
	if got := n.readRoot("etc/app/app.conf"); got != "port 8080\n" {
		t.Errorf("app.conf %q after a report", got)
	}

	// ignore: nothing; the next report is the request's, and it repairs
	// what was reported and the ignored file too.
	n.writeRoot("etc/app/free.conf", "mine\n")
	n.request("r2", false)
	reps := n.waitConverges(5)
	if r := reps[4]; r.Nonce != "r2" || r.Totals != (api.ConvergeTotals{Changed: 2, UpToDate: 1}) {
		t.Errorf("reports %s; last %+v", describe(reps), r)
	}
	// And that run's writes are not drift either.
	n.request("r3", false)
	if reps := n.waitConverges(6); reps[5].Nonce != "r3" || len(reps) != 6 {
		t.Errorf("reports %s", describe(reps))
	}
}

func TestConvergeFactsCached(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	c := newConverger(convergeOptions{Now: func() time.Time { return now }, Facts: func(context.Context) api.Facts {
		calls++
		return api.Facts{Hostname: "h", CPUs: calls}
	}})
	steps := []struct {
		advance   time.Duration
		wantCalls int
	}{{0, 1}, {time.Minute, 1}, {convergeFactsMaxAge - time.Minute - time.Second, 1}, {time.Second, 2}, {time.Second, 2}, {-time.Hour, 3}}
	for i, s := range steps {
		now = now.Add(s.advance)
		f := c.facts(context.Background())
		if calls != s.wantCalls || f.CPUs != s.wantCalls {
			t.Errorf("step %d: %d collections (facts of #%d), want %d", i, calls, f.CPUs, s.wantCalls)
		}
	}
}
