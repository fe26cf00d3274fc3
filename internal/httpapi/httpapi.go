// Package httpapi is the HTTP layer of the API: routing (Go 1.22 patterns),
// bearer-token authentication, role checks, body limits, JSON encoding, the
// one error shape, request metrics and the audit of every mutating call.
// server registers its routes on it; handlers stay plain functions.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/api"
)

// Caller is who makes a request.
type Caller struct {
	Subject string // "token:<id> (<name>)" or "user:<name>"
	Role    api.Role
}

// Authenticator checks a bearer token.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (Caller, error)
}

// Auditor records a mutating call in the history store.
type Auditor interface {
	AppendAudit(ctx context.Context, e api.AuditEntry) (int64, error)
}

// Handler serves one route for an authenticated caller. It writes its answer
// with JSON (or anything else) and returns an error to have it written in the
// API's error shape instead.
type Handler func(w http.ResponseWriter, r *http.Request, c Caller) error

// Options configure an API.
type Options struct {
	Auth     Authenticator
	Audit    Auditor
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// MaxBodyBytes bounds request bodies; past it the answer is 413.
	MaxBodyBytes int64
	// MapError turns domain errors (store.ErrNotFound...) into *api.Error.
	MapError func(error) error
	Now      func() time.Time
}

// API is the router.
type API struct {
	mux      *http.ServeMux
	opts     Options
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns an API with no routes.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MapError == nil {
		opts.MapError = func(err error) error { return err }
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	a := &API{
		mux:  http.NewServeMux(),
		opts: opts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_http_requests_total", Help: "API requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "corral_http_request_duration_seconds", Help: "API request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route"}),
	}
	if opts.Registry != nil {
		opts.Registry.MustRegister(a.requests, a.latency)
	}
	return a
}

// ServeHTTP implements http.Handler. A request no route takes gets the
// API's error shape: 405 with Allow when the path exists for other methods,
// 404 otherwise.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := a.mux.Handler(r)
	if pattern != "" {
		a.mux.ServeHTTP(w, r)
		return
	}
	// Let the mux decide between 404 and 405 (and set Allow), then answer
	// in JSON instead of its plain text.
	probe := &headerProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	status := probe.status
	if status == 0 || status == http.StatusOK {
		a.mux.ServeHTTP(w, r) // a redirect or the like: let the mux answer
		return
	}
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	msg := fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)
	if status == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow"))
	}
	JSON(w, status, &api.Error{Status: status, Message: msg})
}

// headerProbe records what a handler would answer, writing nothing.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *headerProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

// Raw registers a handler with no authentication ("/healthz", "/metrics").
func (a *API) Raw(pattern string, h http.Handler) {
	a.mux.Handle(pattern, a.instrument(h))
}

// Public registers a route that needs no token (login). It is audited when
// it mutates.
func (a *API) Public(pattern string, h Handler) {
	a.mux.Handle(pattern, a.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r, Caller{Subject: "anonymous"}, h, true)
	})))
}

// Handle registers a route that needs a token with at least role need.
// pattern is a Go 1.22 pattern with a method: "GET /api/v1/nodes/{name}".
func (a *API) Handle(pattern string, need api.Role, h Handler) {
	a.handle(pattern, need, h, true)
}

// Query registers a route that reads only, whatever its method (Graphite's
// POST /metrics/find): it is not audited.
func (a *API) Query(pattern string, need api.Role, h Handler) {
	a.handle(pattern, need, h, false)
}

// Data registers a route that takes data rather than changing the cluster
// (metric points, check-ins, log lines): like Query, it is not audited, so
// a steady stream of writes does not flood the audit log.
func (a *API) Data(pattern string, need api.Role, h Handler) {
	a.handle(pattern, need, h, false)
}

func (a *API) handle(pattern string, need api.Role, h Handler, audited bool) {
	a.mux.Handle(pattern, a.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authenticate(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !c.Role.Allows(need) {
			err := &api.Error{Status: http.StatusForbidden,
				Message: fmt.Sprintf("role %s may not %s %s (needs %s)", c.Role, r.Method, r.URL.Path, need)}
			if audited {
				a.finish(w, r, c, err)
			} else {
				a.writeError(w, r, err)
			}
			return
		}
		a.serve(w, r, c, h, audited)
	})))
}

func (a *API) authenticate(r *http.Request) (Caller, error) {
	h := r.Header.Get("Authorization")
	bearer, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(bearer) == "" {
		return Caller{}, &api.Error{Status: http.StatusUnauthorized, Message: "missing bearer token (Authorization: Bearer <token>)"}
	}
	c, err := a.opts.Auth.Authenticate(r.Context(), strings.TrimSpace(bearer))
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return Caller{}, err
		}
		return Caller{}, fmt.Errorf("authenticate: %w", err)
	}
	return c, nil
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, c Caller, h Handler, audited bool) {
	r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
	rec := &statusWriter{ResponseWriter: w}
	err := h(rec, r, c)
	switch {
	case err != nil && audited:
		a.finish(rec, r, c, err)
	case err != nil:
		a.writeError(rec, r, err)
	case audited:
		a.audit(r, c, rec.status, "ok")
	}
}

// finish writes err and audits the call.
func (a *API) finish(w http.ResponseWriter, r *http.Request, c Caller, err error) {
	status, msg := a.writeError(w, r, err)
	a.audit(r, c, status, msg)
}

func (a *API) audit(r *http.Request, c Caller, status int, result string) {
	if a.opts.Audit == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	e := api.AuditEntry{Time: a.opts.Now().UTC(), Actor: c.Subject, Action: r.Method + " " + routeOf(r),
		Target: r.URL.Path, Status: status, Result: result, RemoteIP: host}
	// The audit outlives a cancelled request: it is written even when the
	// client went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if _, err := a.opts.Audit.AppendAudit(ctx, e); err != nil {
		a.opts.Logger.Error("write audit entry", "action", e.Action, "err", err)
	}
}

// writeError writes err in the API's error shape and returns the status and
// message written.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) (int, string) {
	err = a.opts.MapError(err)
	var ae *api.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = api.Errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
	default:
		a.opts.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = api.Errorf(http.StatusInternalServerError, "internal error: %v", err)
	}
	status := ae.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="corral"`)
	}
	JSON(w, status, ae)
	return status, ae.Message
}

// JSON writes v as JSON with status.
func JSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

// Decode reads a JSON body into v strictly; errors are 400 (413 past the
// body limit).
func Decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return api.Errorf(http.StatusBadRequest, "invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// QueryInt reads an integer query parameter, def when absent.
func QueryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &api.Error{Status: http.StatusBadRequest, Message: "invalid query parameter",
			Fields: map[string]string{name: "must be an integer"}}
	}
	return n, nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	if p == "" {
		return "unmatched"
	}
	return p
}

func (a *API) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := routeOf(r)
		a.requests.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).Inc()
		a.latency.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
	})
}
