package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ansel1/merry"
	"github.com/go-graphite/carbonapi/expr"
	"github.com/go-graphite/carbonapi/expr/functions"
	"github.com/go-graphite/carbonapi/expr/rewrite"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/limiter"
	"github.com/go-graphite/carbonapi/pkg/parser"

	"corral/internal/metrics/graph"
	"corral/internal/metrics/index"
	"corral/internal/metrics/whisper"
)

// Fetcher reads one series' points in [from, until] (Unix seconds). Unknown
// series return an error wrapping whisper.ErrNotFound. *whisper.Cache
// implements it.
type Fetcher interface {
	Fetch(name string, from, until int64) (whisper.Series, error)
}

// Options configures a Handler.
type Options struct {
	Index   *index.Index // plain series names; nil: none
	Tags    *index.Tags  // tagged series; nil: seriesByTag finds nothing
	Fetcher Fetcher      // required
	Now     func() time.Time
	Logger  *slog.Logger
	// Location is the default time zone of from/until and csv output when
	// a request has no tz parameter; nil: time.Local.
	Location *time.Location
	// MaxPoints caps the points one request may fetch (all series
	// together); 0: 50,000,000.
	MaxPoints int
	// FetchConcurrency is how many series are fetched at once; 0: 4.
	FetchConcurrency int
	// MaxTargetLength caps the total length of a request's targets;
	// 0: 64 KiB.
	MaxTargetLength int
	// MaxTimeRange caps until-from: functions that make series from the
	// time range alone (timeFunction, constantLine, ...) allocate by it;
	// 0: 20 years.
	MaxTimeRange time.Duration
}

// Handler serves graphite-web's render, functions and tags endpoints.
type Handler struct {
	store     *store
	evaluator *expr.Evaluator
	now       func() time.Time
	log       *slog.Logger
	loc       *time.Location
	maxTarget int
	maxRange  int64 // seconds
}

// registerOnce guards carbonapi's function registration: functions.New,
// rewrite.New and RegisterFunction write into carbonapi's process-wide
// metadata registry (metadata.FunctionMD), so it is done once per process
// however many Handlers are built.
var registerOnce sync.Once

func registerFunctions() {
	functions.New(map[string]string{})
	rewrite.New(map[string]string{}) // applyByNode, aboveSeries
	registerOverrides()
}

// New builds a Handler. Fetcher is required.
func New(o Options) (*Handler, error) {
	if o.Fetcher == nil {
		return nil, errors.New("render: Options.Fetcher is required")
	}
	registerOnce.Do(registerFunctions)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = 50_000_000
	}
	if o.FetchConcurrency <= 0 {
		o.FetchConcurrency = 4
	}
	if o.MaxTargetLength <= 0 {
		o.MaxTargetLength = 64 << 10
	}
	if o.MaxTimeRange <= 0 {
		o.MaxTimeRange = 20 * 365 * 24 * time.Hour
	}
	st := &store{index: o.Index, tags: o.Tags, fetcher: o.Fetcher, concurrency: o.FetchConcurrency, maxPoints: int64(o.MaxPoints)}
	ev, err := expr.NewEvaluator(limiter.NewSimpleLimiter(64), st, false)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return &Handler{
		store:     st,
		evaluator: ev,
		now:       o.Now,
		log:       o.Logger.With("component", "render"),
		loc:       o.Location,
		maxTarget: o.MaxTargetLength,
		maxRange:  int64(o.MaxTimeRange / time.Second),
	}, nil
}

// formats maps a format parameter to its response Content-Type.
var formats = map[string]string{
	"json":   "application/json",
	"csv":    "text/csv",
	"raw":    "text/plain",
	"pickle": "application/pickle",
	"png":    "image/png",
	"svg":    "image/svg+xml",
}

// Request is a parsed render request.
type Request struct {
	Targets       []string
	From, Until   int64
	Format        string
	Location      *time.Location
	MaxDataPoints int64
	NoNullPoints  bool
	XFilesFactor  float32 // for maxDataPoints consolidation; graphite-web's default 0
	JSONP         string
	Form          url.Values
}

