package graph

import (
	"fmt"
	"image/color"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/colornames"
)

// Graphite's defaults (graphite-web render API and graphTemplates.conf).
const (
	DefaultWidth     = 330
	DefaultHeight    = 250
	DefaultLineWidth = 1.2
	DefaultFontSize  = 10
	DefaultMargin    = 10
	// LegendMaxItems is graphite-web's LEGEND_MAX_ITEMS: with more series
	// than this the legend is hidden unless hideLegend=false.
	LegendMaxItems = 10
	maxSize        = 10000
)

// colorAliases are graphite-web 1.1's color names (glyph.py colorAliases;
// "red" is (200,0,50) and "darkred" pure red there).
func colorAliases() map[string]color.NRGBA {
	return map[string]color.NRGBA{
		"black":     {0, 0, 0, 255},
		"white":     {255, 255, 255, 255},
		"blue":      {100, 100, 255, 255},
		"green":     {0, 200, 0, 255},
		"red":       {200, 0, 50, 255},
		"yellow":    {255, 255, 0, 255},
		"orange":    {255, 165, 0, 255},
		"purple":    {200, 100, 255, 255},
		"brown":     {150, 100, 50, 255},
		"cyan":      {0, 255, 255, 255},
		"aqua":      {0, 150, 150, 255},
		"gray":      {175, 175, 175, 255},
		"grey":      {175, 175, 175, 255},
		"magenta":   {255, 0, 255, 255},
		"pink":      {255, 100, 100, 255},
		"gold":      {200, 200, 0, 255},
		"rose":      {200, 150, 200, 255},
		"darkblue":  {0, 0, 255, 255},
		"darkgreen": {0, 255, 0, 255},
		"darkred":   {255, 0, 0, 255},
		"darkgray":  {111, 111, 111, 255},
		"darkgrey":  {111, 111, 111, 255},
	}
}

// template is one section of graphite-web's graphTemplates.conf.
type template struct {
	bg, fg, major, minor string
	colors               string
}

// templates are the graph templates graphite-web ships; an unknown
// template name falls back to "default" as graphite-web does.
func templates() map[string]template {
	const graphiteColors = "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose"
	return map[string]template{
		"default": {bg: "black", fg: "white", major: "white", minor: "grey", colors: graphiteColors},
		"plain":   {bg: "white", fg: "black", major: "rose", minor: "grey", colors: graphiteColors},
	}
}

// ParseColor reads a Graphite color: a name from graphite-web's list
// ("blue", "darkgrey", ...), else an SVG/CSS color name ("navy", "teal",
// as carbonapi accepts), or hex "rrggbb" / "rrggbbaa", with or without '#'.
func ParseColor(s string) (color.NRGBA, error) {
	name := strings.ToLower(s)
	if c, ok := colorAliases()[name]; ok {
		return c, nil
	}
	if c, ok := colornames.Map[name]; ok {
		return color.NRGBA{c.R, c.G, c.B, c.A}, nil
	}
	h := strings.TrimPrefix(s, "#")
	if len(h) == 6 || len(h) == 8 {
		v, err := strconv.ParseUint(h, 16, 32)
		if err == nil {
			if len(h) == 6 {
				v = v<<8 | 0xff
			}
			return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
		}
	}
	return color.NRGBA{}, fmt.Errorf("unknown color %q", s)
}

