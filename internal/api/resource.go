package api

import (
	"encoding/json"
	"time"
)

// Document is one resource document as a user writes it: `kind`, a key
// (`name` or `id`, depending on the kind) and the kind's fields, all at the top
// level. Source says where it came from ("web.yaml#2") for error messages.
type Document struct {
	Source string         `json:"source,omitempty"`
	Body   map[string]any `json:"body"`
}

// Kind returns the document's kind field, or "".
func (d Document) Kind() string { s, _ := d.Body["kind"].(string); return s }

// Resource is a stored resource: its kind, key, version and spec (the document
// without `kind`). Versions start at 1 and grow by one with every change.
type Resource struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Version   int64           `json:"version"`
	Spec      json.RawMessage `json:"spec"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	UpdatedBy string          `json:"updated_by,omitempty"`
}

// ApplyRequest is the body of POST /api/v1/apply.
type ApplyRequest struct {
	Documents []Document `json:"documents"`
	// DryRun validates and compares without storing (what `corral diff` uses).
	DryRun bool `json:"dry_run,omitempty"`
}

// Apply actions.
const (
	ActionCreated   = "created"
	ActionChanged   = "changed"
	ActionUnchanged = "unchanged"
)

// ApplyResult says what apply did (or, dry, would do) to one document.
type ApplyResult struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Action  string `json:"action"`
	Version int64  `json:"version"`
	// Diff is a unified diff of the stored spec against the new one (YAML-ish
	// JSON lines); secret values are redacted.
	Diff string `json:"diff,omitempty"`
}

// ApplyResponse is the answer of POST /api/v1/apply.
type ApplyResponse struct {
	Results []ApplyResult `json:"results"`
	DryRun  bool          `json:"dry_run,omitempty"`
}

// KindInfo describes a registered resource kind.
type KindInfo struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"` // "name" or "id"
	WriteRole Role   `json:"write_role"`
	Secret    bool   `json:"secret,omitempty"`
	About     string `json:"about"`
}

// ResourceVersion is one stored version of a versioned resource (GET
// /api/v1/resources/{kind}/{name}/versions), newest first in lists.
type ResourceVersion struct {
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	By        string         `json:"by,omitempty"`
	Cause     string         `json:"cause,omitempty"` // "rollback to 3"; "" for an apply
	Spec      map[string]any `json:"spec,omitempty"`  // the document (redacted), in single-version answers
}