// badRequest is an error answered with 400 and its message.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// ParseRequest reads a render request from form values (query string and
// form body merged), with graphite-web's defaults: from=-24h, until=now,
// format=png. Errors name the parameter.
func (h *Handler) ParseRequest(form url.Values) (*Request, error) {
	req := &Request{Targets: form["target"], Format: strings.ToLower(form.Get("format")), Location: h.loc, Form: form}
	if len(req.Targets) == 0 {
		req.Targets = form["target[]"] // jQuery's style
	}
	if req.Format == "" {
		switch {
		case form.Has("rawData"):
			req.Format = "raw"
		case form.Has("pickle"):
			req.Format = "pickle"
		default:
			req.Format = "png"
		}
	}
	if _, ok := formats[req.Format]; !ok {
		return nil, badf("format: unsupported format %q (json, csv, raw, pickle, png, svg)", req.Format)
	}
	total := 0
	for _, t := range req.Targets {
		total += len(t)
	}
	if total > h.maxTarget {
		return nil, badf("target: total length %d exceeds %d", total, h.maxTarget)
	}
	if tz := form.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, badf("tz: unknown time zone %q", tz)
		}
		req.Location = loc
	}
	now := h.now()
	if v := form.Get("now"); v != "" {
		n, err := ParseTime(v, now, req.Location)
		if err != nil {
			return nil, badf("now: %v", err)
		}
		now = time.Unix(n, 0)
	}
	req.From, req.Until = now.Add(-24*time.Hour).Unix(), now.Unix()
	var err error
	if v := form.Get("from"); v != "" {
		if req.From, err = ParseTime(v, now, req.Location); err != nil {
			return nil, badf("from: %v", err)
		}
	}
	if v := form.Get("until"); v != "" {
		if req.Until, err = ParseTime(v, now, req.Location); err != nil {
			return nil, badf("until: %v", err)
		}
	}
	if req.From > req.Until { // graphite-web swaps them
		req.From, req.Until = req.Until, req.From
	}
	if req.From == req.Until {
		return nil, badf("from/until: invalid empty time range at %d", req.From)
	}
	if req.Until-req.From > h.maxRange {
		return nil, badf("from/until: time range of %d days exceeds the limit of %d days", (req.Until-req.From)/86400, h.maxRange/86400)
	}
	if v := form.Get("maxDataPoints"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, badf("maxDataPoints: cannot parse %q as a positive integer", v)
		}
		req.MaxDataPoints = n
	}
	if v := form.Get("xFilesFactor"); v != "" {
		f, err := strconv.ParseFloat(v, 32)
		if err != nil || f < 0 || f > 1 {
			return nil, badf("xFilesFactor: %q is not a number between 0 and 1", v)
		}
		req.XFilesFactor = float32(f)
	}
	req.NoNullPoints = form.Has("noNullPoints") && !isFalse(form.Get("noNullPoints"))
	req.JSONP = form.Get("jsonp")
	if req.JSONP != "" && !validJSONP(req.JSONP) {
		return nil, badf("jsonp: %q is not a valid callback name", req.JSONP)
	}
	return req, nil
}

// isFalse reports an explicit false flag; graphite-web only checks that
// noNullPoints is present, so any other value (even "") means true.
func isFalse(s string) bool {
	switch strings.ToLower(s) {
	case "0", "false", "no", "off":
		return true
	}
	return false
}

// validJSONP accepts JavaScript identifiers and dotted paths, so the
// callback cannot inject script.
func validJSONP(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || r == '$' || r == '.' || r == '[' || r == ']':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return len(s) <= 256
}

