package render

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/go-graphite/carbonapi/expr/consolidations"
	"github.com/go-graphite/carbonapi/expr/helper"
	"github.com/go-graphite/carbonapi/expr/interfaces"
	"github.com/go-graphite/carbonapi/expr/metadata"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/pkg/parser"
)

// movingWindow is graphite-web's movingWindow family (movingAverage,
// movingSum, movingMin, movingMax, movingMedian, movingWindow). carbonapi
// v0.18's version averages the window ending at the current point; graphite
// -web averages the windowPoints points before it ("the preceding
// datapoints"), so results differ by one step. This one follows
// graphite-web, names included (movingAverage(x,"5min")).
type movingWindow struct {
	fn string // aggregation; "" reads the func argument (movingWindow)
}

func (f movingWindow) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	if e.ArgsLen() < 2 {
		return nil, parser.ErrMissingArgument
	}
	fn, xffIdx := f.fn, 2
	if fn == "" {
		var err error
		if fn, err = e.GetStringNamedOrPosArgDefault("func", 2, "average"); err != nil {
			return nil, err
		}
		xffIdx = 3
	}
	agg, ok := consolidations.ConsolidationToFunc[fn]
	if !ok {
		return nil, fmt.Errorf("%w: unknown aggregation %q", parser.ErrInvalidArg, fn)
	}
	xff := math.NaN()
	if _, ok := e.NamedArg("xFilesFactor"); ok || e.ArgsLen() > xffIdx {
		v, err := e.GetFloatNamedOrPosArgDefault("xFilesFactor", xffIdx, math.NaN())
		if err != nil {
			return nil, err
		}
		xff = v
	}

	win := e.Arg(1)
	var preview int64
	var argStr string
	var points int
	switch win.Type() {
	case parser.EtConst:
		n := int(win.FloatValue())
		if n <= 0 {
			return nil, fmt.Errorf("%w: windowSize must be positive", parser.ErrInvalidArg)
		}
		series, err := helper.GetSeriesArg(ctx, eval, e.Arg(0), from, until, values)
		if err != nil || len(series) == 0 {
			return series, err
		}
		var maxStep int64
		for _, s := range series {
			maxStep = max(maxStep, s.StepTime)
		}
		preview, points, argStr = maxStep*int64(n), n, itoa(int64(n))
	case parser.EtString:
		d, err := parseTimeOffset(strings.ToLower(win.StringValue()))
		if err != nil {
			return nil, fmt.Errorf("%w: windowSize %q: %v", parser.ErrInvalidArg, win.StringValue(), err)
		}
		preview = int64(math.Abs(d.Seconds()))
		argStr = `"` + win.StringValue() + `"`
	default:
		return nil, parser.ErrBadType
	}
	start := from - preview
	fetched, err := eval.Fetch(ctx, []parser.Expr{e.Arg(0)}, start, until, values)
	if err != nil {
		return nil, err
	}
	series, err := helper.GetSeriesArg(ctx, eval, e.Arg(0), start, until, fetched)
	if err != nil {
		return nil, err
	}
	tagName := "moving" + strings.ToUpper(fn[:1]) + fn[1:]
	tagValue := strings.Trim(argStr, `"`)
	out := make([]*types.MetricData, 0, len(series))
	for _, s := range series {
		wp := points
		if win.Type() == parser.EtString && s.StepTime > 0 {
			wp = int(preview / s.StepTime)
		}
		r := s.CopyLinkTags()
		r.Name = tagName + "(" + s.Name + "," + argStr + ")"
		r.PathExpression = r.Name
		r.Tags[tagName] = tagValue
		r.StartTime = s.StartTime + preview
		effXFF := xff
		if math.IsNaN(effXFF) {
			effXFF = float64(s.XFilesFactor)
		}
		vals := make([]float64, 0, max(0, len(s.Values)-wp))
		known := make([]float64, 0, min(wp, len(s.Values)))
		for i := wp; i < len(s.Values); i++ {
			known = known[:0]
			for _, v := range s.Values[i-wp : i] {
				if !math.IsNaN(v) {
					known = append(known, v)
				}
			}
			if len(known) > 0 && wp > 0 && float64(len(known))/float64(wp) >= effXFF {
				vals = append(vals, agg(known))
			} else {
				vals = append(vals, math.NaN())
			}
		}
		r.Values = vals
		out = append(out, r)
	}
	return out, nil
}

