package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"corral/internal/api"
)

// Audit listing limits.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery filters ListAudit. Zero fields do not filter.
type AuditQuery struct {
	Actor  string    // exact match
	Action string    // substring ("tokens" matches "POST /api/v1/tokens")
	Target string    // substring
	Since  time.Time // entries at or after Since
	Until  time.Time // entries before Until
	// BeforeID pages backwards: only entries with ID < BeforeID. Pass the ID
	// of the last entry of the previous page.
	BeforeID int64
	Limit    int // default DefaultAuditLimit, at most MaxAuditLimit
}

// AppendAudit stores e and returns its ID. A zero e.Time is set to now.
func (l *Ledger) AppendAudit(ctx context.Context, e api.AuditEntry) (int64, error) {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	res, err := l.db.ExecContext(ctx,
		`INSERT INTO audit (time_ns, actor, action, target, status, result, remote_ip)
		 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Actor, e.Action, e.Target, e.Status, e.Result, e.RemoteIP)
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// ListAudit returns the entries matching q, newest (highest ID) first.
func (l *Ledger) ListAudit(ctx context.Context, q AuditQuery) ([]api.AuditEntry, error) {
	where, args := auditWhere(q)
	query := `SELECT id, time_ns, actor, action, target, status, result, remote_ip FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, clampLimit(q.Limit))

	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []api.AuditEntry{}
	for rows.Next() {
		var e api.AuditEntry
		var ns int64
		if err := rows.Scan(&e.ID, &ns, &e.Actor, &e.Action, &e.Target, &e.Status, &e.Result, &e.RemoteIP); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// auditWhere turns q into SQL conditions and their arguments.
func auditWhere(q AuditQuery) ([]string, []any) {
	var where []string
	var args []any
	if q.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		where = append(where, `action LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(q.Action))
	}
	if q.Target != "" {
		where = append(where, `target LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(q.Target))
	}
	if !q.Since.IsZero() {
		where = append(where, `time_ns >= ?`)
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, `time_ns < ?`)
		args = append(args, q.Until.UnixNano())
	}
	if q.BeforeID > 0 {
		where = append(where, `id < ?`)
		args = append(args, q.BeforeID)
	}
	return where, args
}

// likeContains returns a LIKE pattern matching s anywhere, with LIKE's
// wildcards in s escaped.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultAuditLimit
	case n > MaxAuditLimit:
		return MaxAuditLimit
	}
	return n
}
