package ledger

// migrations is the history store's schema, in order. Each entry is applied
// once, in a transaction together with its row in schema_migrations (version
// = index+1). Never edit or reorder an entry that has shipped: append a new one.
// Later features (events, converge reports, deployments, job runs) add their
// tables here.
var migrations = []string{
	// 1: the audit log of mutating API calls.
	`CREATE TABLE audit (
		id        INTEGER PRIMARY KEY AUTOINCREMENT,
		time_ns   INTEGER NOT NULL,
		actor     TEXT    NOT NULL,
		action    TEXT    NOT NULL,
		target    TEXT    NOT NULL DEFAULT '',
		status    INTEGER NOT NULL,
		result    TEXT    NOT NULL,
		remote_ip TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_time ON audit (time_ns);
	CREATE INDEX audit_actor ON audit (actor, id);`,
	// 2: finished deployments and job runs (the running ones live in etcd).
	`CREATE TABLE deployments (
		id        TEXT    PRIMARY KEY,
		app       TEXT    NOT NULL,
		started_ns INTEGER NOT NULL,
		data      TEXT    NOT NULL
	);
	CREATE INDEX deployments_app ON deployments (app, started_ns);
	CREATE INDEX deployments_started ON deployments (started_ns);
	CREATE TABLE job_runs (
		id        TEXT    PRIMARY KEY,
		job       TEXT    NOT NULL,
		started_ns INTEGER NOT NULL,
		data      TEXT    NOT NULL
	);
	CREATE INDEX job_runs_job ON job_runs (job, started_ns);`,
	// 3: converge reports (the whole report as JSON; the columns filter).
	`CREATE TABLE converge_reports (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		id         TEXT    NOT NULL UNIQUE,
		node       TEXT    NOT NULL,
		started_ns INTEGER NOT NULL,
		nonce      TEXT    NOT NULL DEFAULT '',
		failed     INTEGER NOT NULL,
		changed    INTEGER NOT NULL,
		dry_run    INTEGER NOT NULL,
		data       TEXT    NOT NULL
	);
	CREATE INDEX converge_reports_node ON converge_reports (node, started_ns, seq);
	CREATE INDEX converge_reports_started ON converge_reports (started_ns, seq);
	CREATE INDEX converge_reports_nonce ON converge_reports (nonce) WHERE nonce != '';`,
}
