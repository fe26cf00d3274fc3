package api

// MetricsIngestResult answers POST /api/v1/metrics: how many points were
// stored and, for the lines or entries that were skipped, why (the first
// few, each naming its line or index).
type MetricsIngestResult struct {
	Accepted int      `json:"accepted"`
	Rejected int      `json:"rejected"`
	Errors   []string `json:"errors,omitempty"`
}
