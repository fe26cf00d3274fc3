// Package sqlstore keeps monitoring events in the server's SQLite history
// database (event.Store): one row per (entity, check) with the event as
// JSON, written in batches of one transaction each.
//
// The server's composition root opens the database (package ledger) and
// passes its *sql.DB to New; the tables here are this package's own.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"corral/internal/api"
	"corral/internal/monitor/event"
)

// schema: a rowid table, not WITHOUT ROWID: rows of about 1 KiB of JSON
// made the clustered b-tree rebalance on every upsert (11x slower batches
// in BenchmarkSave).
const schema = `CREATE TABLE IF NOT EXISTS monitor_events (
	entity     TEXT    NOT NULL,
	check_name TEXT    NOT NULL,
	status     INTEGER NOT NULL,
	state      TEXT    NOT NULL,
	updated    INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	PRIMARY KEY (entity, check_name)
)`

// cacheKiB is the page cache of the connection Save writes on: upserts of
// tens of thousands of events a second read the table's b-tree, and
// SQLite's 2 MiB default makes them go to the OS for pages.
const cacheKiB = 64 << 10

// Store is an event.Store over SQLite. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// wmu guards wconn, the connection batches are written on (with a
	// large page cache), taken from db's pool on first use.
	wmu   sync.Mutex
	wconn *sql.Conn
}

var _ event.Store = (*Store)(nil)

// New creates the events table in db when missing and returns the Store.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("create monitor_events: %w", err)
	}
	return &Store{db: db}, nil
}

// Load returns the event of (entity, check) or event.ErrNotFound.
func (s *Store) Load(ctx context.Context, entity, check string) (*api.Event, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM monitor_events WHERE entity = ? AND check_name = ?`, entity, check).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, event.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load event %s/%s: %w", entity, check, err)
	}
	var ev api.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode event %s/%s: %w", entity, check, err)
	}
	return &ev, nil
}

// Save upserts the events in one transaction.
func (s *Store) Save(ctx context.Context, events []api.Event) error {
	if len(events) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wconn == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("save events: %w", err)
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", cacheKiB)); err != nil {
			c.Close()
			return fmt.Errorf("save events: set cache size: %w", err)
		}
		s.wconn = c
	}
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		// The connection may be broken: take a fresh one next time.
		s.wconn.Close()
		s.wconn = nil
		return fmt.Errorf("save events: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO monitor_events (entity, check_name, status, state, updated, data)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (entity, check_name) DO UPDATE SET
			status = excluded.status, state = excluded.state, updated = excluded.updated, data = excluded.data`)
	if err != nil {
		return fmt.Errorf("save events: %w", err)
	}
	defer st.Close()
	for i := range events {
		ev := &events[i]
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.Key(), err)
		}
		if _, err := st.ExecContext(ctx, ev.Entity, ev.Check, ev.Status, ev.State, ev.Timestamp, data); err != nil {
			return fmt.Errorf("save event %s: %w", ev.Key(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save events: commit: %w", err)
	}
	return nil
}

// List returns the matching events ordered by entity and check.
func (s *Store) List(ctx context.Context, f event.Filter) ([]api.Event, error) {
	var where []string
	var args []any
	if f.Entity != "" {
		where, args = append(where, "entity = ?"), append(args, f.Entity)
	}
	if f.Check != "" {
		where, args = append(where, "check_name = ?"), append(args, f.Check)
	}
	if f.NonOK {
		where = append(where, "status <> 0")
	}
	q := `SELECT data FROM monitor_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY entity, check_name", args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []api.Event
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		var ev api.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// Close returns the write connection to the pool; the Store may be used
// again afterwards. It does not close the *sql.DB.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wconn == nil {
		return nil
	}
	err := s.wconn.Close()
	s.wconn = nil
	return err
}

// Delete removes the event of (entity, check); a missing one is not an error.
func (s *Store) Delete(ctx context.Context, entity, check string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM monitor_events WHERE entity = ? AND check_name = ?`, entity, check); err != nil {
		return fmt.Errorf("delete event %s/%s: %w", entity, check, err)
	}
	return nil
}
