package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

// logsCmdRoot is `corral logs`: search, count, chart and follow the log
// store.
func (a *app) logsCmdRoot() *cobra.Command {
	var (
		lf          logFlags
		until       string
		oldestFirst bool
		cursor      string
		countBy     string
		top         int
		histogram   bool
		step        string
	)
	cmd := &cobra.Command{
		Use:   "logs [QUERY]",
		Short: "Search, count and follow the logs of every node and app",
		Long: `Search the log store: the lines every agent collected (its log files, the
output of apps and jobs, syslog, JSON lines and Beats senders), newest first.

A query is words and field filters, all of which must match:
  timeout                      a word of the message (case-insensitive; time* globs)
  "connection reset"           a phrase of the message
  level:error  app:shop/*      a field equals the value (* globs; field:* is present)
  status>=500  bytes<1000      numeric comparisons (time>=2026-11-25T16:00:00Z)
  -path:/health                a term (or a group) negated
  a OR b   (a OR b) c          alternatives and grouping
Fields are time, node, source, app, task, stream, level, message and every
field a parser found (status, path, method, client_ip, ... of access logs;
nested JSON as a.b).

With --count FIELD, prints how many matching lines have each value of the
field; with --histogram, how many fall in each step of time. With -f, prints
the newest lines and then every new one as it arrives, until interrupted.`,
		Example: `  corral logs 'app:shop/api level:error status>=500 "timeout" -path:/health' --since 1h
  corral logs -f 'source:syslog'
  corral logs 'service:nginx' --count status --since 1d
  corral logs 'level:error' --histogram --since 6h --step 10m
  corral logs timeout -n 50 --cursor 18b3c...   (the next, older page)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.LogQuery{}
			if len(args) == 1 {
				q.Q = args[0]
			}
			q, err := lf.query(q)
			if err != nil {
				return err
			}
			q.Until, q.Cursor, q.Desc = until, cursor, !oldestFirst
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			switch {
			case countBy != "" && histogram:
				return fmt.Errorf("--count and --histogram: choose one")
			case countBy != "":
				return a.printLogCount(ctx, c, q, countBy, top)
			case histogram:
				return a.printLogHistogram(ctx, c, q, step)
			case lf.follow:
				q.Desc = false
				return c.FollowLogs(ctx, q, a.printLogEntry)
			}
			es, next, err := c.LogsPage(ctx, q)
			if err != nil {
				return err
			}
			for _, e := range es {
				if err := a.printLogEntry(e); err != nil {
					return err
				}
			}
			if next != "" && a.output == "" {
				fmt.Fprintf(a.stderr, "(more: add --cursor %s for the next page)\n", next)
			}
			return nil
		},
	}
	lf.add(cmd)
	f := cmd.Flags()
	f.StringVar(&until, "until", "", "only lines before this long ago (10m) or this RFC 3339 time")
	f.BoolVar(&oldestFirst, "oldest-first", false, "print the page oldest first (the newest lines still)")
	f.StringVar(&cursor, "cursor", "", "continue with the page after the one that printed this cursor")
	f.StringVar(&countBy, "count", "", "count the matching lines by the values of this field")
	f.IntVar(&top, "top", 10, "with --count, how many values to print")
	f.BoolVar(&histogram, "histogram", false, "count the matching lines per step of time (--since, default 1h)")
	f.StringVar(&step, "step", "", "with --histogram, the step (1m, 1h); default: the range in 60 steps")
	return cmd
}

func (a *app) printLogCount(ctx context.Context, c *client.Client, q client.LogQuery, field string, top int) error {
	bs, err := c.LogCount(ctx, q, field, top)
	if err != nil {
		return err
	}
	return a.emit(orEmpty(bs), func(w io.Writer) error {
		row(w, strings.ToUpper(field), "COUNT")
		for _, b := range bs {
			row(w, b.Key, strconv.FormatInt(b.Count, 10))
		}
		return nil
	})
}

func (a *app) printLogHistogram(ctx context.Context, c *client.Client, q client.LogQuery, step string) error {
	if q.Since == "" {
		q.Since = "1h"
	}
	bs, err := c.LogHistogram(ctx, q, step)
	if err != nil {
		return err
	}
	return a.emit(orEmpty(bs), func(w io.Writer) error {
		writeHistogram(w, bs)
		return nil
	})
}

// writeHistogram writes TIME COUNT rows with a bar scaled to the largest
// count.
func writeHistogram(w io.Writer, bs []api.LogBucket) {
	var most int64
	for _, b := range bs {
		most = max(most, b.Count)
	}
	row(w, "TIME", "COUNT", "")
	for _, b := range bs {
		bar := ""
		if most > 0 {
			bar = strings.Repeat("#", int((b.Count*40+most-1)/most))
		}
		row(w, b.Time.Local().Format("2006-01-02 15:04:05"), strconv.FormatInt(b.Count, 10), bar)
	}
}
