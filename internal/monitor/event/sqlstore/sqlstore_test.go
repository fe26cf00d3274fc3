package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

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
