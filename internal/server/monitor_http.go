package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/monitor/check"
	"corral/internal/monitor/event"
	"corral/internal/store"
)

// monitorRoutes registers the monitoring API (docs/monitoring.md).
func (s *Server) monitorRoutes(a *httpapi.API) {
	a.Query("GET /api/v1/events", api.RoleViewer, s.handleListEvents)
	a.Query("GET /api/v1/events/stream", api.RoleViewer, s.handleEventStream)
	a.Query("GET /api/v1/events/{entity}/{check}", api.RoleViewer, s.handleGetEvent)
	a.Handle("DELETE /api/v1/events/{entity}/{check}", api.RoleOperator, s.handleDeleteEvent)
	a.Handle("POST /api/v1/events/{entity}/{check}/resolve", api.RoleOperator, s.handleResolveEvent)
	a.Data("POST /api/v1/checkins", api.RoleOperator, s.handleCheckin)
	a.Handle("POST /api/v1/checks/{name}/run", api.RoleOperator, s.handleRunCheck)
	a.Handle("POST /api/v1/handlers/{name}/test", api.RoleOperator, s.handleTestHandler)
}

func (s *Server) monitor() (*monitorSvc, error) {
	if s.mon == nil {
		return nil, api.Errorf(http.StatusServiceUnavailable, "monitoring is starting")
	}
	return s.mon, nil
}

// eventStatusFilters are the values ?status= takes.
var eventStatusFilters = []string{"failing", "ok", "warning", "critical", "unknown", "passing", "flapping"}

// eventQuery reads the filters of GET /api/v1/events: node, check and
// status (failing = not ok; ok, warning, critical, unknown by status name;
// passing, flapping by state).
func eventQuery(r *http.Request) (event.Filter, func(*api.Event) bool, error) {
	q := r.URL.Query()
	f := event.Filter{Entity: q.Get("node"), Check: q.Get("check")}
	if e := q.Get("entity"); e != "" && f.Entity == "" {
		f.Entity = e
	}
	status := q.Get("status")
	keep := func(*api.Event) bool { return true }
	switch status {
	case "":
	case "failing":
		f.NonOK = true
	case "ok", "warning", "critical", "unknown":
		keep = func(ev *api.Event) bool { return api.StatusName(ev.Status) == status }
	case "passing", "flapping":
		keep = func(ev *api.Event) bool { return ev.State == status }
	default:
		return f, nil, &api.Error{Status: http.StatusBadRequest, Message: "invalid status filter",
			Fields: map[string]string{"status": "must be one of " + strings.Join(eventStatusFilters, ", ")}}
	}
	return f, keep, nil
}

