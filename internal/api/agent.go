package api

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is the version of the agent channel (docs/protocol.md). A
// server accepts agents speaking versions MinProtocolVersion..ProtocolVersion.
const (
	ProtocolVersion    = 1
	MinProtocolVersion = 1
)

// JoinRequest is sent by a new agent with its join token and a PEM CSR whose
// common name is the node name.
type JoinRequest struct {
	Protocol int    `json:"protocol"`
	Token    string `json:"token"` // the token part of the join token (id.secret)
	CSR      string `json:"csr"`
}

// CertResponse carries a signed PEM certificate and the cluster CA.
type CertResponse struct {
	Node    string    `json:"node"`
	Cert    string    `json:"cert"`
	CA      string    `json:"ca"`
	Expires time.Time `json:"expires"`
}

// RenewRequest asks, over mutual TLS, for a new certificate for the same node.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// HelloRequest registers or refreshes a node after every (re)connect.
type HelloRequest struct {
	Protocol  int               `json:"protocol"`
	Facts     Facts             `json:"facts"`
	Labels    map[string]string `json:"labels"` // labels the agent was started with
	Resources NodeResources     `json:"resources"`
}

// HelloResponse tells the agent how to behave.
type HelloResponse struct {
	Node              Node     `json:"node"`
	Protocol          int      `json:"protocol"`
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	LeaseTTL          Duration `json:"lease_ttl"`
}

// HeartbeatRequest is the body of POST /agent/v1/heartbeat: the agent's own
// health, exported by the server as metrics.
type HeartbeatRequest struct {
	Spool SpoolStats `json:"spool"`
}

// SpoolStats describes an agent's report spool.
type SpoolStats struct {
	Records     int64  `json:"records"`      // not yet acknowledged
	Bytes       int64  `json:"bytes"`        // on disk
	BudgetBytes int64  `json:"budget_bytes"` // the configured budget
	Dropped     uint64 `json:"dropped"`      // dropped because the budget was full, ever
}

// HeartbeatResponse answers a heartbeat.
type HeartbeatResponse struct {
	Status string `json:"status"`
	Drain  bool   `json:"drain"`
}

// Assignment is one change in what a node must run or hold (tasks, checks,
// its config catalog), streamed by GET /agent/v1/watch as JSON lines. Type is
// "put", "delete" or "sync" (the snapshot up to Rev has been sent; changes
// follow). An agent resumes with ?rev=<last Rev seen>.
type Assignment struct {
	Rev   int64           `json:"rev"`
	Type  string          `json:"type"`
	Key   string          `json:"key,omitempty"` // "<kind>/<name>"
	Value json.RawMessage `json:"value,omitempty"`
}

// Report is one record an agent sends back: task status, check result,
// converge report, metrics, logs. Seq numbers grow per agent data dir and let
// the server acknowledge and the agent forget.
type Report struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// ReportBatch is the body of POST /agent/v1/report.
type ReportBatch struct {
	Reports []Report `json:"reports"`
}

// ReportAck acknowledges every report up to and including Seq; Rejected lists
// the reports the server will never take (unknown type, bad data), which the
// agent drops and counts.
type ReportAck struct {
	Seq      uint64            `json:"seq"`
	Rejected map[uint64]string `json:"rejected,omitempty"`
}

// MetricPoint is one value of a series, as agents send it in "metrics"
// reports (a JSON list of points).
type MetricPoint struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Time  int64   `json:"time"` // unix seconds
}
