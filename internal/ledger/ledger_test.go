package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

func openTest(t testing.TB, path string) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func seed(t *testing.T, l *Ledger) {
	t.Helper()
	entries := []api.AuditEntry{
		{Actor: "alice", Action: "POST /api/v1/tokens", Target: "ci", Status: 201, Result: "ok"},
		{Actor: "bob", Action: "POST /api/v1/apply", Target: "app/web", Status: 200, Result: "ok"},
		{Actor: "alice", Action: "DELETE /api/v1/tokens/abc", Target: "abc", Status: 404, Result: `token "abc" not found`},
		{Actor: "carol", Action: "POST /api/v1/nodes/n1/drain", Target: "n1", Status: 200, Result: "ok", RemoteIP: "10.0.0.9"},
		{Actor: "alice", Action: "POST /api/v1/apply", Target: "role/web_100%", Status: 200, Result: "ok"},
	}
	for i, e := range entries {
		e.Time = t0.Add(time.Duration(i) * time.Minute)
		id, err := l.AppendAudit(context.Background(), e)
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if id != int64(i+1) {
			t.Fatalf("id = %d, want %d", id, i+1)
		}
	}
}

func ids(es []api.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func TestListAudit(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	seed(t, l)
	tests := []struct {
		name string
		q    AuditQuery
		want []int64
	}{
		{"all newest first", AuditQuery{}, []int64{5, 4, 3, 2, 1}},
		{"actor exact", AuditQuery{Actor: "alice"}, []int64{5, 3, 1}},
		{"actor not substring", AuditQuery{Actor: "ali"}, []int64{}},
		{"action substring", AuditQuery{Action: "tokens"}, []int64{3, 1}},
		{"action case-insensitive", AuditQuery{Action: "apply"}, []int64{5, 2}},
		{"action exact", AuditQuery{Action: "POST /api/v1/apply"}, []int64{5, 2}},
		{"target substring", AuditQuery{Target: "web"}, []int64{5, 2}},
		{"target wildcard escaped", AuditQuery{Target: "_100%"}, []int64{5}},
		{"target percent literal", AuditQuery{Target: "%"}, []int64{5}},
		{"since inclusive", AuditQuery{Since: t0.Add(3 * time.Minute)}, []int64{5, 4}},
		{"until exclusive", AuditQuery{Until: t0.Add(2 * time.Minute)}, []int64{2, 1}},
		{"window", AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)}, []int64{4, 3, 2}},
		{"before id", AuditQuery{BeforeID: 3}, []int64{2, 1}},
		{"limit", AuditQuery{Limit: 2}, []int64{5, 4}},
		{"combined", AuditQuery{Actor: "alice", Action: "tokens", BeforeID: 3}, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.ListAudit(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ids(got)) != fmt.Sprint(tt.want) {
				t.Errorf("ids = %v, want %v", ids(got), tt.want)
			}
		})
	}
}

func TestAuditRoundTrip(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	in := api.AuditEntry{Time: t0, Actor: "carol", Action: "POST /api/v1/nodes/n1/drain",
		Target: "n1", Status: 200, Result: "ok", RemoteIP: "10.0.0.9"}
	id, err := l.AppendAudit(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.ListAudit(context.Background(), AuditQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit = %v, %v", got, err)
	}
	in.ID = id
	if got[0] != in {
		t.Errorf("got %+v, want %+v", got[0], in)
	}
}

func TestAppendAuditStampsTime(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	l.now = func() time.Time { return t0 }
	if _, err := l.AppendAudit(context.Background(), api.AuditEntry{Actor: "a", Action: "x", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	got, _ := l.ListAudit(context.Background(), AuditQuery{})
	if !got[0].Time.Equal(t0) {
		t.Errorf("time = %v, want %v", got[0].Time, t0)
	}
}

func TestPagingByBeforeID(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	const n = 25
	for i := 0; i < n; i++ {
		if _, err := l.AppendAudit(ctx, api.AuditEntry{Time: t0, Actor: "a", Action: "x", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	var all []int64
	q := AuditQuery{Limit: 10}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page, err := l.ListAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, ids(page)...)
		q.BeforeID = page[len(page)-1].ID
	}
	if len(all) != n {
		t.Fatalf("paged %d entries, want %d", len(all), n)
	}
	for i, id := range all {
		if id != int64(n-i) {
			t.Fatalf("entry %d has id %d, want %d", i, id, n-i)
		}
	}
}

func TestLimitClamp(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{0, 100}, {-1, 100}, {5, 5}, {1000, 1000}, {5000, 1000}} {
		if got := clampLimit(tt.in); got != tt.want {
			t.Errorf("clampLimit(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestReopenKeepsDataAndDoesNotRerunMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAudit(ctx, api.AuditEntry{Time: t0, Actor: "a", Action: "x", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, path)
	v, err := l.Version(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("Version = %d, %v; want %d", v, err, len(migrations))
	}
	var applied int
	if err := l.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(migrations) {
		t.Errorf("schema_migrations has %d rows, want %d", applied, len(migrations))
	}
	got, err := l.ListAudit(ctx, AuditQuery{})
	if err != nil || len(got) != 1 || got[0].Actor != "a" {
		t.Fatalf("after reopen ListAudit = %v, %v", got, err)
	}
	id, err := l.AppendAudit(ctx, api.AuditEntry{Time: t0, Actor: "b", Action: "x", Result: "ok"})
	if err != nil || id != 2 {
		t.Fatalf("AppendAudit after reopen = %d, %v", id, err)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DB().ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err := Open(ctx, path); err == nil {
		l.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := l.DB().QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
		}
	}
}

func TestMigrationAppliedWhole(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	var n int
	err := l.DB().QueryRowContext(ctx,
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('audit_time', 'audit_actor')`).Scan(&n)
	if err != nil || n != 2 {
		t.Errorf("audit indexes: %d, %v; want 2", n, err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"))
	const goroutines, each = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := l.AppendAudit(ctx, api.AuditEntry{Time: t0, Actor: fmt.Sprintf("g%d", g), Action: "x", Result: "ok"})
				if err != nil {
					errs <- err
				}
			}
		}()
		// Readers run beside the writers.
		if g%10 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.ListAudit(ctx, AuditQuery{Limit: 50}); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := l.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*each {
		t.Errorf("stored %d entries, want %d", n, goroutines*each)
	}
	got, err := l.ListAudit(ctx, AuditQuery{Actor: "g7", Limit: 1000})
	if err != nil || len(got) != each {
		t.Errorf("g7 has %d entries (%v), want %d", len(got), err, each)
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	ctx := context.Background()
	l := openTest(b, filepath.Join(b.TempDir(), "ledger.db"))
	e := api.AuditEntry{Time: t0, Actor: "admin", Action: "POST /api/v1/apply", Target: "app/web", Status: 200, Result: "ok", RemoteIP: "10.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
