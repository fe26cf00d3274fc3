package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"corral/internal/api"
	"corral/internal/converge"
	"corral/internal/httpapi"
	"corral/internal/ledger"
	"corral/internal/resource"
	"corral/internal/store"
)

// convergeRoutes registers configuration management's API: node run
// lists and catalogs, converge triggers, reports, and the versions of
// versioned kinds (roles above all).
func (s *Server) convergeRoutes(a *httpapi.API) {
	a.Handle("GET /api/v1/nodes/{name}/roles", api.RoleViewer, s.handleNodeRoles)
	a.Handle("GET /api/v1/nodes/{name}/catalog", api.RoleOperator, s.handleNodeCatalog)
	a.Handle("POST /api/v1/converge", api.RoleOperator, s.handleConverge)
	a.Query("GET /api/v1/reports", api.RoleViewer, s.handleListReports)
	a.Query("GET /api/v1/reports/{id}", api.RoleViewer, s.handleGetReport)
	a.Handle("GET /api/v1/resources/{kind}/{name}/versions", api.RoleViewer, s.handleResourceVersions)
	a.Handle("GET /api/v1/resources/{kind}/{name}/versions/{version}", api.RoleViewer, s.handleResourceVersion)
	a.Handle("POST /api/v1/resources/{kind}/{name}/rollback", api.RoleOperator, s.handleRollback)
}

// handleNodeRoles is GET /api/v1/nodes/{name}/roles: the node's resolved
// run list, environment, attributes and where they came from.
func (s *Server) handleNodeRoles(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	if _, ok := s.nodes.Value(name); !ok {
		return api.NotFound("node", name)
	}
	_, view, _ := s.catalogs().cats.Build(name)
	return httpapi.JSON(w, http.StatusOK, view)
}

// handleNodeCatalog is GET /api/v1/nodes/{name}/catalog: what the node
// converges (secret values are never in it).
func (s *Server) handleNodeCatalog(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	if _, ok := s.nodes.Value(name); !ok {
		return api.NotFound("node", name)
	}
	cat, _, ok := s.catalogs().cats.Build(name)
	if !ok {
		return api.Errorf(http.StatusNotFound, "node %q holds no role: it has no catalog (see GET /api/v1/nodes/%s/roles)", name, name)
	}
	return httpapi.JSON(w, http.StatusOK, cat)
}

// handleConverge is POST /api/v1/converge: a run now (or a dry run) on one
// node, the nodes matching a label selector, or every node; the nodes'
// reports will carry the nonce of the answer. A selector (or every node)
// picks only the nodes that hold a role: the others have nothing to run.
func (s *Server) handleConverge(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	var req api.ConvergeTrigger
	if r.ContentLength != 0 {
		if err := httpapi.Decode(r, &req); err != nil {
			return err
		}
	}
	if req.Node != "" && req.Selector != "" {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid converge request",
			Fields: map[string]string{"selector": "give node or selector, not both"}}
	}
	var nodes []string
	if req.Node != "" {
		if _, ok := s.nodes.Value(req.Node); !ok {
			return api.NotFound("node", req.Node)
		}
		nodes = []string{req.Node}
	} else {
		sel, err := converge.ParseSelector(req.Selector)
		if err != nil {
			return &api.Error{Status: http.StatusBadRequest, Message: "invalid converge request",
				Fields: map[string]string{"selector": err.Error()}}
		}
		st := s.catalogs()
		for name, rec := range st.records {
			if !sel.Match(converge.NodeInfoFrom(rec.API(false))) {
				continue
			}
			if _, _, ok := st.cats.Build(name); ok {
				nodes = append(nodes, name)
			}
		}
		sort.Strings(nodes)
		if len(nodes) == 0 {
			what := "no node holds a role"
			if req.Selector != "" {
				what = fmt.Sprintf("no node matching %q holds a role", req.Selector)
			}
			return api.Errorf(http.StatusNotFound, "nothing to converge: %s", what)
		}
	}
	nonce, err := newNonce()
	if err != nil {
		return err
	}
	run := api.ConvergeRequest{Nonce: nonce, DryRun: req.DryRun, By: c.Subject, At: s.cfg.Now().UTC()}
	groups := make([][]store.Op, 0, len(nodes))
	for _, n := range nodes {
		groups = append(groups, []store.Op{store.Put(store.AssignPrefix(n)+api.ConvergeRunAssignKey, run)})
	}
	if _, err := s.store.Batch(r.Context(), groups); err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusAccepted, api.ConvergeTriggered{Nonce: nonce, Nodes: nodes})
}

func newNonce() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// handleListReports is GET /api/v1/reports: converge reports, newest first,
// each with only its resources that did not stay up to date.
func (s *Server) handleListReports(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	q := r.URL.Query()
	lq := ledger.ConvergeQuery{Node: q.Get("node"), Nonce: q.Get("nonce"), Before: q.Get("before")}
	var fe api.FieldErrors
	switch q.Get("status") {
	case "":
	case "failed":
		lq.Failed = true
	case "changed":
		lq.Changed = true
	default:
		fe.Add("status", "must be failed or changed")
	}
	if d := q.Get("dry_run"); d != "" {
		b, err := strconv.ParseBool(d)
		if err != nil {
			fe.Add("dry_run", "must be true or false")
		}
		lq.DryRun = &b
	}
	limit, err := httpapi.QueryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	lq.Limit = int(limit)
	if err := fe.Err("invalid report query"); err != nil {
		return err
	}
	reports, err := s.ledger.ListConvergeReports(r.Context(), lq)
	if err != nil {
		return err
	}
	if reports == nil {
		reports = []api.ConvergeReport{}
	}
	for i := range reports {
		kept := []api.ResourceResult{}
		for _, rr := range reports[i].Resources {
			if rr.Status != api.StatusUpToDate {
				kept = append(kept, rr)
			}
		}
		reports[i].Resources = kept
	}
	return httpapi.JSON(w, http.StatusOK, reports)
}

