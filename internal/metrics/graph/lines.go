package graph

import (
	"math"
	"time"

	"gonum.org/v1/plot/vg"
)

// layoutY consolidates the series to the drawing width, computes the value
// axes and makes room for their labels, repeating while the room for the
// labels changes the width (graphite-web's setupYAxis loop).
func (r *renderer) layoutY() error {
	showLabels := !r.o.HideAxes && !r.o.HideYAxis
	m := float64(r.o.Margin)
	for range 4 {
		before := r.area
		r.consolidate()
		lo, hi := r.valueRange(false)
		left, err := computeYAxis(lo, hi, r.o)
		if err != nil {
			return err
		}
		r.left = left
		if r.hasRight {
			ro := r.o
			ro.YMin, ro.YMax, ro.YStep, ro.YLimit = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			lo, hi := r.valueRange(true)
			if r.right, err = computeYAxis(lo, hi, ro); err != nil {
				return err
			}
		}
		if !showLabels {
			return nil
		}
		r.labelW = r.labelWidth(r.left)
		if r.o.YAxisSide == "right" && !r.hasRight {
			r.area.xmax = math.Min(r.area.xmax, r.w-m-r.labelW*1.02)
		} else {
			r.area.xmin = math.Max(r.area.xmin, m+r.labelW*1.02)
		}
		if r.hasRight {
			r.labelWR = r.labelWidth(r.right)
			r.area.xmax = math.Min(r.area.xmax, r.w-m-r.labelWR*1.02)
		}
		if r.area == before {
			return nil
		}
	}
	return nil
}

func (r *renderer) labelWidth(a yAxis) float64 {
	w := 0.0
	for _, v := range a.Labels {
		w = math.Max(w, r.face.Width(yLabel(v, a, r.o.YUnitSystem)).Points())
	}
	return w
}

// consolidate averages each series to at most one point per pixel of the
// drawing width and stacks the stacked series.
func (r *renderer) consolidate() {
	maxWidth := 0.0
	for _, l := range r.lines {
		maxWidth = math.Max(maxWidth, l.width)
	}
	pixels := math.Floor(r.area.xmax - r.area.xmin - (maxWidth + 1))
	if pixels < 1 {
		pixels = 1
	}
	var total []float64
	for _, l := range r.lines {
		ppp := 1
		if n := len(l.raw); float64(n) > pixels {
			ppp = int(math.Ceil(float64(n) / pixels))
		}
		l.values = consolidateAvg(l.raw, ppp)
		if l.stacked && !l.right {
			vals := make([]float64, len(l.values))
			for i, v := range l.values {
				for len(total) <= i {
					total = append(total, 0)
				}
				if math.IsNaN(v) {
					vals[i] = v
					continue
				}
				total[i] += v
				vals[i] = total[i]
			}
			l.values = vals
		}
		l.ppp = ppp
	}
}

// consolidateAvg averages runs of n values, ignoring NaN (all NaN: NaN).
func consolidateAvg(vals []float64, n int) []float64 {
	if n <= 1 {
		return vals
	}
	out := make([]float64, 0, (len(vals)+n-1)/n)
	for i := 0; i < len(vals); i += n {
		sum, cnt := 0.0, 0
		for _, v := range vals[i:min(i+n, len(vals))] {
			if !math.IsNaN(v) {
				sum += v
				cnt++
			}
		}
		if cnt == 0 {
			out = append(out, math.NaN())
		} else {
			out = append(out, sum/float64(cnt))
		}
	}
	return out
}

// valueRange is the least and greatest value drawn on one axis (NaN, NaN
// without values).
func (r *renderer) valueRange(right bool) (lo, hi float64) {
	lo, hi = math.NaN(), math.NaN()
	for _, l := range r.lines {
		if l.right != right {
			continue
		}
		for _, v := range l.values {
			if math.IsNaN(v) {
				continue
			}
			if math.IsNaN(lo) || v < lo {
				lo = v
			}
			if math.IsNaN(hi) || v > hi {
				hi = v
			}
		}
	}
	return lo, hi
}

// x is the pixel column of Unix time t.
func (r *renderer) x(t float64) float64 {
	return r.area.xmin + (t-float64(r.start))/float64(r.end-r.start)*(r.area.xmax-r.area.xmin)
}

// y is the pixel row of v on axis a, clamped to the drawing area; NaN
// where the axis cannot show v.
func (r *renderer) y(v float64, a yAxis) float64 {
	n := a.norm(v)
	if math.IsNaN(n) {
		return n
	}
	y := r.area.ymax - n*(r.area.ymax-r.area.ymin)
	return math.Min(r.area.ymax, math.Max(r.area.ymin, y))
}

func (r *renderer) drawYLabels() {
	if r.o.HideYAxis {
		return
	}
	draw := func(a yAxis, x, align float64) {
		for _, v := range a.Labels {
			r.text(r.face, yLabel(v, a, r.o.YUnitSystem), x, r.y(v, a), align, "middle", r.o.FgColor)
		}
	}
	if r.o.YAxisSide == "right" && !r.hasRight {
		draw(r.left, r.area.xmax+r.labelW*0.02+2, 0)
	} else {
		draw(r.left, r.area.xmin-r.labelW*0.02-2, 1)
	}
	if r.hasRight {
		draw(r.right, r.area.xmax+r.labelWR*0.02+2, 0)
	}
}

