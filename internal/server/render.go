package server

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/metrics/index"
	"corral/internal/metrics/render"
)

// tagsFile holds the names of tagged series, one per line: their whisper
// files are named by a hash, so the names cannot be read back from disk.
const tagsFile = "metric-tags.txt"

// openTags loads the tag index of tagged series from <data>/metric-tags.txt.
func (s *Server) openTags() (*index.Tags, error) {
	t, err := index.OpenTags(filepath.Join(s.cfg.DataDir, tagsFile))
	if err != nil {
		return nil, fmt.Errorf("metric tag index: %w", err)
	}
	return t, nil
}

// flushTags writes new tagged names to their file every few seconds, so a
// crash loses at most those of the last interval (their points are in the
// whisper files; a new point of the series adds the name again).
func (s *Server) flushTags(ctx context.Context) error {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.tags.Flush(); err != nil {
				s.log.Warn("write metric tag index", "err", err)
			}
		}
	}
}

// openRender builds the render API over the name and tag indexes and the
// metric cache (reads see cached points).
func (s *Server) openRender() (*render.Handler, error) {
	h, err := render.New(render.Options{Index: s.index, Tags: s.tags, Fetcher: s.metrics, Now: s.cfg.Now,
		Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("render API: %w", err)
	}
	return h, nil
}

// renderRoutes mounts graphite-web's render, functions and tags endpoints,
// for Grafana's Graphite data source and `corral metrics render|graph`.
func (s *Server) renderRoutes(a *httpapi.API) {
	h := s.render
	plain := func(f http.HandlerFunc) httpapi.Handler {
		return func(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
			f(w, r)
			return nil
		}
	}
	for _, m := range []string{"GET", "POST"} {
		a.Query(m+" /render", api.RoleViewer, plain(h.Render))
		a.Query(m+" /tags/autoComplete/tags", api.RoleViewer, plain(h.TagsAutoCompleteTags))
		a.Query(m+" /tags/autoComplete/values", api.RoleViewer, plain(h.TagsAutoCompleteValues))
		a.Query(m+" /tags/findSeries", api.RoleViewer, plain(h.TagsFindSeries))
	}
	a.Query("GET /functions", api.RoleViewer, plain(h.Functions))
	a.Query("GET /functions/{name}", api.RoleViewer, plain(h.Functions))
	a.Query("GET /tags", api.RoleViewer, plain(h.Tags))
	// Grafana's Graphite data source asks for the graphite-web version it
	// talks to; the render API follows graphite-web 1.1.
	a.Query("GET /version", api.RoleViewer, func(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
		w.Header().Set("Content-Type", "text/plain")
		_, err := w.Write([]byte(graphiteVersion + "\n"))
		return err
	})
}

// graphiteVersion is the graphite-web version /version reports.
const graphiteVersion = "1.1.10"
