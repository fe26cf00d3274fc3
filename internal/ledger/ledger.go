// Package ledger is Corral's history store (DESIGN.md §3): the audit log now,
// and events, converge reports, deployments and job runs as those features
// land. It keeps history in SQLite (modernc.org/sqlite, pure Go) in the
// server's data dir, apart from the small, consistent cluster state in etcd.
//
// The server's composition root opens one Ledger and hands it (or DB() to
// other repositories) to the services that record history.
package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Connection settings. synchronous=FULL because rows written here are
// acknowledged to API callers and must survive a power cut; _txlock=immediate
// makes every transaction take the write lock at BEGIN, so busy_timeout applies
// instead of a deadlocked read-to-write upgrade failing with SQLITE_BUSY.
const dsnParams = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(FULL)" +
	"&_txlock=immediate"

// maxConns bounds the pool: WAL lets readers run beside the one writer.
const maxConns = 4

// Ledger is an open history store. It is safe for concurrent use.
type Ledger struct {
	db  *sql.DB
	now func() time.Time
	// wmu serializes the Ledger's own writes: SQLite has one writer, and
	// queueing here is cheaper than the busy handler's sleep-and-retry.
	wmu sync.Mutex
}

// Open opens (creating if needed) the SQLite database at path and applies any
// pending migrations.
func Open(ctx context.Context, path string) (*Ledger, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open ledger %q: want a plain file path", path)
	}
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(0)
	l := &Ledger{db: db, now: time.Now}
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

// migrate applies the migrations not yet recorded in schema_migrations, all
// in one transaction.
func (l *Ledger) migrate(ctx context.Context) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d)", current, len(migrations))
	}
	for i := current; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			i+1, l.now().UnixNano()); err != nil {
			return fmt.Errorf("record migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

// Ping checks that the database answers a query.
func (l *Ledger) Ping(ctx context.Context) error {
	var one int
	if err := l.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping ledger: %w", err)
	}
	return nil
}

// DB returns the underlying pool for other features' repositories. Their
// transactions begin IMMEDIATE (they take the write lock at BEGIN) and wait up
// to busy_timeout (5 s) for it.
func (l *Ledger) DB() *sql.DB { return l.db }

// Version returns the schema version: the number of migrations applied.
func (l *Ledger) Version(ctx context.Context) (int, error) {
	var v int
	err := l.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
