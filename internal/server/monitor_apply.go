package server

import (
	"encoding/json"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/monitor/check"
	"corral/internal/monitor/handler"
	"corral/internal/resource"
	"corral/internal/store"
)

// checkMonitorSpec validates what the generic decoding of a monitoring
// resource cannot: a Check's cron and builtin args (which the check package
// knows). A Silence gets its author (the caller) and creation time (now, or
// the time it was first created) when the document does not say; dec's
// canonical form is updated then.
func (s *Server) checkMonitorSpec(dec *resource.Decoded, c httpapi.Caller) api.FieldErrors {
	switch spec := dec.Spec.(type) {
	case *api.CheckSpec:
		return check.Validate(*spec)
	case *api.SilenceSpec:
		if spec.Author == "" {
			spec.Author = c.Subject
		}
		if spec.CreatedAt.IsZero() {
			spec.CreatedAt = s.cfg.Now().UTC().Truncate(1e9)
			if s.mon != nil {
				if old, ok := s.mon.silenceM.Value(dec.Name); ok {
					var prev api.SilenceSpec
					if json.Unmarshal(old.(store.ResourceRecord).Spec, &prev) == nil && !prev.CreatedAt.IsZero() {
						spec.CreatedAt = prev.CreatedAt
					}
				}
			}
		}
		canon, err := json.Marshal(spec)
		if err != nil {
			var fe api.FieldErrors
			fe.Add("document", "cannot be encoded as JSON: %v", err)
			return fe
		}
		dec.Canonical = canon
	}
	return nil
}

// checkHandlerSets refuses an apply whose Handlers, with the ones already
// stored, would make sets of handlers loop.
func (s *Server) checkHandlerSets(changes []store.Change) error {
	if s.mon == nil {
		return nil
	}
	byName := map[string]api.HandlerSpec{}
	for _, h := range mirrorSpecs[api.HandlerSpec](s.mon.handlers) {
		byName[h.Name] = h
	}
	touched := false
	for _, ch := range changes {
		if ch.Kind != kindHandler {
			continue
		}
		var h api.HandlerSpec
		if err := json.Unmarshal(ch.Spec, &h); err != nil {
			return err
		}
		byName[h.Name] = h
		touched = true
	}
	if !touched {
		return nil
	}
	all := make([]api.HandlerSpec, 0, len(byName))
	for _, h := range byName {
		all = append(all, h)
	}
	return handler.CheckSets(all)
}
