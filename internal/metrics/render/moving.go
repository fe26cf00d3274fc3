package render

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/go-graphite/carbonapi/expr/consolidations"
	"github.com/go-graphite/carbonapi/expr/helper"
	"github.com/go-graphite/carbonapi/expr/interfaces"
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