func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	f, keep, err := eventQuery(r)
	if err != nil {
		return err
	}
	evs := m.proc.List(f)
	out := evs[:0]
	for i := range evs {
		if keep(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	if out == nil {
		out = []api.Event{}
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	ev, ok := m.proc.Get(r.PathValue("entity"), r.PathValue("check"))
	if !ok {
		return api.NotFound("event", r.PathValue("entity")+"/"+r.PathValue("check"))
	}
	return httpapi.JSON(w, http.StatusOK, ev)
}

func (s *Server) handleDeleteEvent(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	entity, chk := r.PathValue("entity"), r.PathValue("check")
	if _, ok := m.proc.Get(entity, chk); !ok {
		return api.NotFound("event", entity+"/"+chk)
	}
	if err := m.proc.Delete(r.Context(), entity, chk); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleResolveEvent resolves an event by hand, as Sensu does: an ok result
// saying who resolved it.
func (s *Server) handleResolveEvent(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	entity, chk := r.PathValue("entity"), r.PathValue("check")
	if _, ok := m.proc.Get(entity, chk); !ok {
		return api.NotFound("event", entity+"/"+chk)
	}
	res := api.CheckResult{Check: chk, Entity: entity, Status: api.StatusOK,
		Output: "Resolved manually by " + c.Subject, Executed: s.cfg.Now().Unix()}
	if err := m.proc.Submit(r.Context(), res); err != nil {
		return err
	}
	if err := m.proc.Flush(r.Context()); err != nil {
		return err
	}
	ev, _ := m.proc.Get(entity, chk)
	return httpapi.JSON(w, http.StatusOK, ev)
}

// handleCheckin takes one result of a check from outside an agent (a cron
// job wrapped by `corral checkin`, or curl). Executed defaults to now; the
// output is read as metrics when the check says output_metric_format.
func (s *Server) handleCheckin(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	var res api.CheckResult
	if err := httpapi.Decode(r, &res); err != nil {
		return err
	}
	if fe := res.Validate(); len(fe) > 0 {
		return fe.Err("invalid check-in")
	}
	if res.Executed == 0 {
		res.Executed = s.cfg.Now().Unix()
	}
	if spec, ok := (*m.specs.Load())[res.Check]; ok && spec.OutputMetricFormat != "" && len(res.Metrics) == 0 {
		pts, err := check.Metrics(spec.OutputMetricFormat, res.Output, check.MetricPrefix, res.Entity, res.Check, res.Executed)
		if err != nil {
			s.log.Debug("check-in output has no metrics", "check", res.Check, "entity", res.Entity, "err", err)
		}
		res.Metrics = pts
	}
	if err := s.takeResults(r.Context(), []api.CheckResult{res}); err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusAccepted, checkinResponse{Check: res.Check, Entity: res.Entity,
		Status: res.Status, Executed: res.Executed, Metrics: len(res.Metrics)})
}

// checkinResponse answers a check-in (client.CheckinResponse).
type checkinResponse struct {
	Check    string `json:"check"`
	Entity   string `json:"entity"`
	Status   int    `json:"status"`
	Executed int64  `json:"executed"`
	Metrics  int    `json:"metrics"` // points read from the output
}

// handlerTestResponse answers a handler test (client.HandlerTest).
type handlerTestResponse struct {
	Handler string           `json:"handler"`
	Runs    []handlerTestRun `json:"runs"`
}

type handlerTestRun struct {
	Handler string  `json:"handler"`
	Type    string  `json:"type"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// handleRunCheck runs a check now: it puts checkrun/<name> with a new
// nonce for the node (?node=) or for every node that runs the check, and the
// agents run it once when they see a nonce they have not run.
func (s *Server) handleRunCheck(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	spec, ok := (*m.specs.Load())[name]
	if !ok {
		return api.NotFound("Check", name)
	}
	if spec.Command == "" && spec.Builtin == "" {
		return api.Errorf(http.StatusBadRequest, "check %q has no command or builtin: it is fed by check-ins (corral checkin %s)", name, name)
	}
	applied := m.appliedChecks()
	isApplied := slices.ContainsFunc(applied, func(c api.CheckSpec) bool { return c.Name == name })
	runs := func(node string, labels map[string]string) bool {
		if !isApplied { // a default: every node runs it
			return true
		}
		_, ok := desiredChecks(node, labels, applied, nil)[name]
		return ok
	}
	var nodes []string
	if n := r.URL.Query().Get("node"); n != "" {
		v, ok := s.nodes.Value(n)
		if !ok {
			return api.NotFound("node", n)
		}
		if !runs(n, v.(store.NodeRecord).EffectiveLabels()) {
			return api.Errorf(http.StatusBadRequest, "node %q does not run check %q (see its subscriptions)", n, name)
		}
		nodes = []string{n}
	} else {
		vals, _ := s.nodes.Values()
		for n, v := range vals {
			if rec, ok := v.(store.NodeRecord); ok && runs(n, rec.EffectiveLabels()) {
				nodes = append(nodes, n)
			}
		}
		slices.Sort(nodes)
	}
	var nb [12]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"nonce": hex.EncodeToString(nb[:])})
	for _, n := range nodes {
		if err := s.store.Assign(r.Context(), n, checkRunAssignPrefix+name, body); err != nil {
			return fmt.Errorf("ask %s to run %s: %w", n, name, err)
		}
	}
	if nodes == nil {
		nodes = []string{}
	}
	return httpapi.JSON(w, http.StatusAccepted, runCheckResponse{Check: name, Nodes: nodes})
}

// runCheckResponse answers a run request (client.RunCheckResponse).
type runCheckResponse struct {
	Check string   `json:"check"`
	Nodes []string `json:"nodes"` // asked to run it
}

// handleTestHandler gives a handler (each member, for a set) a synthetic
// critical event and answers what each run did; 502 when one failed.
func (s *Server) handleTestHandler(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	specs := m.runner.Expand([]string{name})
	if len(specs) == 0 {
		return api.NotFound("Handler", name)
	}
	now := s.cfg.Now().Unix()
	ev := api.Event{Entity: "corral-handler-test", Check: "handler-test", Status: api.StatusCritical,
		Output:   fmt.Sprintf("Test event for handler %s, sent by %s", name, c.Subject),
		Executed: now, Issued: now, Timestamp: now, LastSeen: now,
		History: []api.EventHistory{{Status: api.StatusCritical, Executed: now}}, Occurrences: 1,
		OccurrencesWatermark: 1, State: api.EventFailing, Handlers: []string{name}}
	out := handlerTestResponse{Handler: name}
	failed := 0
	for _, h := range specs {
		ctx, cancel := context.WithTimeout(r.Context(), handlerTestTimeout(h))
		start := time.Now()
		err := m.runner.Notify(ctx, h, ev)
		cancel()
		run := handlerTestRun{Handler: h.Name, Type: h.Type, Seconds: time.Since(start).Seconds()}
		if err != nil {
			run.Error = err.Error()
			failed++
		}
		out.Runs = append(out.Runs, run)
	}
	if failed > 0 {
		msgs := make([]string, 0, failed)
		for _, run := range out.Runs {
			if run.Error != "" {
				msgs = append(msgs, run.Handler+": "+run.Error)
			}
		}
		return api.Errorf(http.StatusBadGateway, "handler test failed: %s", strings.Join(msgs, "; "))
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func handlerTestTimeout(h api.HandlerSpec) time.Duration {
	d := 10 * time.Second
	if h.Timeout > 0 {
		d = time.Duration(h.Timeout)
	}
	// Webhooks retry with backoff inside one run.
	return d*time.Duration(max(h.Retries, 1)+1) + 5*time.Second
}

// eventStreamPoll is how often the event stream looks for changes.
const eventStreamPoll = 500 * time.Millisecond

// handleEventStream streams event changes as server-sent events:
// "event: event" with the event as JSON on every change (the current events
// first), "event: deleted" with {"entity","check"} when one goes away. The
// filters of GET /api/v1/events apply.
func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	m, err := s.monitor()
	if err != nil {
		return err
	}
	f, keep, err := eventQuery(r)
	if err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("event stream: response writer cannot flush")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	seen := map[string]eventMark{}
	send := func(kind string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b)
		return err
	}
	t := time.NewTicker(eventStreamPoll)
	defer t.Stop()
	idle := 0
	for {
		evs := m.proc.List(f)
		present := make(map[string]bool, len(evs))
		wrote := false
		for i := range evs {
			ev := &evs[i]
			if !keep(ev) {
				continue
			}
			k := ev.Key()
			present[k] = true
			mk := markOf(ev)
			if old, ok := seen[k]; ok && old == mk {
				continue
			}
			seen[k] = mk
			if err := send("event", ev); err != nil {
				return nil
			}
			wrote = true
		}
		keys := make([]string, 0)
		for k := range seen {
			if !present[k] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			delete(seen, k)
			entity, chk, _ := strings.Cut(k, "/")
			if err := send("deleted", map[string]string{"entity": entity, "check": chk}); err != nil {
				return nil
			}
			wrote = true
		}
		if !wrote {
			idle++
			if idle >= 30 { // a comment every ~15 s keeps proxies from closing the stream
				idle = 0
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
					return nil
				}
				wrote = true
			}
		}
		if wrote {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
	}
}

// eventMark is what tells a changed event from the one already streamed.
type eventMark struct {
	issued, timestamp, lastSeen int64
	status, occurrences, hist   int
	silenced                    bool
	output                      string
	handled                     int64
}

func markOf(ev *api.Event) eventMark {
	mk := eventMark{issued: ev.Issued, timestamp: ev.Timestamp, lastSeen: ev.LastSeen, status: ev.Status,
		occurrences: ev.Occurrences, hist: len(ev.History), silenced: ev.IsSilenced, output: ev.Output}
	for _, hs := range ev.HandlerStatus {
		mk.handled += hs.LastHandled + int64(hs.Failures)
	}
	return mk
}