// Options are the render parameters of a graph, in Graphite's names
// (width, height, title, vtitle, bgcolor, fgcolor, colorList, lineWidth,
// hideLegend, hideAxes, hideGrid, yMin, yMax, areaMode, lineMode,
// drawNullAsZero, fontSize, majorGridLineColor, minorGridLineColor,
// graphOnly, ...). Build them with ParseOptions (or DefaultOptions and
// then set fields): the zero value is not a usable graph.
type Options struct {
	Width, Height int
	Title, VTitle string
	// From and Until are the time range of the x axis; zero values mean
	// the extent of the series.
	From, Until time.Time

	VTitleRight string // vtitleRight: title of the second y axis
	Template    string // template: "default" or "plain"
	Margin      int    // margin around the drawing, pixels

	BgColor            color.NRGBA   // bgcolor
	FgColor            color.NRGBA   // fgcolor: text and axes
	MajorGridLineColor color.NRGBA   // majorGridLineColor
	MinorGridLineColor color.NRGBA   // minorGridLineColor
	ColorList          []color.NRGBA // colorList: series colors, cycled

	LineWidth float64 // lineWidth (alias thickness)
	LineMode  string  // lineMode: "slope", "staircase" or "connected"
	AreaMode  string  // areaMode: "none", "first", "all" or "stacked"
	AreaAlpha float64 // areaAlpha in [0,1]; NaN: opaque areas

	// HideLegend is hideLegend; nil hides the legend when there are more
	// than LegendMaxItems series, as graphite-web does.
	HideLegend   *bool
	UniqueLegend bool // uniqueLegend: one legend entry per name
	HideAxes     bool // hideAxes: no labels and no grid
	HideYAxis    bool // hideYAxis: no value labels
	HideGrid     bool // hideGrid
	GraphOnly    bool // graphOnly: lines only, no margins

	// YMin, YMax and YStep fix the value axis (yMin/min, yMax/max, yStep);
	// NaN means computed from the data as graphite-web does. YLimit caps
	// the computed maximum (yLimit).
	YMin, YMax, YStep, YLimit float64
	LogBase                   float64 // logBase; 0: linear
	YUnitSystem               string  // yUnitSystem: "si", "binary" or "none"
	YAxisSide                 string  // yAxisSide: "left" or "right"

	DrawNullAsZero bool // drawNullAsZero: missing values are 0

	FontSize   float64 // fontSize in pixels
	FontName   string  // fontName: mapped to Liberation Sans, Serif or Mono; unknown names draw in Sans
	FontBold   bool    // fontBold
	FontItalic bool    // fontItalic

	Location *time.Location // tz: time zone of the time axis; nil: UTC
}

// DefaultOptions returns graphite-web's defaults for the given template
// ("" or unknown: "default").
func DefaultOptions(tmpl string) Options {
	t, ok := templates()[tmpl]
	if !ok {
		tmpl = "default"
		t = templates()[tmpl]
	}
	must := func(s string) color.NRGBA {
		c, err := ParseColor(s)
		if err != nil {
			panic(err) // the built-in templates use known colors
		}
		return c
	}
	o := Options{
		Width: DefaultWidth, Height: DefaultHeight,
		Template:           tmpl,
		Margin:             DefaultMargin,
		BgColor:            must(t.bg),
		FgColor:            must(t.fg),
		MajorGridLineColor: must(t.major),
		MinorGridLineColor: must(t.minor),
		LineWidth:          DefaultLineWidth,
		LineMode:           "slope",
		AreaMode:           "none",
		AreaAlpha:          math.NaN(),
		YMin:               math.NaN(),
		YMax:               math.NaN(),
		YStep:              math.NaN(),
		YLimit:             math.NaN(),
		YUnitSystem:        "si",
		YAxisSide:          "left",
		FontSize:           DefaultFontSize,
		FontName:           "Sans",
		Location:           time.UTC,
	}
	for _, name := range strings.Split(t.colors, ",") {
		o.ColorList = append(o.ColorList, must(name))
	}
	return o
}

