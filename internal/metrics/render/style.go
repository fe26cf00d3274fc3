package render

import (
	"context"
	"strconv"

	"github.com/go-graphite/carbonapi/expr/interfaces"
	"github.com/go-graphite/carbonapi/expr/types"
	"github.com/go-graphite/carbonapi/pkg/parser"

	"corral/internal/metrics/graph"
)

// Graphite's graph-style functions (color, lineWidth, dashed, ...) only set
// drawing attributes. carbonapi implements them in its cairo build, which
// needs cgo; without it they return no series at all. Corral registers
// pass-through versions instead and carries the attributes of the
// outermost style calls of each target to the graph package itself.

// style holds the drawing attributes of one target.
type style struct {
	color       string
	lineWidth   float64
	dashed      bool
	stacked     bool
	secondYAxis bool
}

// styleFuncs are the pass-through graph-style functions, by name, with the
// description /functions lists (graphite-web's "Graph" group).
var styleFuncs = map[string]types.FunctionDescription{
	"color": {Name: "color", Function: "color(seriesList, theColor)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Assigns the given color to the seriesList",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
			{Name: "theColor", Type: types.String, Required: true},
		}},
	"alpha": {Name: "alpha", Function: "alpha(seriesList, alpha)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Assigns the given alpha transparency setting to the series. Takes a float value between 0 and 1.",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
			{Name: "alpha", Type: types.Float, Required: true},
		}},
	"lineWidth": {Name: "lineWidth", Function: "lineWidth(seriesList, width)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Takes one metric or a wildcard seriesList, followed by a float F. Draw the selected metrics with a line width of F, overriding the default value of 1, or the &lineWidth=X.X parameter.",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
			{Name: "width", Type: types.Float, Required: true},
		}},
	"dashed": {Name: "dashed", Function: "dashed(seriesList, dashLength=5)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Takes one metric or a wildcard seriesList, followed by a float F. Draw the selected metrics with a dotted line with segments of length F. If omitted, the default length of the segments is 5.0",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
			{Name: "dashLength", Type: types.Float, Default: types.NewSuggestion(5)},
		}},
	"stacked": {Name: "stacked", Function: "stacked(seriesLists, stack=None)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Takes one metric or a wildcard seriesList and change them so they are stacked.",
		Params: []types.FunctionParam{
			{Name: "seriesLists", Type: types.SeriesList, Required: true},
			{Name: "stack", Type: types.String},
		}},
	"secondYAxis": {Name: "secondYAxis", Function: "secondYAxis(seriesList)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Graph the series on the secondary Y axis.",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
		}},
	"drawAsInfinite": {Name: "drawAsInfinite", Function: "drawAsInfinite(seriesList)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Takes one metric or a wildcard seriesList. If the value is zero, draw the line at 0. If the value is above zero, draw the line at infinity.",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
		}},
	"areaBetween": {Name: "areaBetween", Function: "areaBetween(seriesList)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Draws the vertical area in between the two series in seriesList.",
		Params: []types.FunctionParam{
			{Name: "seriesList", Type: types.SeriesList, Required: true},
		}},
}

// passThrough evaluates a style function's first argument unchanged.
type passThrough struct{ name string }

func (f passThrough) Do(ctx context.Context, eval interfaces.Evaluator, e parser.Expr, from, until int64, values map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	if e.ArgsLen() == 0 {
		return nil, parser.ErrMissingArgument
	}
	return eval.Eval(ctx, e.Arg(0), from, until, values)
}

func (f passThrough) Description() map[string]types.FunctionDescription {
	return map[string]types.FunctionDescription{f.name: styleFuncs[f.name]}
}

// threshold is graphite-web's threshold(value, label=None, color=None): a
// constantLine named label (or the value) in the given color. Only the line
// itself is produced here; the color applies when it is the outermost call
// (see stripStyle).
type threshold struct{}

func (threshold) Do(_ context.Context, _ interfaces.Evaluator, e parser.Expr, from, until int64, _ map[parser.MetricRequest][]*types.MetricData) ([]*types.MetricData, error) {
	v, err := e.GetFloatArg(0)
	if err != nil {
		return nil, err
	}
	name, err := e.GetStringNamedOrPosArgDefault("label", 1, "")
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = strconv.FormatFloat(v, 'g', -1, 64)
	}
	step := max((until-from)/2, 1)
	md := types.MakeMetricData(name, []float64{v, v, v}, step, from)
	md.StopTime = until
	return []*types.MetricData{md}, nil
}

func (threshold) Description() map[string]types.FunctionDescription {
	return map[string]types.FunctionDescription{"threshold": {
		Name: "threshold", Function: "threshold(value, label=None, color=None)", Group: "Graph", Module: "graphite.render.functions",
		Description: "Takes a float F, followed by a label (in double quotes) and a color. Draws a horizontal line at value F across the graph.",
		Params: []types.FunctionParam{
			{Name: "value", Type: types.Float, Required: true},
			{Name: "label", Type: types.String},
			{Name: "color", Type: types.String},
		}}}
}

// stripStyle peels the outermost style calls off e and returns the inner
// expression with their attributes. In graphite-web the outer call runs
// last and wins, so peeling outside-in keeps the first value of each.
func stripStyle(e parser.Expr) (parser.Expr, style) {
	var st style
	var seen = map[string]bool{}
	for e.IsFunc() && e.ArgsLen() > 0 {
		name := e.Target()
		if name == "threshold" {
			if c, err := e.GetStringNamedOrPosArgDefault("color", 2, ""); err == nil && st.color == "" {
				st.color = c
			}
			break
		}
		if _, ok := styleFuncs[name]; !ok {
			break
		}
		if !seen[name] {
			seen[name] = true
			switch name {
			case "color":
				if c, err := e.GetStringArg(1); err == nil {
					st.color = c
				}
			case "lineWidth":
				if w, err := e.GetFloatArg(1); err == nil {
					st.lineWidth = w
				}
			case "dashed":
				st.dashed = true
			case "stacked":
				st.stacked = true
			case "secondYAxis":
				st.secondYAxis = true
			}
		}
		e = e.Arg(0)
	}
	return e, st
}

// rendered is one result series with the style of its target.
type rendered struct {
	*types.MetricData
	style style
}

// graphSeries converts results for the graph package.
func graphSeries(rs []rendered) []graph.Series {
	out := make([]graph.Series, 0, len(rs))
	for _, r := range rs {
		out = append(out, graph.Series{
			Name:        r.Name,
			Start:       r.StartTime,
			Step:        r.StepTime,
			Values:      r.Values,
			Color:       r.style.color,
			LineWidth:   r.style.lineWidth,
			Dashed:      r.style.dashed,
			Stacked:     r.style.stacked,
			SecondYAxis: r.style.secondYAxis,
		})
	}
	return out
}
