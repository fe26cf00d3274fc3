package api

import "time"

// LogEntry is one log line as Corral keeps it: when, where it came from, the
// message and the fields a parser found. Agents send lists of them (report
// type "log"); the server stores and searches them (GET /api/v1/logs).
type LogEntry struct {
	Time    time.Time `json:"time"`
	Node    string    `json:"node,omitempty"`
	Source  string    `json:"source,omitempty"` // "file:/var/log/nginx/access.log", "task", "syslog", "json", "beats"
	App     string    `json:"app,omitempty"`    // app or job id, for task output
	Task    string    `json:"task,omitempty"`
	Stream  string    `json:"stream,omitempty"` // stdout or stderr, for task output
	Level   string    `json:"level,omitempty"`  // debug, info, warn, error, ... when known
	Message string    `json:"message"`
	// Fields are what a parser found ("status": "500", "path": "/health",
	// nested JSON flattened as "a.b"); values are kept as strings, numbers
	// compare numerically in queries.
	Fields map[string]string `json:"fields,omitempty"`
}

// LogBucket is one row of GET /api/v1/logs/count (Key: a value of the
// field) or /api/v1/logs/histogram (Time: the bucket's start).
type LogBucket struct {
	Key   string    `json:"key,omitempty"`
	Time  time.Time `json:"time,omitzero"`
	Count int64     `json:"count"`
}
