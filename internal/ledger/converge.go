package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"corral/internal/api"
)

// KeepConvergeReports is how many reports per node PutConvergeReports
// keeps by default: the newest.
const KeepConvergeReports = 500

// ConvergeQuery selects converge reports, newest first (by start time).
type ConvergeQuery struct {
	Node  string
	Nonce string
	// Failed keeps the runs that did not converge; Changed the ones that
	// changed (or, dry, would change) something.
	Failed, Changed bool
	// DryRun, when set, keeps only dry runs (true) or only real ones.
	DryRun *bool
	// Limit defaults to 50, at most 1000.
	Limit int
	// Before is a report ID: only reports older than it.
	Before string
}

// PutConvergeReports stores reports (a report stored before, by ID, is
// kept as it was: agents resend what was not acknowledged) and drops each
// node's reports past the newest keep (KeepConvergeReports when 0).
func (l *Ledger) PutConvergeReports(ctx context.Context, reports []api.ConvergeReport, keep int) error {
	if len(reports) == 0 {
		return nil
	}
	if keep <= 0 {
		keep = KeepConvergeReports
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store converge reports: %w", err)
	}
	defer tx.Rollback()
	nodes := map[string]bool{}
	for _, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode converge report %s: %w", r.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO converge_reports
			(id, node, started_ns, nonce, failed, changed, dry_run, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Node, r.Started.UnixNano(), r.Nonce, boolInt(r.Failed()), r.Totals.Changed, boolInt(r.DryRun), string(b)); err != nil {
			return fmt.Errorf("store converge report %s: %w", r.ID, err)
		}
		nodes[r.Node] = true
	}
	for node := range nodes {
		if _, err := tx.ExecContext(ctx, `DELETE FROM converge_reports WHERE seq IN (
			SELECT seq FROM converge_reports WHERE node = ? ORDER BY started_ns DESC, seq DESC LIMIT -1 OFFSET ?)`,
			node, keep); err != nil {
			return fmt.Errorf("trim converge reports of %s: %w", node, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store converge reports: %w", err)
	}
	return nil
}

// ConvergeReport returns one report by its ID, or ok false.
func (l *Ledger) ConvergeReport(ctx context.Context, id string) (api.ConvergeReport, bool, error) {
	var data string
	err := l.db.QueryRowContext(ctx, `SELECT data FROM converge_reports WHERE id = ?`, id).Scan(&data)
	if err != nil {
		if isNoRows(err) {
			return api.ConvergeReport{}, false, nil
		}
		return api.ConvergeReport{}, false, fmt.Errorf("read converge report %s: %w", id, err)
	}
	var r api.ConvergeReport
	return r, true, json.Unmarshal([]byte(data), &r)
}

// ListConvergeReports returns the reports q selects, newest first. A
// Before naming no stored report selects nothing.
func (l *Ledger) ListConvergeReports(ctx context.Context, q ConvergeQuery) ([]api.ConvergeReport, error) {
	var where []string
	var args []any
	if q.Node != "" {
		where = append(where, "node = ?")
		args = append(args, q.Node)
	}
	if q.Nonce != "" {
		where = append(where, "nonce = ?")
		args = append(args, q.Nonce)
	}
	if q.Failed {
		where = append(where, "failed = 1")
	}
	if q.Changed {
		where = append(where, "changed > 0")
	}
	if q.DryRun != nil {
		where = append(where, "dry_run = ?")
		args = append(args, boolInt(*q.DryRun))
	}
	if q.Before != "" {
		where = append(where, "(started_ns, seq) < (SELECT started_ns, seq FROM converge_reports WHERE id = ?)")
		args = append(args, q.Before)
	}
	query := `SELECT data FROM converge_reports`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += ` ORDER BY started_ns DESC, seq DESC LIMIT ?`
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 1000:
		limit = 1000
	}
	args = append(args, limit)
	out, err := listJSON[api.ConvergeReport](ctx, l, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list converge reports: %w", err)
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
