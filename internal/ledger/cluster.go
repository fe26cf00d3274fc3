package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"corral/internal/api"
)

// PutDeployment stores a finished deployment (again, if it was stored
// before: the leader may finish one twice across a failover).
func (l *Ledger) PutDeployment(ctx context.Context, d api.Deployment) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if _, err := l.db.ExecContext(ctx, `INSERT OR REPLACE INTO deployments (id, app, started_ns, data) VALUES (?, ?, ?, ?)`,
		d.ID, d.App, d.Started.UnixNano(), string(b)); err != nil {
		return fmt.Errorf("store deployment %s: %w", d.ID, err)
	}
	return nil
}

// Deployment returns a finished deployment, or ok false.
func (l *Ledger) Deployment(ctx context.Context, id string) (api.Deployment, bool, error) {
	var data string
	err := l.db.QueryRowContext(ctx, `SELECT data FROM deployments WHERE id = ?`, id).Scan(&data)
	if err != nil {
		if isNoRows(err) {
			return api.Deployment{}, false, nil
		}
		return api.Deployment{}, false, fmt.Errorf("read deployment %s: %w", id, err)
	}
	var d api.Deployment
	return d, true, json.Unmarshal([]byte(data), &d)
}

// ListDeployments returns finished deployments, newest first; app "" means
// every app.
func (l *Ledger) ListDeployments(ctx context.Context, app string, limit int) ([]api.Deployment, error) {
	q := `SELECT data FROM deployments`
	var args []any
	if app != "" {
		q += ` WHERE app = ?`
		args = append(args, app)
	}
	q += ` ORDER BY started_ns DESC LIMIT ?`
	args = append(args, clampLimit(limit))
	return listJSON[api.Deployment](ctx, l, q, args...)
}

// PutJobRun stores a finished job run.
func (l *Ledger) PutJobRun(ctx context.Context, r api.JobRun) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	started := r.Started
	if started.IsZero() {
		started = r.Scheduled
	}
	if started.IsZero() {
		started = r.Finished
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if _, err := l.db.ExecContext(ctx, `INSERT OR REPLACE INTO job_runs (id, job, started_ns, data) VALUES (?, ?, ?, ?)`,
		r.ID, r.Job, started.UnixNano(), string(b)); err != nil {
		return fmt.Errorf("store job run %s: %w", r.ID, err)
	}
	return nil
}

// ListJobRuns returns a job's finished runs, newest first.
func (l *Ledger) ListJobRuns(ctx context.Context, job string, limit int) ([]api.JobRun, error) {
	return listJSON[api.JobRun](ctx, l, `SELECT data FROM job_runs WHERE job = ? ORDER BY started_ns DESC LIMIT ?`, job, clampLimit(limit))
}

// DeleteJobRuns forgets a job's run history (the job was removed).
func (l *Ledger) DeleteJobRuns(ctx context.Context, job string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_, err := l.db.ExecContext(ctx, `DELETE FROM job_runs WHERE job = ?`, job)
	return err
}

func listJSON[T any](ctx context.Context, l *Ledger, q string, args ...any) ([]T, error) {
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