// Render serves GET and POST /render.
func (h *Handler) Render(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	req, err := h.ParseRequest(r.Form)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	series, err := h.eval(r.Context(), req)
	if err != nil {
		code := http.StatusInternalServerError
		var br *badRequest
		if errors.As(err, &br) {
			code = http.StatusBadRequest
		}
		if code >= 500 {
			h.log.Error("render failed", "targets", req.Targets, "err", err)
		}
		httpError(w, code, err.Error())
		return
	}
	body, ctype, err := h.marshal(req, series)
	if err != nil {
		var br *badRequest
		code := http.StatusInternalServerError
		if errors.As(err, &br) {
			code = http.StatusBadRequest
		}
		httpError(w, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(body)
}

// eval evaluates every target of req over the store. A parse error or a
// function's argument error is a *badRequest; a panic inside carbonapi is
// recovered and returned as an error.
func (h *Handler) eval(ctx context.Context, req *Request) (out []rendered, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic while evaluating targets", "targets", req.Targets, "panic", p, "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("evaluating %q: internal error: %v", req.Targets, p)
		}
	}()
	exprs := make([]parser.Expr, 0, len(req.Targets))
	styles := make([]style, 0, len(req.Targets))
	for _, t := range req.Targets {
		if strings.TrimSpace(t) == "" {
			continue
		}
		e, perr := parseTarget(t)
		if perr != nil {
			return nil, perr
		}
		if err := checkIntervals(e); err != nil {
			return nil, err
		}
		inner, st := stripStyle(e)
		exprs = append(exprs, inner)
		styles = append(styles, st)
	}
	if len(exprs) == 0 {
		return nil, nil
	}
	values := make(map[parser.MetricRequest][]*types.MetricData)
	fetched, ferr := h.evaluator.Fetch(ctx, exprs, req.From, req.Until, values)
	if ferr != nil {
		return nil, evalError("fetch", ferr, http.StatusInternalServerError)
	}
	for i, e := range exprs {
		res, eerr := h.evaluator.Eval(ctx, e, req.From, req.Until, fetched)
		if eerr != nil {
			if isNoData(eerr) {
				continue
			}
			return nil, evalError(e.ToString(), eerr, http.StatusBadRequest)
		}
		for _, md := range res {
			if md == nil {
				continue
			}
			out = append(out, rendered{md, styles[i]})
		}
	}
	return out, nil
}

// parseTarget parses one target expression; errors are bad requests.
func parseTarget(t string) (e parser.Expr, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, badf("target %q: cannot parse: %v", t, p)
		}
	}()
	e, rest, err := parser.ParseExpr(t)
	if err != nil {
		return nil, badf("target %q: %v", t, err)
	}
	if rest != "" {
		return nil, badf("target %q: cannot parse %q", t, rest)
	}
	return e, nil
}

// isNoData reports the errors graphite-web answers with an empty result.
func isNoData(err error) bool {
	return merry.HTTPCode(err) == http.StatusNotFound
}

// evalError turns a carbonapi error into a *badRequest when it is a client
// error: marked 4xx by carbonapi, or unmarked (500) while def is 400, since
// errors from evaluating functions are about their arguments and carbonapi
// leaves many unmarked (a number that does not parse). Storage errors
// (fetchError) are always server errors.
func evalError(target string, err error, def int) error {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fmt.Errorf("target %s: %w", target, fe)
	}
	code := merry.HTTPCode(err)
	if code == http.StatusInternalServerError {
		code = def
	}
	if code >= 400 && code < 500 {
		return badf("target %s: %s", target, merry.Message(err))
	}
	return fmt.Errorf("target %s: %w", target, err)
}

// marshal writes series in the request's format.
func (h *Handler) marshal(req *Request, rs []rendered) ([]byte, string, error) {
	ctype := formats[req.Format]
	series := make([]*types.MetricData, len(rs))
	for i, r := range rs {
		series[i] = r.MetricData
	}
	switch req.Format {
	case "json":
		body := marshalJSON(jsonSeries(series, req.MaxDataPoints, req.NoNullPoints, req.XFilesFactor))
		if req.JSONP != "" {
			var b bytes.Buffer
			b.WriteString(req.JSONP)
			b.WriteByte('(')
			b.Write(body)
			b.WriteByte(')')
			return b.Bytes(), "text/javascript", nil
		}
		return body, ctype, nil
	case "csv":
		return marshalCSV(series, req.Location), ctype, nil
	case "raw":
		return marshalRaw(series), ctype, nil
	case "pickle":
		return types.MarshalPickle(series), ctype, nil
	default: // png, svg
		opts, err := graph.ParseOptions(req.Form)
		if err != nil {
			return nil, "", &badRequest{err.Error()}
		}
		opts.From, opts.Until = time.Unix(req.From, 0).In(req.Location), time.Unix(req.Until, 0).In(req.Location)
		var b bytes.Buffer
		if err := graph.Draw(&b, req.Format, graphSeries(rs), opts); err != nil {
			return nil, "", fmt.Errorf("draw %s: %w", req.Format, err)
		}
		return b.Bytes(), ctype, nil
	}
}

// httpError answers with graphite-web's plain-text error.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
