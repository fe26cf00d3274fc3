package render

import (
	"github.com/go-graphite/carbonapi/pkg/parser"
)

// Some carbonapi functions loop forever (or until memory runs out) on a
// zero or negative bucket interval, such as summarize(x,'0h'); a handler
// cannot recover from that, so such targets are refused before evaluation.

// bucketFuncs take intervals that must be positive.
var bucketFuncs = map[string]bool{
	"summarize":          true,
	"smartSummarize":     true,
	"hitcount":           true,
	"integralByInterval": true,
}

// intervalFuncs take intervals that must not be zero.
var intervalFuncs = map[string]bool{
	"timeStack":                  true,
	"baselines":                  true,
	"baselineAbs":                true,
	"holtWintersForecast":        true,
	"holtWintersConfidenceBands": true,
	"holtWintersConfidenceArea":  true,
	"holtWintersAberration":      true,
	"exponentialMovingAverage":   true,
	"tukeyAbove":                 true,
	"tukeyBelow":                 true,
	"slo":                        true,
	"sloErrorBudget":             true,
}

// checkIntervals walks e and returns a *badRequest for a function in the
// lists above given a zero (or, for buckets, negative) interval.
func checkIntervals(e parser.Expr) error {
	if !e.IsFunc() {
		return nil
	}
	name := e.Target()
	args := e.Args()
	for _, a := range e.NamedArgs() {
		args = append(args, a)
	}
	for _, a := range args {
		if a.IsFunc() {
			if err := checkIntervals(a); err != nil {
				return err
			}
			continue
		}
		if !a.IsString() || !(bucketFuncs[name] || intervalFuncs[name]) {
			continue
		}
		n, err := parser.IntervalString(a.StringValue(), 1)
		if err != nil {
			continue // not an interval argument
		}
		if n == 0 || (n < 0 && bucketFuncs[name]) {
			return badf("%s: interval %q must be positive", name, a.StringValue())
		}
	}
	return nil
}
