// Package graph draws Graphite-style line graphs (PNG and SVG) of rendered
// series for the render API's format=png|svg and `corral metrics graph`.
// The render package imports it; it imports only the plotting library.
package graph

import (
	"errors"
	"io"
	"net/url"
	"time"
)

// Series is one line: Values[i] is the value at Start+i*Step (Unix seconds),
// NaN where missing. The style fields come from carbonapi's per-series
// functions (color(), lineWidth(), dashed(), stacked(), secondYAxis()).
type Series struct {
	Name        string
	Start, Step int64
	Values      []float64
	Color       string  // Graphite color name or hex ("red", "#ff0000", "ff0000"); "" picks from ColorList
	LineWidth   float64 // 0: Options.LineWidth
	Dashed      bool
	Stacked     bool
	SecondYAxis bool
}

// Options are the render parameters of a graph, in Graphite's names
// (width, height, title, vtitle, bgcolor, fgcolor, colorList, lineWidth,
// hideLegend, hideAxes, hideGrid, yMin, yMax, areaMode, lineMode,
// drawNullAsZero, fontSize, majorGridLineColor, minorGridLineColor,
// graphOnly, ...).
type Options struct {
	Width, Height int
	Title, VTitle string
	From, Until   time.Time
	// Other fields are added by the implementation.
}

// ParseOptions reads graph parameters from a render query string, with
// Graphite's defaults (330x250, black background, white foreground, ...).
// Errors name the parameter.
func ParseOptions(q url.Values) (Options, error) {
	return Options{}, errors.New("graph: not implemented")
}

// Draw writes the graph of series in format "png" or "svg" to w.
func Draw(w io.Writer, format string, series []Series, opts Options) error {
	return errors.New("graph: not implemented")
}
