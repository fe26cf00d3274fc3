package graph

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// yAxis is a computed value axis: labels at Labels, drawn from Bottom to Top.
type yAxis struct {
	Bottom, Top, Step float64
	LogBase           float64
	Labels            []float64
}

// errLogNonPositive is returned when logBase is asked for data with values <= 0.
var errLogNonPositive = errors.New("logBase: a logarithmic axis needs values greater than 0")

// computeYAxis chooses the value axis for data spanning [lo, hi] (NaN: no
// data) the way graphite-web's setupYAxis does: a "pretty" step dividing
// the range into 4 to 6 parts, bottom and top rounded to the step, unless
// yMin, yMax or yStep fix them.
func computeYAxis(lo, hi float64, o Options) (yAxis, error) {
	if math.IsNaN(lo) {
		lo = 0
	}
	if math.IsNaN(hi) {
		hi = 1
	}
	if !math.IsNaN(o.YMax) {
		hi = o.YMax
	}
	if !math.IsNaN(o.YLimit) && o.YLimit < hi {
		hi = o.YLimit
	}
	if !math.IsNaN(o.YMin) {
		lo = o.YMin
	}
	if hi <= lo {
		hi = lo + 1
	}
	a := yAxis{LogBase: o.LogBase}
	if !math.IsNaN(o.YStep) {
		a.Step = o.YStep
	} else {
		a.Step = prettyStep(hi - lo)
	}
	a.Bottom = a.Step * math.Floor(lo/a.Step)
	a.Top = a.Step * math.Ceil(hi/a.Step)
	if o.LogBase > 0 {
		if lo <= 0 {
			return yAxis{}, errLogNonPositive
		}
		lb := math.Log(o.LogBase)
		a.Bottom = math.Pow(o.LogBase, math.Floor(math.Log(lo)/lb))
		a.Top = math.Pow(o.LogBase, math.Ceil(math.Log(hi)/lb))
		if a.Top <= a.Bottom {
			a.Top = a.Bottom * o.LogBase
		}
	}
	if !math.IsNaN(o.YMax) {
		a.Top = o.YMax
	}
	if !math.IsNaN(o.YMin) {
		a.Bottom = o.YMin
	}
	if a.Top <= a.Bottom {
		a.Top = a.Bottom + 1
	}
	a.Labels = a.labelValues()
	return a, nil
}

// prettyStep is graphite-web's choice of label step for a value range.
func prettyStep(variance float64) float64 {
	order := math.Floor(math.Log10(variance))
	factor := math.Pow(10, order)
	v := variance / factor
	pretty := []float64{0.1, 0.2, 0.25, 0.5, 1.0, 1.2, 1.25, 1.5, 2.0, 2.25, 2.5}
	best, bestDist := 0.0, math.Inf(1)
	for _, d := range []float64{4, 5, 6} {
		q := v / d
		p := pretty[0]
		for _, c := range pretty {
			if math.Abs(c-q) < math.Abs(p-q) {
				p = c
			}
		}
		if dist := math.Abs(q - p); dist < bestDist {
			best, bestDist = p, dist
		}
	}
	return best * factor
}

// labelValues are the values labelled on the axis: multiples of Step
// (powers of LogBase on a log axis) from Bottom to Top.
func (a yAxis) labelValues() []float64 {
	var vals []float64
	if a.LogBase > 0 {
		for v := a.Bottom; v <= a.Top*(1+1e-9) && len(vals) < 100; v *= a.LogBase {
			vals = append(vals, v)
		}
		return vals
	}
	n := int(math.Round((a.Top - a.Bottom) / a.Step))
	if n > 100 || n < 0 {
		return []float64{a.Bottom, a.Top}
	}
	for i := 0; i <= n; i++ {
		v := a.Bottom + float64(i)*a.Step
		if v > a.Top+a.Step*1e-9 {
			break
		}
		if math.Abs(v) < a.Step*1e-9 {
			v = 0
		}
		vals = append(vals, v)
	}
	return vals
}

// norm maps a value to [0,1] along the axis (outside for values beyond it);
// NaN for values a log axis cannot show.
func (a yAxis) norm(v float64) float64 {
	if a.LogBase > 0 {
		if v <= 0 {
			return math.NaN()
		}
		return (math.Log(v) - math.Log(a.Bottom)) / (math.Log(a.Top) - math.Log(a.Bottom))
	}
	return (v - a.Bottom) / (a.Top - a.Bottom)
}

// unit is a prefix of a unit system and its size.
type unit struct {
	prefix string
	size   float64
}

