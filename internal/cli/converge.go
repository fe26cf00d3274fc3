package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) convergeCmd() *cobra.Command {
	var trig api.ConvergeTrigger
	var now bool
	var wait, interval time.Duration
	cmd := &cobra.Command{
		Use:   "converge --now|--dry-run [--node NAME | --selector K=V,...] [--wait 2m]",
		Short: "Converge nodes now, or show what converging them would change (--dry-run)",
		Long: `Ask nodes to converge their roles now (--now), or to report what converging
would change without changing anything (--dry-run). Then wait for each
node's report and print it: every resource that changed (or would change)
with its diff, the failed and skipped ones and the notifications run. Secret
values never appear in reports.

--node asks one node; --selector the nodes that hold a role and whose
labels match all of its comma-separated terms (K=V, K!=V, K to have the
label, !K not to); without either, every node that holds a role. The
command exits 1 when a node's run failed or a node did not report within
--wait (the nodes that did not are named); --wait 0 only asks, and
"corral report ls --nonce N" shows the reports later.

Agents also converge by themselves: when they start, when their catalog
changes (a role, environment, NodeRoles or secret they use, or the nodes of
the cluster for hosts and templates that list nodes), when a managed file
is changed by hand (drift), and every 30 minutes plus a random splay.`,
		Example: `  corral converge --dry-run --node web-1
  corral converge --now --selector role=web
  corral converge --now --wait 10m
  corral converge --now --wait 0 -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("converge takes no arguments (got %q): select nodes with --node or --selector", args[0])
			}
			if !now && !trig.DryRun {
				return errors.New("give --now to converge the nodes, or --dry-run to see what converging would change")
			}
			if wait < 0 {
				return errors.New("--wait must not be negative")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res, err := c.Converge(ctx, trig)
			if err != nil {
				return err
			}
			if len(res.Nodes) == 0 {
				return fmt.Errorf("no node to converge: %s", selected(trig))
			}
			verb := "converge"
			if trig.DryRun {
				verb = "dry run"
			}
			started := fmt.Sprintf("%s requested on %d node(s) (nonce %s): %s", verb, len(res.Nodes), res.Nonce, strings.Join(res.Nodes, ", "))
			waitReports := func(progress io.Writer) (convergeRun, error) {
				return a.waitReports(ctx, c, res, wait, interval, progress)
			}
			return follow(a, waitFlags{wait: wait > 0, interval: interval}, convergeRun{ConvergeTriggered: res}, started, waitReports,
				func(run convergeRun) (string, error) { return convergeEnded(run, trig.DryRun, wait) })
		},
	}
	f := cmd.Flags()
	f.BoolVar(&now, "now", false, "converge the nodes now")
	f.BoolVar(&trig.DryRun, "dry-run", false, "only report what would change; change nothing")
	f.StringVar(&trig.Node, "node", "", "ask this node only")
	f.StringVar(&trig.Selector, "selector", "", "ask the nodes whose labels match, e.g. role=web,env=prod or role!=db")
	f.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the nodes' reports (0: do not wait)")
	f.DurationVar(&interval, "poll-interval", time.Second, "how often to ask the server for reports")
	_ = f.MarkHidden("poll-interval")
	cmd.MarkFlagsMutuallyExclusive("node", "selector")
	return cmd
}

// selected says which nodes a trigger asked for.
func selected(t api.ConvergeTrigger) string {
	switch {
	case t.Node != "":
		return "node " + t.Node
	case t.Selector != "":
		return "no node's labels match " + t.Selector
	}
	return "the cluster has no nodes"
}

// convergeRun is a converge request and, once waited for, the nodes'
// reports and the nodes that did not report in time.
type convergeRun struct {
	api.ConvergeTriggered
	Reports []api.ConvergeReport `json:"reports,omitempty"`
	Missing []string             `json:"missing,omitempty"`
}

// reportPage is how many reports one request asks for while waiting.
const reportPage = 500

// waitReports polls the reports carrying res's nonce every interval until
// every node of res reported or timeout passed. Each report is written to
// progress as it comes: in full for tables, as its summary line otherwise.
func (a *app) waitReports(ctx context.Context, c *client.Client, res api.ConvergeTriggered, timeout, interval time.Duration, progress io.Writer) (convergeRun, error) {
	run := convergeRun{ConvergeTriggered: res}
	want := map[string]bool{}
	for _, n := range res.Nodes {
		want[n] = true
	}
	got := map[string]bool{}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := poll(waitCtx, interval, "the reports of nonce "+res.Nonce, func() (bool, error) {
		rs, err := nonceReports(waitCtx, c, res.Nonce, len(res.Nodes))
		if err != nil {
			return false, err
		}
		var fresh []api.ConvergeReport
		for _, r := range rs {
			if want[r.Node] && !got[r.Node] {
				got[r.Node] = true
				fresh = append(fresh, r)
			}
		}
		slices.SortFunc(fresh, func(x, y api.ConvergeReport) int { return strings.Compare(x.Node, y.Node) })
		for _, r := range fresh {
			if err := a.writeArrived(progress, r); err != nil {
				return false, err
			}
		}
		run.Reports = append(run.Reports, fresh...)
		return len(got) == len(want), nil
	})
	if err != nil && (waitCtx.Err() == nil || ctx.Err() != nil) {
		return run, err // not the timeout: a failure, or interrupted
	}
	for _, n := range res.Nodes {
		if !got[n] {
			run.Missing = append(run.Missing, n)
		}
	}
	return run, nil
}

// nonceReports fetches the reports carrying nonce, paging back while pages
// come full and fewer than nodes reports were seen.
func nonceReports(ctx context.Context, c *client.Client, nonce string, nodes int) ([]api.ConvergeReport, error) {
	q := client.ReportQuery{Nonce: nonce, Limit: reportPage}
	var all []api.ConvergeReport
	for {
		page, err := c.Reports(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		// A server may give fewer than asked per page; 50 is its default.
		if len(page) < 50 || len(all) >= nodes || page[len(page)-1].ID == q.Before {
			return all, nil
		}
		q.Before = page[len(page)-1].ID
	}
}

// writeArrived writes a report that just came in.
func (a *app) writeArrived(w io.Writer, r api.ConvergeReport) error {
	if a.output == "table" {
		if err := r.WriteText(w, false); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w)
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %s\n", r.Node, reportOutcome(r))
	return err
}

// reportOutcome is "failed: ERROR", "3 changed" or "up to date".
func reportOutcome(r api.ConvergeReport) string {
	switch {
	case r.Failed():
		return "failed: " + firstLine(r.Error, 80)
	case r.Totals.Changed > 0 && r.DryRun:
		return fmt.Sprintf("%d would change", r.Totals.Changed)
	case r.Totals.Changed > 0:
		return fmt.Sprintf("%d changed", r.Totals.Changed)
	}
	return "up to date"
}

// convergeEnded is the last line of `corral converge`, and an exit code
// error when a run failed or a node did not report.
func convergeEnded(run convergeRun, dry bool, wait time.Duration) (string, error) {
	var changed, upToDate int
	var failed []string
	for _, r := range run.Reports {
		switch {
		case r.Failed():
			failed = append(failed, r.Node)
		case r.Totals.Changed > 0:
			changed++
		default:
			upToDate++
		}
	}
	slices.Sort(failed)
	what, changedWord := "converge", "changed"
	if dry {
		what, changedWord = "dry run", "would change"
	}
	line := fmt.Sprintf("%s: %d of %d node(s) reported: %d %s, %d up to date, %d failed", what, len(run.Reports), len(run.Nodes),
		changed, changedWord, upToDate, len(failed))
	if len(failed) > 0 {
		line += " (" + strings.Join(failed, ", ") + ")"
	}
	if len(run.Missing) > 0 {
		line += fmt.Sprintf("; no report within %s from %s", wait, strings.Join(run.Missing, ", "))
	}
	if len(failed) > 0 || len(run.Missing) > 0 {
		return line, &exitCodeError{code: 1}
	}
	return line, nil
}
