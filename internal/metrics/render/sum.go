package render

import (
	"context"
	"math"
	"strings"

	fconfig "github.com/go-graphite/carbonapi/expr/functions/config"
	"github.com/go-graphite/carbonapi/expr/helper"
	"github.com/go-graphite/carbonapi/expr/interfaces"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/pkg/parser"
)

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