// unitSystems are graphite-web's yUnitSystem prefixes, largest first.
func unitSystems(system string) []unit {
	switch system {
	case "si":
		return []unit{{"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"K", 1e3}}
	case "binary":
		return []unit{{"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}
	}
	return nil
}

// formatUnits scales v by the largest unit that both v and step reach
// (graphite-web's format_units with a step).
func formatUnits(v, step float64, system string) (float64, string) {
	for _, u := range unitSystems(system) {
		if math.Abs(v) >= u.size && step >= u.size {
			v2 := v / u.size
			if v2-math.Floor(v2) < 1e-11 && v > 1 {
				v2 = math.Floor(v2)
			}
			return v2, u.prefix
		}
	}
	if v-math.Floor(v) < 1e-11 && v > 1 {
		v = math.Floor(v)
	}
	return v, ""
}

// yLabel formats a value axis label as graphite-web's makeLabel does:
// "1.5 K", "2 M", "0.25", "100".
func yLabel(v float64, a yAxis, system string) string {
	v, prefix := formatUnits(v, a.Step, system)
	span, spanPrefix := formatUnits(a.Top-a.Bottom, a.Step, system)
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	var s string
	switch {
	case v < 0.1:
		s = g(v) + " " + prefix
	case v < 1.0:
		s = fmt.Sprintf("%.2f %s", v, prefix)
	case span > 10 || spanPrefix != prefix:
		s = fmt.Sprintf("%d %s", int64(v), prefix)
	case span > 3:
		s = fmt.Sprintf("%.1f %s", v, prefix)
	case span > 0.1:
		s = fmt.Sprintf("%.2f %s", v, prefix)
	default:
		s = g(v) + " " + prefix
	}
	if prefix == "" {
		s = s[:len(s)-1]
	}
	return s
}

// xConfig is one row of graphite-web's x axis table (borrowed from
// rrdtool): for a number of seconds per pixel, where the grid lines and
// labels go and how labels are formatted.
type xConfig struct {
	secondsPerPixel     float64
	minorUnit           time.Duration
	minorStep           float64
	majorUnit           time.Duration
	majorStep           float64
	labelUnit           time.Duration
	labelStep           float64
	format              string // time.Format layout
	maxInterval         time.Duration
	maxIntervalDisabled bool
}

const (
	sec    = time.Second
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)

// xConfigs is graphite-web's xAxisConfigs with Go time layouts.
func xConfigs() []xConfig {
	const hm, hms = "15:04", "15:04:05"
	return []xConfig{
		{0.00, sec, 5, minute, 1, sec, 5, hms, 10 * minute, false},
		{0.07, sec, 10, minute, 1, sec, 10, hms, 20 * minute, false},
		{0.14, sec, 15, minute, 1, sec, 15, hms, 30 * minute, false},
		{0.27, sec, 30, minute, 2, minute, 1, hm, 2 * hour, false},
		{0.5, minute, 1, minute, 2, minute, 1, hm, 2 * hour, false},
		{1.2, minute, 1, minute, 4, minute, 2, hm, 3 * hour, false},
		{2, minute, 1, minute, 10, minute, 5, hm, 6 * hour, false},
		{5, minute, 2, minute, 10, minute, 10, hm, 12 * hour, false},
		{10, minute, 5, minute, 20, minute, 20, hm, 1 * day, false},
		{30, minute, 10, hour, 1, hour, 1, hm, 2 * day, false},
		{60, minute, 30, hour, 2, hour, 2, hm, 2 * day, false},
		{100, hour, 2, hour, 4, hour, 4, "Mon 3PM", 6 * day, false},
		{255, hour, 6, hour, 12, hour, 12, "01/02 3PM", 0, true},
		{600, hour, 6, day, 1, day, 1, "01/02", 14 * day, false},
		{600, hour, 12, day, 1, day, 1, "01/02", 365 * day, false},
		{2000, day, 1, day, 2, day, 2, "01/02", 365 * day, false},
		{4000, day, 2, day, 4, day, 4, "01/02", 365 * day, false},
		{8000, day, 3.5, day, 7, day, 7, "01/02", 365 * day, false},
		{16000, day, 7, day, 14, day, 14, "01/02", 365 * day, false},
		{32000, day, 15, day, 30, day, 30, "01/02", 365 * day, false},
		{64000, day, 30, day, 60, day, 60, "01/02 2006", 0, true},
	}
}

// chooseXConfig picks the last row whose resolution fits secondsPerPixel
// and whose maxInterval covers the time range, as graphite-web does.
func chooseXConfig(timeRange time.Duration, graphWidth float64) xConfig {
	confs := xConfigs()
	spp := timeRange.Seconds() / graphWidth
	chosen := confs[0]
	for _, c := range confs {
		if c.secondsPerPixel <= spp && (c.maxIntervalDisabled || c.maxInterval >= timeRange) {
			chosen = c
		}
	}
	return chosen
}

// xTimes returns the times in [start, end] that are multiples of
// step×unit in loc (graphite-web's find_x_times: the start is truncated to
// the unit, then stepped forward).
func xTimes(start, end time.Time, unit time.Duration, step float64, loc *time.Location) []time.Time {
	start = start.In(loc)
	var t time.Time
	delta := time.Duration(float64(unit) * step)
	switch unit {
	case sec:
		s := start.Second() - start.Second()%int(step)
		t = time.Date(start.Year(), start.Month(), start.Day(), start.Hour(), start.Minute(), s, 0, loc)
	case minute:
		m := start.Minute() - start.Minute()%int(step)
		t = time.Date(start.Year(), start.Month(), start.Day(), start.Hour(), m, 0, 0, loc)
	case hour:
		h := start.Hour() - start.Hour()%int(step)
		t = time.Date(start.Year(), start.Month(), start.Day(), h, 0, 0, 0, loc)
	default:
		t = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
	}
	if delta <= 0 {
		return nil
	}
	var out []time.Time
	for ; !t.After(end) && len(out) < 1000; t = t.Add(delta) {
		if !t.Before(start) {
			out = append(out, t)
		}
	}
	return out
}
