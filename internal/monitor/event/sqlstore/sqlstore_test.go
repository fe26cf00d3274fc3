package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"corral/internal/api"
	"corral/internal/monitor/event"
	"corral/internal/monitor/event/eventtest"
	"corral/internal/monitor/event/sqlstore"
)

func TestStore(t *testing.T) {
	eventtest.TestStore(t, func(t *testing.T) event.Store {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "h.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		// New is idempotent on an existing database.
		if _, err := sqlstore.New(context.Background(), db); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkSave upserts batches of 4,096 distinct events (of 20,000) in one
// transaction each, with the server's settings (WAL, synchronous=FULL), and
// reports events/s written.
func BenchmarkSave(b *testing.B) {
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "h.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := sqlstore.New(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch, total = 4096, 20000
	evs := make([]api.Event, total)
	for i := range evs {
		evs[i] = api.Event{
			Entity: fmt.Sprintf("node-%04d", i/10), Check: fmt.Sprintf("check-%d", i%10), Status: 0, State: api.EventPassing,
			Output: "CHECK OK - 12% used|used=12%;80;90", Occurrences: 10, OccurrencesWatermark: 10, Handlers: []string{"ops"},
			Subscriptions: []string{"linux"}, Interval: api.Duration(10 * time.Second),
		}
		for j := range 21 {
			evs[i].History = append(evs[i].History, api.EventHistory{Status: 0, Executed: 1_800_000_000 + int64(j*10)})
		}
	}
	b.ResetTimer()
	n := 0
	for i := range b.N {
		off := (i * batch) % total
		end := min(off+batch, total)
		if err := s.Save(context.Background(), evs[off:end]); err != nil {
			b.Fatal(err)
		}
		n += end - off
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
