package server

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/metrics/index"
)

// loadIndex adds every series stored under <data>/whisper to the name index.
// It runs after the server is ready; finds made before it ends see the
// series loaded so far and every series written since.
func (s *Server) loadIndex(ctx context.Context) error {
	root := filepath.Join(s.cfg.DataDir, "whisper")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return filepath.SkipAll // no series yet
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if d.Name() == "_tagged" {
				return filepath.SkipDir // tagged series are found by seriesByTag, not by path
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".wsp") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return nil
		}
		name := strings.ReplaceAll(strings.TrimSuffix(rel, ".wsp"), string(filepath.Separator), ".")
		s.index.Add(name)
		n++
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("index whisper files", "err", err)
	}
	s.log.Info("metric names indexed", "series", n)
	return nil
}

// handleFind is graphite-web's /metrics/find: query (a glob), format
// treejson (default) or completer.
func (s *Server) handleFind(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	if err := r.ParseForm(); err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid form: %v", err)
	}
	query := r.Form.Get("query")
	if query == "" {
		return &api.Error{Status: http.StatusBadRequest, Message: "missing parameter", Fields: map[string]string{"query": "is required"}}
	}
	nodes, err := s.index.Find(query)
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid query", Fields: map[string]string{"query": err.Error()}}
	}
	var body []byte
	switch f := r.Form.Get("format"); f {
	case "", "treejson":
		body = index.TreeJSON(nodes)
	case "completer":
		body = index.CompleterJSON(nodes)
	default:
		return &api.Error{Status: http.StatusBadRequest, Message: "unsupported format", Fields: map[string]string{"format": "must be treejson or completer"}}
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}

// handleExpand is graphite-web's /metrics/expand: every path matching each
// query (repeatable), {"results": [...]}; leavesOnly=1 keeps series only.
func (s *Server) handleExpand(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	if err := r.ParseForm(); err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid form: %v", err)
	}
	queries := r.Form["query"]
	if len(queries) == 0 {
		return &api.Error{Status: http.StatusBadRequest, Message: "missing parameter", Fields: map[string]string{"query": "is required"}}
	}
	leaves := r.Form.Get("leavesOnly") == "1" || r.Form.Get("leavesOnly") == "true"
	seen := map[string]bool{}
	results := []string{}
	for _, q := range queries {
		paths, err := s.index.Expand(q, leaves)
		if err != nil {
			return &api.Error{Status: http.StatusBadRequest, Message: "invalid query", Fields: map[string]string{"query": err.Error()}}
		}
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				results = append(results, p)
			}
		}
	}
	sort.Strings(results)
	return httpapi.JSON(w, http.StatusOK, map[string][]string{"results": results})
}

// handleIndexJSON is graphite-web's /metrics/index.json: every series name.
func (s *Server) handleIndexJSON(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
	names := s.index.Leaves()
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(names)
}
