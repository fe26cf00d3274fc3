package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"corral/internal/api"
)

// nginxEntries makes n realistic entries of an nginx access log as the
// agent's parser ships them, one a millisecond from start; one in 1,000
// says "upstream timeout" and one in 100 is task output of app shop/apiN.
func nginxEntries(start time.Time, n int, seed int64) []api.LogEntry {
	r := rand.New(rand.NewSource(seed))
	paths := []string{"/", "/health", "/api/v1/orders", "/api/v1/users/%d", "/static/app.%d.js", "/login", "/cart/checkout", "/search?q=item%d"}
	statuses := []string{"200", "200", "200", "200", "200", "301", "304", "404", "500", "502"}
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"curl/8.5.0", "kube-probe/1.29",
	}
	out := make([]api.LogEntry, n)
	for i := range out {
		ts := start.Add(time.Duration(i) * time.Millisecond)
		if i%100 == 7 {
			app := (i / 100) % 10
			out[i] = api.LogEntry{Time: ts, Node: fmt.Sprintf("node%d", i%5), Source: "task", App: fmt.Sprintf("shop/api%d", app),
				Task: fmt.Sprintf("shop-api%d.%d", app, (i/1000)%3), Stream: "stdout", Level: "info",
				Message: fmt.Sprintf("handled request id=%d in %dms", r.Int63(), r.Intn(900))}
			continue
		}
		p := paths[r.Intn(len(paths))]
		if strings.Contains(p, "%d") {
			p = fmt.Sprintf(p, r.Intn(100000))
		}
		st := statuses[r.Intn(len(statuses))]
		ip := fmt.Sprintf("10.%d.%d.%d", r.Intn(256), r.Intn(256), r.Intn(256))
		ua := agents[r.Intn(len(agents))]
		by := strconv.Itoa(r.Intn(60000))
		msg := fmt.Sprintf(`%s - - [%s] "GET %s HTTP/1.1" %s %s "-" "%s"`, ip, ts.Format("02/Jan/2006:15:04:05 -0700"), p, st, by, ua)
		if i%1000 == 999 {
			msg += " upstream timeout"
		}
		out[i] = api.LogEntry{Time: ts, Node: fmt.Sprintf("node%d", i%5), Source: "file:/var/log/nginx/access.log", Level: "info",
			Message: msg,
			Fields:  map[string]string{"client_ip": ip, "method": "GET", "path": p, "status": st, "bytes": by, "user_agent": ua}}
	}
	return out
}

// cpuTime is the process's user and system CPU time in ns: on this shared
// machine the CPU cost per line says more than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func messageBytes(es []api.LogEntry) int64 {
	var n int64
	for _, e := range es {
		n += int64(len(e.Message)) + 1
	}
	return n
}

// BenchmarkAppend appends nginx entries in batches of 1,000 with an fsync
// per batch, as the server does for an agent's report.
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		sync    bool
		workers int
	}{{true, 1}, {false, 1}, {true, 2}} {
		b.Run(fmt.Sprintf("fsync=%v/workers=%d", c.sync, c.workers), func(b *testing.B) {
			pool := nginxEntries(time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), 100_000, 1)
			s, err := Open(Options{Dir: b.TempDir(), NoSync: !c.sync, IndexWorkers: c.workers})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const batch = 1000
			b.SetBytes(messageBytes(pool[:batch]))
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				k := (i * batch) % len(pool)
				// Shift times so that every batch is newer than the last.
				es := pool[k : k+batch]
				if i >= len(pool)/batch {
					es = append([]api.LogEntry(nil), es...)
					shift := time.Duration(i/(len(pool)/batch)) * 100 * time.Second
					for j := range es {
						es[j].Time = es[j].Time.Add(shift)
					}
				}
				if err := s.Append(context.Background(), es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*batch), "cpu-ns/line")
		})
	}
}

// BenchmarkAppendParallel is BenchmarkAppend with reports of several agents
// at once: their batches share fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	pool := nginxEntries(time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), 100_000, 1)
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 1000
	b.SetBytes(messageBytes(pool[:batch]))
	b.SetParallelism(4) // 4 × GOMAXPROCS concurrent reports
	var next atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			k := (i * batch) % len(pool)
			es := append([]api.LogEntry(nil), pool[k:k+batch]...)
			shift := time.Duration(i/(len(pool)/batch)) * 100 * time.Second
			for j := range es {
				es[j].Time = es[j].Time.Add(shift)
			}
			if err := s.Append(context.Background(), es); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*batch), "cpu-ns/line")
}

