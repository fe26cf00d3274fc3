package render

import (
	"context"
	"math"
	"sort"
	"strings"

	fconfig "github.com/go-graphite/carbonapi/expr/functions/config"
	"github.com/go-graphite/carbonapi/expr/helper"
	"github.com/go-graphite/carbonapi/expr/interfaces"
	"github.com/go-graphite/carbonapi/expr/metadata"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/pkg/parser"
)

// overrides are the functions Corral registers over carbonapi's, by name,
// where carbonapi v0.18 differs from graphite-web: the graph-style
// pass-throughs and threshold (see style.go), the moving window family,
// derivative and countSeries (each checked against graphite-web's results
// in render_test.go), timeShift's series names, and a faster sumSeries
// (fastSum). Descriptions stay carbonapi's (same parameters) except for the
// style functions, which carbonapi describes only in its cairo build.
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
	// carbonapi builds these from a Go map: their order changes from one
	// request to the next. graphite-web's follows its input, which is sorted
	// by name for seriesByTag and globs: sorted by name here.
	for _, name := range []string{"groupByTags", "groupByNode", "groupByNodes"} {
		if inner, ok := registered(name); ok {
			m[name] = sortedByName{inner}
		}
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

// sortedByName returns a function's series sorted by name.
type sortedByName struct{ inner interfaces.Function }

func (f sortedByName) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	res, err := f.inner.Do(ctx, eval, e, from, until, values)
	if err != nil {
		return res, err
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	return res, nil
}

func (f sortedByName) Description() map[string]types.FunctionDescription { return nil }

// fastSum is sumSeries (and its alias sum) for the common case of aligned
// inputs (same start, step and length): it adds series by series instead of
// carbonapi's point-by-point gather across every input, which thrashes the
// cache with a thousand inputs. Values are bit-identical (same order of
// additions); name and tags are built as carbonapi's aggregate does.
// Unaligned inputs go to carbonapi's implementation.
type fastSum struct{ inner interfaces.Function }

func (f fastSum) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	if _, err := e.GetStringArg(1); err == nil {
		return f.inner.Do(ctx, eval, e, from, until, values) // not a series list: let carbonapi report it
	}
	args, err := helper.GetSeriesArgsAndRemoveNonExisting(ctx, eval, e, from, until, values)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return []*types.MetricData{}, nil
	}
	first := args[0]
	for _, a := range args[1:] {
		if a.StartTime != first.StartTime || a.StepTime != first.StepTime || a.StopTime != first.StopTime || len(a.Values) != len(first.Values) {
			return f.inner.Do(ctx, eval, e, from, until, values)
		}
	}
	sums := make([]float64, len(first.Values))
	known := make([]bool, len(first.Values))
	for _, a := range args {
		for j, v := range a.Values {
			if !math.IsNaN(v) {
				sums[j] += v
				known[j] = true
			}
		}
	}
	for j, k := range known {
		if !k {
			sums[j] = math.NaN()
		}
	}
	r := first.CopyNameArg("sumSeries("+e.RawArgs()+")", "sumSeries", helper.GetCommonTags(args), fconfig.Config.ExtractTagsFromArgs)
	r.Values = sums
	if _, ok := r.Tags["name"]; !ok {
		r.Tags["name"] = r.Name
	}
	r.Tags["aggregatedBy"] = "sum"
	return []*types.MetricData{r}, nil
}

func (fastSum) Description() map[string]types.FunctionDescription { return nil }

// dedupRewrite wraps carbonapi's applyByNode, which yields one target per
// input series; graphite-web applies the template once per distinct prefix.
type dedupRewrite struct{ inner interfaces.RewriteFunction }

func (f dedupRewrite) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) (bool, []string, error) {
	ok, targets, err := f.inner.Do(ctx, eval, e, from, until, values)
	if err != nil || !ok {
		return ok, targets, err
	}
	seen := make(map[string]bool, len(targets))
	out := targets[:0:0]
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return ok, out, nil
}

func (dedupRewrite) Description() map[string]types.FunctionDescription { return nil }

// timeShiftName wraps carbonapi's timeShift to name series as graphite-web
// does, timeShift(a.b, "-1h"), instead of timeShift(a.b,'-3600',false).
type timeShiftName struct{ inner interfaces.Function }

func (f timeShiftName) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	res, err := f.inner.Do(ctx, eval, e, from, until, values)
	if err != nil || e.ArgsLen() < 2 {
		return res, err
	}
	shift, err := e.GetStringNamedOrPosArgDefault("timeShift", 1, "")
	if err != nil || shift == "" {
		return res, nil
	}
	if shift[0] >= '0' && shift[0] <= '9' {
		shift = "-" + shift
	}
	for _, r := range res {
		inner, ok := strings.CutPrefix(r.Name, "timeShift(")
		if i := strings.LastIndex(inner, ",'"); ok && i >= 0 {
			r.Name = `timeShift(` + inner[:i] + `, "` + shift + `")`
		}
	}
	return res, nil
}

func (timeShiftName) Description() map[string]types.FunctionDescription { return nil }
