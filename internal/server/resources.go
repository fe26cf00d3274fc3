package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/resource"
	"corral/internal/store"
)

func docLabel(i int, d api.Document) string {
	if d.Source != "" {
		return fmt.Sprintf("documents[%d] (%s)", i, d.Source)
	}
	return fmt.Sprintf("documents[%d]", i)
}

func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	var req api.ApplyRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	if len(req.Documents) == 0 {
		return &api.Error{Status: http.StatusBadRequest, Message: "nothing to apply", Fields: map[string]string{"documents": "is empty"}}
	}
	// Validate every document before storing any.
	var fe api.FieldErrors
	changes := make([]store.Change, 0, len(req.Documents))
	kinds := make([]resource.Kind, 0, len(req.Documents))
	seen := map[string]int{}
	for i, d := range req.Documents {
		dec, errs := s.kinds.Decode(d.Body)
		if len(errs) > 0 {
			fe.Merge(docLabel(i, d)+".", errs)
			continue
		}
		id := dec.Kind.Name + "/" + dec.Name
		if j, dup := seen[id]; dup {
			fe.Add(docLabel(i, d)+"."+dec.Kind.Key, "%s %q is also defined by %s", dec.Kind.Name, dec.Name, docLabel(j, req.Documents[j]))
			continue
		}
		seen[id] = i
		if !c.Role.Allows(dec.Kind.WriteRole) {
			return &api.Error{Status: http.StatusForbidden,
				Message: fmt.Sprintf("role %s may not change %s resources (needs %s): %s", c.Role, dec.Kind.Name, dec.Kind.WriteRole, docLabel(i, d))}
		}
		if errs := s.checkMonitorSpec(&dec, c); len(errs) > 0 { // monitor_apply.go
			fe.Merge(docLabel(i, d)+".", errs)
			continue
		}
		if errs := s.checkConfigSpec(&dec); len(errs) > 0 { // converge.go
			fe.Merge(docLabel(i, d)+".", errs)
			continue
		}
		if errs := checkLogSpec(&dec); len(errs) > 0 { // logs.go
			fe.Merge(docLabel(i, d)+".", errs)
			continue
		}
		changes = append(changes, store.Change{Kind: dec.Kind.Name, Name: dec.Name, Spec: dec.Canonical, Secret: dec.Kind.Secret, Versioned: dec.Kind.Versioned})
		kinds = append(kinds, dec.Kind)
	}
	if err := s.checkHandlerSets(changes); err != nil {
		fe.Add("handlers", "%v", err)
	}
	if err := fe.Err(fmt.Sprintf("invalid documents: nothing was applied (%d of %d documents have errors)", countDocs(fe), len(req.Documents))); err != nil {
		return err
	}
	plans, err := s.store.Apply(r.Context(), changes, c.Subject, req.DryRun)
	if err != nil {
		return err
	}
	resp := api.ApplyResponse{DryRun: req.DryRun}
	for i, p := range plans {
		res := api.ApplyResult{Kind: p.Kind, Name: p.Name, Action: p.Action, Version: p.Version}
		if p.Action != api.ActionUnchanged {
			res.Diff, err = specDiff(kinds[i], p.Old, p.Spec)
			if err != nil {
				return err
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return httpapi.JSON(w, http.StatusOK, resp)
}

func countDocs(fe api.FieldErrors) int {
	docs := map[string]bool{}
	for k := range fe {
		if i := strings.IndexByte(k, ']'); i >= 0 {
			docs[k[:i]] = true
		}
	}
	return len(docs)
}

// specDiff returns a line diff of two canonical specs, pretty-printed, with
// secret values redacted on both sides.
func specDiff(k resource.Kind, old, cur json.RawMessage) (string, error) {
	pretty := func(raw json.RawMessage) ([]string, error) {
		if raw == nil {
			return nil, nil
		}
		red, err := k.Redacted(raw)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, red, "", "  "); err != nil {
			return nil, err
		}
		return strings.Split(buf.String(), "\n"), nil
	}
	a, err := pretty(old)
	if err != nil {
		return "", err
	}
	b, err := pretty(cur)
	if err != nil {
		return "", err
	}
	d := lineDiff(a, b)
	if k.Secret && old != nil && !bytes.Equal(old, cur) && !strings.Contains(d, "\n+") && !strings.HasPrefix(d, "+") {
		d += "~ value changed (redacted)\n"
	}
	return d, nil
}

// lineDiff is a small LCS diff: "-" for lines only in a, "+" only in b,
// " " for both.
func lineDiff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}

func (s *Server) kind(name string) (resource.Kind, error) {
	k, ok := s.kinds.Lookup(name)
	if !ok {
		return k, &api.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("unknown kind %q (known: %s)", name, strings.Join(s.kinds.Names(), ", "))}
	}
	return k, nil
}

func (s *Server) handleKinds(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
	out := []api.KindInfo{}
	for _, n := range s.kinds.Names() {
		out = append(out, s.kinds[n].Info())
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

// toAPI returns a stored resource as the API shows it: secret kinds are
// redacted unless reveal (which needs admin).
func (s *Server) toAPI(k resource.Kind, rec store.ResourceRecord, reveal bool) (api.Resource, error) {
	spec, err := s.store.PlainSpec(rec)
	if err != nil {
		return api.Resource{}, err
	}
	if !reveal {
		if spec, err = k.Redacted(spec); err != nil {
			return api.Resource{}, err
		}
	}
	return api.Resource{Kind: rec.Kind, Name: rec.Name, Version: rec.Version, Spec: spec,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy}, nil
}

func (s *Server) handleListResources(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.kind(r.PathValue("kind"))
	if err != nil {
		return err
	}
	if !c.Role.Allows(k.ReadRole) {
		return api.Errorf(http.StatusForbidden, "role %s may not read %s resources", c.Role, k.Name)
	}
	recs, err := s.store.ListResources(r.Context(), k.Name)
	if err != nil {
		return err
	}
	out := make([]api.Resource, 0, len(recs))
	for _, rec := range recs {
		res, err := s.toAPI(k, rec, false)
		if err != nil {
			return err
		}
		out = append(out, res)
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleGetResource(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.kind(r.PathValue("kind"))
	if err != nil {
		return err
	}
	if !c.Role.Allows(k.ReadRole) {
		return api.Errorf(http.StatusForbidden, "role %s may not read %s resources", c.Role, k.Name)
	}
	reveal := r.URL.Query().Get("reveal") == "true"
	if reveal && k.Secret && c.Role != api.RoleAdmin {
		return api.Errorf(http.StatusForbidden, "only admins may reveal %s values", k.Name)
	}
	name := r.PathValue("name")
	rec, err := s.store.GetResource(r.Context(), k.Name, name)
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFound(k.Name, name)
	} else if err != nil {
		return err
	}
	res, err := s.toAPI(k, rec, reveal)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusOK, res)
}

func (s *Server) handleDeleteResource(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	k, err := s.kind(r.PathValue("kind"))
	if err != nil {
		return err
	}
	if !c.Role.Allows(k.WriteRole) {
		return api.Errorf(http.StatusForbidden, "role %s may not delete %s resources (needs %s)", c.Role, k.Name, k.WriteRole)
	}
	version, err := httpapi.QueryInt(r, "version", 0)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	err = s.store.DeleteResource(r.Context(), k.Name, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return api.NotFound(k.Name, name)
	} else if errors.Is(err, store.ErrConflict) && version != 0 {
		return api.Conflict("%s %q is not at version %d", k.Name, name, version)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