// BenchmarkSQLiteFTS5Append is the measurement behind not using SQLite:
// the same entries into one table with app and task indexes and an FTS5
// index on message and field tokens, 1,000 a transaction.
func BenchmarkSQLiteFTS5Append(b *testing.B) {
	pool := nginxEntries(time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), 100_000, 1)
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "l.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE e(id INTEGER PRIMARY KEY, t INTEGER, node TEXT, source TEXT, app TEXT, task TEXT, stream TEXT, level TEXT, message TEXT, fields TEXT)`,
		`CREATE INDEX e_app ON e(app, id)`, `CREATE INDEX e_task ON e(task, id)`,
		`CREATE VIRTUAL TABLE x USING fts5(message, f, content='', tokenize='unicode61 remove_diacritics 0')`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 1000
	b.SetBytes(messageBytes(pool[:batch]))
	b.ResetTimer()
	cpu0 := cpuTime()
	id := 0
	for i := 0; i < b.N; i++ {
		k := (i * batch) % len(pool)
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		ins, _ := tx.Prepare(`INSERT INTO e(id,t,node,source,app,task,stream,level,message,fields) VALUES(?,?,?,?,?,?,?,?,?,?)`)
		fts, _ := tx.Prepare(`INSERT INTO x(rowid, message, f) VALUES(?,?,?)`)
		for _, e := range pool[k : k+batch] {
			id++
			f := ""
			for k, v := range e.Fields {
				f += k + "=" + v + "\x1e"
			}
			if _, err := ins.Exec(id, e.Time.UnixNano(), e.Node, e.Source, e.App, e.Task, e.Stream, e.Level, e.Message, f); err != nil {
				b.Fatal(err)
			}
			if _, err := fts.Exec(id, e.Message, f); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*batch), "cpu-ns/line")
}

// benchStore opens a store of CORRAL_BENCH_LOGS_10M=1 ? 10,000,000 :
// 1,000,000 nginx entries, built once under the temp dir and kept there.
func benchStore(b *testing.B) (*Store, int) {
	n := 1_000_000
	if os.Getenv("CORRAL_BENCH_LOGS_10M") == "1" {
		n = 10_000_000
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("corral-logs-bench-v2-%d", n))
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err != nil {
		os.RemoveAll(dir)
		s, err := Open(Options{Dir: dir, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		t0 := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
		const chunk = 100_000
		for i := 0; i < n; i += chunk {
			es := nginxEntries(t0.Add(time.Duration(i)*time.Millisecond), chunk, int64(i))
			for j := 0; j < chunk; j += 1000 {
				if err := s.Append(context.Background(), es[j:j+1000]); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d entries in %v", n, time.Since(start))
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	return s, n
}

// BenchmarkSearch times the newest 100 matches of typical queries over the
// stored entries.
func BenchmarkSearch(b *testing.B) {
	s, n := benchStore(b)
	defer s.Close()
	b.Logf("store: %+v", s.Stats())
	for _, q := range []string{
		`status:500`, `"timeout"`, `app:shop/api3`, `app:shop/api3 task:shop-api3.1`, `status>=500 -path:/health`,
		`level:info "upstream timeout"`, `app:shop/*`,
		// Rarer matches spread over every segment, and none at all.
		`timeout status:502`, `path:/api/v1/users/9999*`, `bytes>59990`, `nosuchword`,
	} {
		b.Run(fmt.Sprintf("%dM/%s", n/1_000_000, q), func(b *testing.B) {
			got := 0
			for i := 0; i < b.N; i++ {
				r, err := s.Search(context.Background(), Query{Text: q, Limit: 100})
				if err != nil {
					b.Fatal(err)
				}
				got = len(r.Entries)
			}
			b.ReportMetric(float64(got), "entries")
		})
	}
	for _, c := range []struct{ q, field string }{{"", "status"}, {"status>=500", "app"}, {`"upstream timeout"`, "status"}} {
		b.Run(fmt.Sprintf("%dM/count %s by %s", n/1_000_000, c.q, c.field), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := s.Count(context.Background(), Query{Text: c.q}, c.field, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run(fmt.Sprintf("%dM/histogram status:500 by minute", n/1_000_000), func(b *testing.B) {
		t0 := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
		for i := 0; i < b.N; i++ {
			if _, err := s.Histogram(context.Background(), Query{Text: "status:500", Since: t0, Until: t0.Add(time.Duration(n) * time.Millisecond)}, time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}