// ParseOptions reads graph parameters from a render query string, with
// Graphite's defaults (330x250, black background, white foreground, ...).
// Errors name the parameter. Parameters that are not graph options
// (target, from, until, format, ...) are ignored; From and Until are left
// for the caller to set.
func ParseOptions(q url.Values) (Options, error) {
	o := DefaultOptions(q.Get("template"))
	p := parser{q: q}

	p.int("width", &o.Width, 1, maxSize)
	p.int("height", &o.Height, 1, maxSize)
	p.int("margin", &o.Margin, 0, maxSize)
	p.str("title", &o.Title)
	p.str("vtitle", &o.VTitle)
	p.str("vtitleRight", &o.VTitleRight)
	p.color("bgcolor", &o.BgColor)
	p.color("fgcolor", &o.FgColor)
	p.color("majorGridLineColor", &o.MajorGridLineColor)
	p.color("minorGridLineColor", &o.MinorGridLineColor)
	if s, ok := p.get("colorList"); ok {
		var list []color.NRGBA
		for _, name := range strings.Split(s, ",") {
			c, err := ParseColor(strings.TrimSpace(name))
			if err != nil {
				p.fail("colorList", err.Error())
				break
			}
			list = append(list, c)
		}
		if len(list) > 0 {
			o.ColorList = list
		}
	}
	p.float("thickness", &o.LineWidth, 0, 100, false)
	p.float("lineWidth", &o.LineWidth, 0, 100, false)
	p.enum("lineMode", &o.LineMode, "slope", "staircase", "connected")
	p.enum("areaMode", &o.AreaMode, "none", "first", "all", "stacked")
	p.float("areaAlpha", &o.AreaAlpha, 0, 1, true)
	if _, ok := p.get("hideLegend"); ok {
		var b bool
		p.bool("hideLegend", &b)
		o.HideLegend = &b
	}
	p.bool("uniqueLegend", &o.UniqueLegend)
	p.bool("hideAxes", &o.HideAxes)
	p.bool("hideYAxis", &o.HideYAxis)
	p.bool("hideGrid", &o.HideGrid)
	p.bool("graphOnly", &o.GraphOnly)
	p.bool("drawNullAsZero", &o.DrawNullAsZero)
	p.float("min", &o.YMin, math.Inf(-1), math.Inf(1), true)
	p.float("yMin", &o.YMin, math.Inf(-1), math.Inf(1), true)
	p.float("max", &o.YMax, math.Inf(-1), math.Inf(1), true)
	p.float("yMax", &o.YMax, math.Inf(-1), math.Inf(1), true)
	p.float("yLimit", &o.YLimit, math.Inf(-1), math.Inf(1), true)
	p.float("yStep", &o.YStep, 0, math.Inf(1), false)
	if s, ok := p.get("logBase"); ok {
		if s == "e" {
			o.LogBase = math.E
		} else if v, err := strconv.ParseFloat(s, 64); err != nil || !(v > 1) || math.IsInf(v, 0) {
			p.fail("logBase", `must be "e" or a number greater than 1`)
		} else {
			o.LogBase = v
		}
	}
	p.enum("yUnitSystem", &o.YUnitSystem, "si", "binary", "none")
	p.enum("yAxisSide", &o.YAxisSide, "left", "right")
	p.float("fontSize", &o.FontSize, 0, 1000, false)
	p.str("fontName", &o.FontName)
	p.bool("fontBold", &o.FontBold)
	p.bool("fontItalic", &o.FontItalic)
	if s, ok := p.get("tz"); ok {
		loc, err := time.LoadLocation(s)
		if err != nil {
			p.fail("tz", fmt.Sprintf("unknown time zone %q", s))
		} else {
			o.Location = loc
		}
	}
	if p.err != nil {
		return Options{}, p.err
	}
	return o, nil
}

// parser reads typed parameters and keeps the first error.
type parser struct {
	q   url.Values
	err error
}

func (p *parser) get(name string) (string, bool) {
	if p.err != nil {
		return "", false
	}
	v, ok := p.q[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (p *parser) fail(name, msg string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", name, msg)
	}
}

func (p *parser) str(name string, dst *string) {
	if s, ok := p.get(name); ok {
		*dst = s
	}
}

func (p *parser) int(name string, dst *int, lo, hi int) {
	s, ok := p.get(name)
	if !ok {
		return
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < lo || v > hi {
		p.fail(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return
	}
	*dst = v
}

// float reads a finite number; with inclusive the bounds are allowed,
// otherwise it must be > lo and <= hi.
func (p *parser) float(name string, dst *float64, lo, hi float64, inclusive bool) {
	s, ok := p.get(name)
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	bad := err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v > hi || v < lo || (!inclusive && v == lo)
	if bad {
		switch {
		case math.IsInf(lo, -1) && math.IsInf(hi, 1):
			p.fail(name, "must be a number")
		case math.IsInf(hi, 1):
			p.fail(name, fmt.Sprintf("must be a number greater than %g", lo))
		case inclusive:
			p.fail(name, fmt.Sprintf("must be a number between %g and %g", lo, hi))
		default:
			p.fail(name, fmt.Sprintf("must be a number greater than %g and at most %g", lo, hi))
		}
		return
	}
	*dst = v
}

func (p *parser) bool(name string, dst *bool) {
	s, ok := p.get(name)
	if !ok {
		return
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on":
		*dst = true
	case "false", "0", "no", "off":
		*dst = false
	default:
		p.fail(name, "must be true or false")
	}
}

func (p *parser) enum(name string, dst *string, allowed ...string) {
	s, ok := p.get(name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			*dst = a
			return
		}
	}
	p.fail(name, fmt.Sprintf("must be one of %s", strings.Join(allowed, ", ")))
}

func (p *parser) color(name string, dst *color.NRGBA) {
	s, ok := p.get(name)
	if !ok {
		return
	}
	c, err := ParseColor(s)
	if err != nil {
		p.fail(name, err.Error())
		return
	}
	*dst = c
}
