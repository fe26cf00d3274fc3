package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) metricsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "metrics",
		Aliases: []string{"metric"},
		Short:   "Send, find, render and graph metric series (Graphite)",
		Long: `Send, find, render and graph metric series. The server speaks Graphite:
these commands use its HTTP API (/api/v1/metrics, /metrics/find, /render),
so targets are Graphite expressions: globs and functions such as
sumSeries(servers.*.cpu.user) or aliasByNode(stats.timers.*.mean, 2).`,
		Example: `  corral metrics send deploys.shop 1
  corral metrics find 'corral.*.cpu.*'
  corral metrics render 'corral.*.load.load1' --from -1h
  corral metrics graph 'sumSeries(stats.counters.*.rate)' -o rates.png`,
	}
	cmd.AddCommand(a.metricsSendCmd(), a.metricsFindCmd(), a.metricsRenderCmd(), a.metricsGraphCmd())
	return cmd
}

func (a *app) metricsSendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send PATH VALUE [TIMESTAMP]",
		Short: "Store one point (TIMESTAMP in unix seconds; default now)",
		Example: `  corral metrics send deploys.shop 1
  corral metrics send backups.size_bytes 123456789 1767225600`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseFloat(args[1], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("VALUE %q: want a finite number", args[1])
			}
			var ts int64
			if len(args) == 3 {
				if ts, err = strconv.ParseInt(args[2], 10, 64); err != nil || ts <= 0 {
					return fmt.Errorf("TIMESTAMP %q: want unix seconds", args[2])
				}
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.MetricsIngestResult, error) {
				res, err := c.SendMetrics(ctx, []api.MetricPoint{{Name: args[0], Value: v, Time: ts}})
				if err == nil && res.Rejected > 0 {
					err = fmt.Errorf("point not stored: %s", strings.Join(res.Errors, "; "))
				}
				return res, err
			}, func(w io.Writer, _ api.MetricsIngestResult) {
				fmt.Fprintf(w, "stored %s = %s\n", args[0], args[1])
			})
		},
	}
}

func (a *app) metricsFindCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "find PATTERN",
		Short: "List the series and branches matching a Graphite glob",
		Long: `List the series and branches one level down that match PATTERN, as
Graphite's /metrics/find does: * ? [a-z] {a,b} per path element.`,
		Example: "  corral metrics find '*'\n  corral metrics find 'corral.web-1.cpu.*'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]metricEntry, error) {
				nodes, err := c.FindMetrics(ctx, args[0])
				if err != nil {
					return nil, err
				}
				out := make([]metricEntry, 0, len(nodes))
				for _, n := range nodes {
					out = append(out, metricEntry{Path: n.Path, Leaf: n.Leaf})
				}
				return out, nil
			}, func(w io.Writer, out []metricEntry) {
				row(w, "PATH", "TYPE")
				for _, e := range out {
					kind := "branch"
					if e.Leaf {
						kind = "series"
					}
					row(w, e.Path, kind)
				}
			})
		},
	}
}

// metricEntry is a series or branch as `metrics find` prints it.
type metricEntry struct {
	Path string `json:"path"`
	Leaf bool   `json:"leaf"`
}

// renderFlags are the time range flags of render and graph.
type renderFlags struct{ from, until string }

func (f *renderFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.from, "from", "-1h", "start, in Graphite's forms: -1h, -2d, now-1d, HH:MM_YYYYMMDD, YYYYMMDD, unix seconds")
	cmd.Flags().StringVar(&f.until, "until", "now", "end, in the same forms as --from")
}

func (f *renderFlags) query(targets []string, format string) url.Values {
	q := url.Values{"target": targets, "from": {f.from}, "until": {f.until}, "format": {format}}
	return q
}

// renderedSeries is one series of Graphite's JSON render format.
type renderedSeries struct {
	Target     string            `json:"target"`
	Datapoints [][2]*float64     `json:"datapoints"`
	Tags       map[string]string `json:"tags,omitempty"`
}