// Description keeps carbonapi's descriptions of the functions it replaces.
func (f movingWindow) Description() map[string]types.FunctionDescription { return nil }

// overrides are the functions Corral registers over carbonapi's, by name,
// where carbonapi v0.18 differs from graphite-web: the graph-style
// pass-throughs and threshold (see style.go), the moving window family,
// derivative and countSeries (each checked against graphite-web's results
// in render_test.go), timeShift's series names, and a faster sumSeries (see
// sum.go).
// Descriptions of the moving functions stay carbonapi's (same parameters).
func overrides() map[string]interfaces.Function {
	m := map[string]interfaces.Function{
		"movingAverage": movingWindow{fn: "average"},
		"movingSum":     movingWindow{fn: "sum"},
		"movingMin":     movingWindow{fn: "min"},
		"movingMax":     movingWindow{fn: "max"},
		"movingMedian":  movingWindow{fn: "median"},
		"movingWindow":  movingWindow{},
	}
	for name := range styleFuncs {
		m[name] = passThrough{name}
	}
	m["threshold"] = threshold{}
	m["derivative"] = derivative{}
	if inner, ok := registered("countSeries"); ok {
		m["countSeries"] = countSeries{inner}
	}
	if inner, ok := registered("timeShift"); ok {
		m["timeShift"] = timeShiftName{inner}
	}
	for _, name := range []string{"sumSeries", "sum"} {
		if inner, ok := registered(name); ok {
			m[name] = fastSum{inner}
		}
	}
	return m
}

// registered returns carbonapi's implementation of a function.
func registered(name string) (interfaces.Function, bool) {
	metadata.FunctionMD.RLock()
	defer metadata.FunctionMD.RUnlock()
	f, ok := metadata.FunctionMD.Functions[name]
	return f, ok
}

// registerOverrides installs overrides into carbonapi's registry. It runs
// once, under registerOnce, after functions.New and rewrite.New.
func registerOverrides() {
	ov := overrides()
	for _, name := range sortedKeys(ov) {
		metadata.RegisterFunctionWithFilename(name, "corral", ov[name])
	}
	metadata.FunctionMD.RLock()
	inner, ok := metadata.FunctionMD.RewriteFunctions["applyByNode"]
	metadata.FunctionMD.RUnlock()
	if ok {
		metadata.RegisterRewriteFunctionWithFilename("applyByNode", "corral", dedupRewrite{inner})
	}
}

// derivative is graphite-web's derivative: the delta to the previous point,
// null when either is null. carbonapi v0.18 keeps the last non-null value
// across gaps instead, so the first point after a gap differs.
type derivative struct{}

func (derivative) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	if e.ArgsLen() < 1 {
		return nil, parser.ErrMissingArgument
	}
	series, err := helper.GetSeriesArg(ctx, eval, e.Arg(0), from, until, values)
	if err != nil {
		return nil, err
	}
	out := make([]*types.MetricData, 0, len(series))
	for _, s := range series {
		r := s.CopyLinkTags()
		r.Name = "derivative(" + s.Name + ")"
		r.PathExpression = r.Name
		r.Tags["derivative"] = "1"
		r.Values = make([]float64, len(s.Values))
		prev := math.NaN()
		for i, v := range s.Values {
			r.Values[i] = v - prev // NaN when either is NaN
			prev = v
		}
		out = append(out, r)
	}
	return out, nil
}

func (derivative) Description() map[string]types.FunctionDescription { return nil }

// countSeries is graphite-web's countSeries: a line at the number of series
// (carbonapi v0.18 counts the non-null values of each point instead). Its
// name, tags and time range are carbonapi's.
type countSeries struct{ inner interfaces.Function }

func (f countSeries) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	res, err := f.inner.Do(ctx, eval, e, from, until, values)
	if err != nil || len(res) != 1 {
		return res, err
	}
	series, err := helper.GetSeriesArgs(ctx, eval, e.Args(), from, until, values)
	if err != nil {
		return nil, err
	}
	r := res[0].CopyLinkTags()
	r.Values = make([]float64, len(res[0].Values))
	for i := range r.Values {
		r.Values[i] = float64(len(series))
	}
	return []*types.MetricData{r}, nil
}

func (f countSeries) Description() map[string]types.FunctionDescription { return nil }
