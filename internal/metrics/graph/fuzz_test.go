package graph

import (
	"io"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseOptions parses arbitrary query strings; whatever is accepted
// must draw (small sizes only, to keep the fuzzer fast) and errors must
// name a parameter.
func FuzzParseOptions(f *testing.F) {
	f.Add("width=300&height=200&title=x&areaMode=stacked&colorList=red,00ff0080")
	f.Add("logBase=10&yMin=1&lineMode=staircase&hideLegend=false&tz=UTC")
	f.Add("graphOnly=true&yStep=0.5&yMax=3&fontName=mono&vtitle=a%0Ab")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		o, err := ParseOptions(q)
		if err != nil {
			if name, _, ok := strings.Cut(err.Error(), ":"); !ok || !q.Has(name) {
				t.Fatalf("error %q does not name a given parameter", err)
			}
			return
		}
		if o.Width*o.Height > 200*200 {
			o.Width, o.Height = 200, 150
		}
		s := []Series{constant("a", 50, 3, 7, 8), constant("b", 50, 9)}
		s[1].SecondYAxis = true
		if err := Draw(io.Discard, "svg", s, o); err != nil && !strings.HasPrefix(err.Error(), "logBase:") {
			t.Fatalf("Draw: %v", err)
		}
	})
}