func (a *app) metricsRenderCmd() *cobra.Command {
	var rf renderFlags
	cmd := &cobra.Command{
		Use:   "render TARGET...",
		Short: "Print series: a summary with a sparkline, or the points as json or csv",
		Long: `Evaluate Graphite targets over a time range and print them. The table
shows each series' points, min, max, average and last value and a
sparkline; -o json prints Graphite's JSON and -o csv its CSV.`,
		Example: `  corral metrics render 'corral.*.load.load1' --from -6h
  corral metrics render 'sumSeries(stats.counters.*.count)' --from -1d -o csv`,
		Args:        cobra.MinimumNArgs(1),
		Annotations: map[string]string{outputsAnnotation: "table,json,yaml,csv"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if a.output == "csv" {
				b, _, err := c.Render(cmd.Context(), rf.query(args, "csv"))
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(b)
				return err
			}
			b, _, err := c.Render(cmd.Context(), rf.query(args, "json"))
			if err != nil {
				return err
			}
			var series []renderedSeries
			if err := json.Unmarshal(b, &series); err != nil {
				return fmt.Errorf("render: decode answer: %w", err)
			}
			return a.emit(series, func(w io.Writer) error {
				row(w, "TARGET", "POINTS", "MIN", "MAX", "AVG", "LAST", "")
				for _, s := range series {
					st := summarize(s.Datapoints)
					row(w, s.Target, strconv.Itoa(st.n), num(st.min, st.n), num(st.max, st.n), num(st.avg, st.n), num(st.last, st.n), sparkline(s.Datapoints, 40))
				}
				if len(series) == 0 {
					fmt.Fprintln(w, "(no series matched)")
				}
				return nil
			})
		},
	}
	rf.add(cmd)
	return cmd
}

func (a *app) metricsGraphCmd() *cobra.Command {
	var (
		rf            renderFlags
		out, title    string
		width, height int
	)
	cmd := &cobra.Command{
		Use:   "graph TARGET... -o FILE",
		Short: "Draw a Graphite graph of targets to a PNG or SVG file",
		Long: `Draw the graph /render?format=png|svg draws, into FILE; the format follows
the extension (.png or .svg), and "-o -" writes PNG to stdout.`,
		Example: `  corral metrics graph 'corral.*.cpu.user' --from -6h -o cpu.png
  corral metrics graph 'stats.timers.api.mean' --title 'API latency' -o api.svg`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format := "png"
			switch ext := strings.ToLower(filepath.Ext(out)); {
			case out == "-":
			case ext == ".svg":
				format = "svg"
			case ext == ".png":
			default:
				return fmt.Errorf("--output %q: want a .png or .svg file, or - for stdout", out)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			q := rf.query(args, format)
			q.Set("width", strconv.Itoa(width))
			q.Set("height", strconv.Itoa(height))
			if title != "" {
				q.Set("title", title)
			}
			b, _, err := c.Render(cmd.Context(), q)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err = a.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (%d bytes)\n", out, len(b))
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write, .png or .svg (- for PNG on stdout)")
	cmd.Flags().IntVar(&width, "width", 800, "graph width in pixels")
	cmd.Flags().IntVar(&height, "height", 400, "graph height in pixels")
	cmd.Flags().StringVar(&title, "title", "", "graph title")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

type seriesStats struct {
	n                   int
	min, max, avg, last float64
}

func summarize(dps [][2]*float64) seriesStats {
	st := seriesStats{min: math.Inf(1), max: math.Inf(-1)}
	sum := 0.0
	for _, dp := range dps {
		if dp[0] == nil {
			continue
		}
		v := *dp[0]
		st.n++
		sum += v
		st.min, st.max, st.last = min(st.min, v), max(st.max, v), v
	}
	if st.n > 0 {
		st.avg = sum / float64(st.n)
	}
	return st
}

func num(v float64, n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the series in at most width characters: each character
// averages its share of the points; a share with no values is a space.
func sparkline(dps [][2]*float64, width int) string {
	if len(dps) == 0 {
		return ""
	}
	n := min(width, len(dps))
	vals := make([]float64, n)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range n {
		from, to := i*len(dps)/n, (i+1)*len(dps)/n
		sum, cnt := 0.0, 0
		for _, dp := range dps[from:to] {
			if dp[0] != nil {
				sum += *dp[0]
				cnt++
			}
		}
		vals[i] = math.NaN()
		if cnt > 0 {
			vals[i] = sum / float64(cnt)
			lo, hi = min(lo, vals[i]), max(hi, vals[i])
		}
	}
	var b strings.Builder
	for _, v := range vals {
		switch {
		case math.IsNaN(v):
			b.WriteByte(' ')
		case hi == lo:
			b.WriteRune(sparks[len(sparks)/2])
		default:
			b.WriteRune(sparks[int((v-lo)/(hi-lo)*float64(len(sparks)-1)+0.5)])
		}
	}
	return strings.TrimRight(b.String(), " ")
}