// handleGetReport is GET /api/v1/reports/{id}: one whole report.
func (s *Server) handleGetReport(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id := r.PathValue("id")
	rep, ok, err := s.ledger.ConvergeReport(r.Context(), id)
	if err != nil {
		return err
	}
	if !ok {
		return api.NotFound("converge report", id)
	}
	return httpapi.JSON(w, http.StatusOK, rep)
}

// versionedKind looks up a kind that keeps versions and checks that the
// caller may read it.
func (s *Server) versionedKind(r *http.Request, c httpapi.Caller) (k resource.Kind, err error) {
	k, err = s.kind(r.PathValue("kind"))
	if err != nil {
		return k, err
	}
	if !c.Role.Allows(k.ReadRole) {
		return k, api.Errorf(http.StatusForbidden, "role %s may not read %s resources", c.Role, k.Name)
	}
	if !k.Versioned {
		return k, api.Errorf(http.StatusBadRequest, "%s resources keep no versions", k.Name)
	}
	return k, nil
}

// versionOf returns a stored version as the API shows it; with spec, its
// document redacted like GET of the resource.
func (s *Server) versionOf(k resource.Kind, rec store.ResourceRecord, spec bool) (api.ResourceVersion, error) {
	v := api.ResourceVersion{Version: rec.Version, CreatedAt: rec.UpdatedAt, By: rec.UpdatedBy, Cause: rec.Cause}
	if !spec {
		return v, nil
	}
	res, err := s.toAPI(k, rec, false)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(res.Spec, &v.Spec); err != nil {
		return v, fmt.Errorf("decode %s %s version %d: %w", k.Name, rec.Name, rec.Version, err)
	}
	return v, nil
}

// handleResourceVersions is GET /api/v1/resources/{kind}/{name}/versions:
// the stored versions, newest first, without their specs.
func (s *Server) handleResourceVersions(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.versionedKind(r, c)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	recs, err := s.store.ListVersions(r.Context(), k.Name, name)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		if _, err := s.store.GetResource(r.Context(), k.Name, name); errors.Is(err, store.ErrNotFound) {
			return api.NotFound(k.Name, name)
		} else if err != nil {
			return err
		}
	}
	out := make([]api.ResourceVersion, 0, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		v, _ := s.versionOf(k, recs[i], false)
		out = append(out, v)
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

// handleResourceVersion is GET /api/v1/resources/{kind}/{name}/versions/{n}.
func (s *Server) handleResourceVersion(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.versionedKind(r, c)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	n, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || n < 1 {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid version",
			Fields: map[string]string{"version": "must be a version number (1, 2, ...)"}}
	}
	rec, err := s.store.GetVersion(r.Context(), k.Name, name, n)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(http.StatusNotFound, "version %d of %s %q is not kept", n, k.Name, name)
	} else if err != nil {
		return err
	}
	v, err := s.versionOf(k, rec, true)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, v)
}

// handleRollback is POST /api/v1/resources/{kind}/{name}/rollback: an
// earlier version's spec (the one before the current when the body says 0
// or nothing) stored again as the next version, with cause "rollback to N".
func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.versionedKind(r, c)
	if err != nil {
		return err
	}
	if !c.Role.Allows(k.WriteRole) {
		return api.Errorf(http.StatusForbidden, "role %s may not change %s resources (needs %s)", c.Role, k.Name, k.WriteRole)
	}
	var req api.RollbackRequest
	if r.ContentLength != 0 {
		if err := httpapi.Decode(r, &req); err != nil {
			return err
		}
	}
	name := r.PathValue("name")
	cur, err := s.store.GetResource(r.Context(), k.Name, name)
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFound(k.Name, name)
	} else if err != nil {
		return err
	}
	version := req.Version
	if version == 0 {
		version = cur.Version - 1
	}
	if version < 1 || version >= cur.Version {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid rollback",
			Fields: map[string]string{"version": fmt.Sprintf("must be an earlier version of %s %s: 1 to %d", k.Name, name, cur.Version-1)}}
	}
	old, err := s.store.GetVersion(r.Context(), k.Name, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(http.StatusNotFound, "version %d of %s %q is not kept", version, k.Name, name)
	} else if err != nil {
		return err
	}
	raw, err := s.store.PlainSpec(old)
	if err != nil {
		return err
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("decode %s %s version %d: %w", k.Name, name, version, err)
	}
	body["kind"] = k.Name
	dec, fe := s.kinds.Decode(body)
	if len(fe) == 0 {
		fe = s.checkMonitorSpec(&dec, c)
	}
	if len(fe) == 0 {
		fe = s.checkConfigSpec(&dec)
	}
	if err := fe.Err(fmt.Sprintf("version %d of %s %s is not valid any more: nothing was changed", version, k.Name, name)); err != nil {
		return err
	}
	cause := fmt.Sprintf("rollback to %d", version)
	plans, err := s.store.Apply(r.Context(), []store.Change{{Kind: k.Name, Name: dec.Name, Spec: dec.Canonical,
		Secret: k.Secret, Versioned: true, Cause: cause}}, c.Subject, false)
	if err != nil {
		return err
	}
	if plans[0].Action == api.ActionUnchanged {
		return api.Conflict("version %d of %s %s is the same spec as the current version %d: nothing to roll back", version, k.Name, name, cur.Version)
	}
	rec, err := s.store.GetVersion(r.Context(), k.Name, name, plans[0].Version)
	if err != nil {
		return err
	}
	v, err := s.versionOf(k, rec, true)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, v)
}
