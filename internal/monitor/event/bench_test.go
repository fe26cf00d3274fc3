package event_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/monitor/event"
	"corral/internal/monitor/event/sqlstore"
	"corral/internal/monitor/handler"
)

// TestProcessorPipeHandler runs a failing result through the Processor into
// a real pipe handler, which receives the Sensu event JSON on stdin.
func TestProcessorPipeHandler(t *testing.T) {
	out := filepath.Join(t.TempDir(), "event.json")
	runner := handler.NewRunner(handler.Builtins(handler.Env{}))
	runner.Replace([]api.HandlerSpec{
		{Name: "ops", Type: "set", Handlers: []string{"save"}},
		{Name: "save", Type: "pipe", Command: `cat > "$OUT"`, Env: []string{"OUT=" + out}},
	})
	clk := &clock{t: t0}
	disk := api.CheckSpec{Name: "root-disk", Command: "x", Interval: api.Duration(time.Minute), Handlers: []string{"ops"}}
	cfg := event.Config{Store: event.NewMemStore(), Notifier: runner, Now: clk.Now, Checks: checks(disk)}
	p, err := event.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	if err := p.Submit(ctx, api.CheckResult{Entity: "db-1", Check: "root-disk", Status: 2, Output: "DISK CRITICAL", Executed: t0.Unix()}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Entity struct{ Metadata struct{ Name string } }
		Check  struct {
			Metadata    struct{ Name string }
			Status      int
			Output      string
			Occurrences int
			Handlers    []string
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("stdin %s: %v", b, err)
	}
	if got.Entity.Metadata.Name != "db-1" || got.Check.Metadata.Name != "root-disk" || got.Check.Status != 2 || got.Check.Output != "DISK CRITICAL" || got.Check.Occurrences != 1 {
		t.Errorf("handler got %s", b)
	}
	if ev, _ := p.Get("db-1", "root-disk"); ev.HandlerStatus["save"].LastError != "" || ev.HandlerStatus["save"].LastHandled != t0.Unix() {
		t.Errorf("handler status = %+v", ev.HandlerStatus)
	}
}

type noop struct{}

func (noop) Handle(context.Context, api.HandlerSpec, api.Event) error { return nil }

// BenchmarkProcessorThroughput pushes results of 2,000 entities × 10 checks
// through ingest, event state, silences, filters (every check has a handler
// set) and batched saves to SQLite with the server's settings, and reports
// results/s including the final flush to disk. One check in 100 fails.
func BenchmarkProcessorThroughput(b *testing.B) {
	const entities, checksPer = 2000, 10
	db := openDB(&testing.T{}, filepath.Join(b.TempDir(), "history.db"))
	defer db.Close()
	store, err := sqlstore.New(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	runner := handler.NewRunner(handler.Registry{"pipe": noop{}})
	runner.Replace([]api.HandlerSpec{{Name: "ops", Type: "set", Handlers: []string{"page"}}, {Name: "page", Type: "pipe", Command: "true"}})
	specs := map[string]api.CheckSpec{}
	names := make([]string, checksPer)
	for c := range checksPer {
		names[c] = fmt.Sprintf("check-%d", c)
		specs[names[c]] = api.CheckSpec{Name: names[c], Command: "x", Interval: api.Duration(10 * time.Second), Subscriptions: []string{"linux"}, Handlers: []string{"ops"}}
	}
	ents := make([]string, entities)
	for e := range entities {
		ents[e] = fmt.Sprintf("node-%04d", e)
	}
	sil := event.NewSilences()
	for e := 0; e < entities; e += 20 {
		sil.Put(api.SilenceSpec{Node: ents[e], Check: names[3], CreatedAt: t0})
	}
	p, err := event.New(event.Config{
		Store: store, Notifier: runner, Silences: sil,
		Checks: func(n string) (api.CheckSpec, bool) { s, ok := specs[n]; return s, ok },
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		e, c := (i/checksPer)%entities, i%checksPer
		status := 0
		if (e*checksPer+c)%100 == 7 {
			status = 2
		}
		r := api.CheckResult{Entity: ents[e], Check: names[c], Status: status, Output: "CHECK OK - 12% used|used=12%;80;90", Executed: int64(1_800_000_000 + i/(entities*checksPer)*10), Duration: 0.012}
		if err := p.Submit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	st := p.Stats()
	if st.Processed != uint64(b.N) || st.SaveErrors != 0 {
		b.Fatalf("stats %+v after %d results", st, b.N)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "results/s")
	b.ReportMetric(float64(st.Saved)/float64(b.N), "saves/result")
}

// BenchmarkFailingResultToPipeStart measures from Submit of a failing result
// to the pipe handler's shell running (it opens a FIFO the benchmark reads).
func BenchmarkFailingResultToPipeStart(b *testing.B) {
	fifo := filepath.Join(b.TempDir(), "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		b.Skip("mkfifo:", err)
	}
	runner := handler.NewRunner(handler.Builtins(handler.Env{}))
	runner.Replace([]api.HandlerSpec{{Name: "page", Type: "pipe", Command: `printf x > "$FIFO"; cat > /dev/null`, Env: []string{"FIFO=" + fifo}}})
	spec := api.CheckSpec{Name: "disk", Command: "x", Interval: api.Duration(time.Minute), Handlers: []string{"page"}}
	p, err := event.New(event.Config{Store: event.NewMemStore(), Notifier: runner, Checks: checks(spec)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	buf := make([]byte, 1)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		t := time.Now()
		if err := p.Submit(ctx, api.CheckResult{Entity: fmt.Sprint("node-", i), Check: "disk", Status: 2, Output: "DISK CRITICAL"}); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(fifo) // blocks until the handler opens it
		if err != nil {
			b.Fatal(err)
		}
		f.Read(buf)
		total += time.Since(t)
		f.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/start")
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