func (r *renderer) timeAt(t time.Time) float64 { return r.x(float64(t.Unix())) }

func (r *renderer) drawXLabels(conf xConfig) {
	start, end := time.Unix(r.start, 0), time.Unix(r.end, 0)
	y := r.area.ymax + r.extents().Ascent.Points()*0.4
	for _, t := range xTimes(start, end, conf.labelUnit, conf.labelStep, r.o.Location) {
		s := t.Format(conf.format)
		x := r.timeAt(t)
		half := r.face.Width(s).Points() / 2
		if x-half < 0 || x+half > r.w {
			continue
		}
		r.text(r.face, s, x, y, 0.5, "top", r.o.FgColor)
	}
}

func (r *renderer) drawGrid(conf xConfig) {
	r.c.SetLineWidth(0.4) // graphite-web's grid line width
	r.c.SetLineDash(nil, 0)
	hline := func(y float64) {
		y = math.Floor(y) + 0.5
		var p vg.Path
		p.Move(r.pt(r.area.xmin, y))
		p.Line(r.pt(r.area.xmax, y))
		r.c.Stroke(p)
	}
	vline := func(x float64) {
		x = math.Floor(x) + 0.5
		var p vg.Path
		p.Move(r.pt(x, r.area.ymin))
		p.Line(r.pt(x, r.area.ymax))
		r.c.Stroke(p)
	}
	start, end := time.Unix(r.start, 0), time.Unix(r.end, 0)
	r.c.SetColor(r.o.MinorGridLineColor)
	if r.left.LogBase == 0 {
		for i := 1; i < len(r.left.Labels); i++ {
			hline(r.y((r.left.Labels[i-1]+r.left.Labels[i])/2, r.left))
		}
	}
	for _, t := range xTimes(start, end, conf.minorUnit, conf.minorStep, r.o.Location) {
		vline(r.timeAt(t))
	}
	r.c.SetColor(r.o.MajorGridLineColor)
	for _, v := range r.left.Labels {
		hline(r.y(v, r.left))
	}
	for _, t := range xTimes(start, end, conf.majorUnit, conf.majorStep, r.o.Location) {
		vline(r.timeAt(t))
	}
}

// drawLines fills the areas and strokes the lines: stacked series from the
// top of the stack down (so each lower area covers only its own band),
// then the others in order.
func (r *renderer) drawLines() {
	var order []*line
	for i := len(r.lines) - 1; i >= 0; i-- {
		if r.lines[i].stacked && !r.lines[i].right {
			order = append(order, r.lines[i])
		}
	}
	for _, l := range r.lines {
		if !(l.stacked && !l.right) {
			order = append(order, l)
		}
	}
	alpha := 1.0
	if !math.IsNaN(r.o.AreaAlpha) {
		alpha = r.o.AreaAlpha
	}
	for _, l := range order {
		axis := r.left
		if l.right {
			axis = r.right
		}
		runs := r.runs(l, axis)
		if l.fill {
			r.c.SetColor(withAlpha(l.color, alpha))
			for _, run := range runs {
				var p vg.Path
				p.Move(r.pt(run[0][0], r.area.ymax))
				for _, q := range run {
					p.Line(r.pt(q[0], q[1]))
				}
				p.Line(r.pt(run[len(run)-1][0], r.area.ymax))
				p.Close()
				r.c.Fill(p)
			}
		}
		r.c.SetColor(l.color)
		r.c.SetLineWidth(vg.Length(l.width))
		if l.dashed {
			r.c.SetLineDash([]vg.Length{5, 5}, 0)
		} else {
			r.c.SetLineDash(nil, 0)
		}
		for _, run := range runs {
			var p vg.Path
			p.Move(r.pt(run[0][0], run[0][1]))
			for _, q := range run[1:] {
				p.Line(r.pt(q[0], q[1]))
			}
			r.c.Stroke(p)
		}
	}
}

// runs are the polylines of l in pixels: a run ends at a missing value
// (except in connected mode). Each value covers [t, t+step): slope mode
// joins the values at their start times and ends a run at the end of its
// last interval; staircase mode draws each interval flat.
func (r *renderer) runs(l *line, a yAxis) [][][2]float64 {
	var out [][][2]float64
	var cur [][2]float64
	step := float64(l.step) * float64(l.ppp)
	lastY := 0.0
	lastEnd := 0.0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		if r.o.LineMode != "staircase" {
			cur = append(cur, [2]float64{r.clampX(r.x(lastEnd)), lastY})
		}
		out = append(out, cur)
		cur = nil
	}
	for i, v := range l.values {
		t0 := float64(l.start) + float64(i)*step
		if t0 >= float64(r.end) || t0+step <= float64(r.start) {
			continue
		}
		y := math.NaN()
		if !math.IsNaN(v) {
			y = r.y(v, a)
		}
		if math.IsNaN(y) {
			if r.o.LineMode != "connected" {
				flush()
			}
			continue
		}
		x0 := r.clampX(r.x(t0))
		cur = append(cur, [2]float64{x0, y})
		if r.o.LineMode == "staircase" {
			cur = append(cur, [2]float64{r.clampX(r.x(t0 + step)), y})
		}
		lastY, lastEnd = y, t0+step
	}
	flush()
	return out
}

func (r *renderer) clampX(x float64) float64 {
	return math.Min(r.area.xmax, math.Max(r.area.xmin, x))
}
