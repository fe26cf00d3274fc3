package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"corral/internal/api"
)

// Converge asks the nodes t selects (one node, a label selector, or every
// node) to converge now, or with DryRun to report what they would change.
// Their reports carry the answer's Nonce.
func (c *Client) Converge(ctx context.Context, t api.ConvergeTrigger) (api.ConvergeTriggered, error) {
	var r api.ConvergeTriggered
	err := c.do(ctx, http.MethodPost, "/api/v1/converge", nil, t, &r)
	return r, err
}

// Report statuses a ReportQuery may filter by.
const (
	ReportsFailed  = "failed"  // runs that did not converge
	ReportsChanged = "changed" // runs that changed (or, dry, would change) something
)

// ReportQuery filters Reports. Empty fields do not filter; DryRun selects
// dry runs (true) or real runs (false); Before pages back from a report
// ID; Limit 0 is the server's default (50).
type ReportQuery struct {
	Node   string
	Nonce  string
	Status string // ReportsFailed or ReportsChanged
	DryRun *bool
	Limit  int
	Before string
}

func (q ReportQuery) values() url.Values {
	v := url.Values{}
	setIf(v, "node", q.Node)
	setIf(v, "nonce", q.Nonce)
	setIf(v, "status", q.Status)
	if q.DryRun != nil {
		v.Set("dry_run", strconv.FormatBool(*q.DryRun))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	setIf(v, "before", q.Before)
	return v
}

// Reports lists converge reports, newest first. Each lists only the
// resources that did not stay up to date (its totals count all of them);
// Report returns one in full.
func (c *Client) Reports(ctx context.Context, q ReportQuery) ([]api.ConvergeReport, error) {
	var rs []api.ConvergeReport
	err := c.do(ctx, http.MethodGet, "/api/v1/reports", q.values(), nil, &rs)
	return rs, err
}

// Report returns one converge report with every resource.
func (c *Client) Report(ctx context.Context, id string) (api.ConvergeReport, error) {
	var r api.ConvergeReport
	err := c.do(ctx, http.MethodGet, "/api/v1/reports/"+esc(id), nil, nil, &r)
	return r, err
}

// NodeRoles returns a node's resolved run list and attributes and the
// NodeRoles they came from.
func (c *Client) NodeRoles(ctx context.Context, node string) (api.NodeRolesView, error) {
	var v api.NodeRolesView
	err := c.do(ctx, http.MethodGet, "/api/v1/nodes/"+esc(node)+"/roles", nil, nil, &v)
	return v, err
}

// NodeCatalog returns the catalog the server computed for a node (it holds
// the names of the secrets it uses, never their values).
func (c *Client) NodeCatalog(ctx context.Context, node string) (api.Catalog, error) {
	var cat api.Catalog
	err := c.do(ctx, http.MethodGet, "/api/v1/nodes/"+esc(node)+"/catalog", nil, nil, &cat)
	return cat, err
}

func resourcePath(kind, name string) string {
	return "/api/v1/resources/" + esc(kind) + "/" + esc(name)
}

// ResourceVersions lists the stored versions of a versioned resource (a
// Role, an App, a Job), newest first, without their specs.
func (c *Client) ResourceVersions(ctx context.Context, kind, name string) ([]api.ResourceVersion, error) {
	var vs []api.ResourceVersion
	err := c.do(ctx, http.MethodGet, resourcePath(kind, name)+"/versions", nil, nil, &vs)
	return vs, err
}

// ResourceVersion returns one stored version of a resource with its spec
// (secret values redacted).
func (c *Client) ResourceVersion(ctx context.Context, kind, name string, version int64) (api.ResourceVersion, error) {
	if version <= 0 {
		return api.ResourceVersion{}, fmt.Errorf("version %d of %s %s: versions start at 1", version, kind, name)
	}
	var v api.ResourceVersion
	err := c.do(ctx, http.MethodGet, resourcePath(kind, name)+"/versions/"+strconv.FormatInt(version, 10), nil, nil, &v)
	return v, err
}

// RollbackResource stores an earlier version of a resource again as a new
// version (version 0: the one before the current) and returns the new
// version.
func (c *Client) RollbackResource(ctx context.Context, kind, name string, version int64) (api.ResourceVersion, error) {
	var v api.ResourceVersion
	err := c.do(ctx, http.MethodPost, resourcePath(kind, name)+"/rollback", nil, api.RollbackRequest{Version: version}, &v)
	return v, err
}
