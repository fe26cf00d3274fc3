package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) reportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "report",
		Aliases: []string{"reports"},
		Short:   "List and show converge reports: what each node's runs changed",
		Long: `List and show converge reports. Every converge run of every node (started by
the agent, by "corral converge", or a dry run) sends a report: each
resource's status (changed, up-to-date, failed, skipped) with its diff and
duration, the notifications run, and the totals. The server keeps the
newest 500 reports of each node. Secret values never appear in them.`,
		Example: `  corral report ls --failed
  corral report ls --node web-1 -n 10
  corral report show web-1-1773144000000000000 -v`,
	}
	cmd.AddCommand(a.reportLsCmd(), a.reportShowCmd())
	return cmd
}

func (a *app) reportLsCmd() *cobra.Command {
	var q client.ReportQuery
	var failed, changed bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List converge reports, newest first",
		Long: `List converge reports, newest first. RESOURCES counts the run's resources
that changed (or, in a dry run, would change), were up to date, failed and
were skipped after a failure. TRIGGER says what started the run: start,
change (of the catalog), interval, manual ("corral converge") or drift.`,
		Example: `  corral report ls
  corral report ls --node web-1 --failed
  corral report ls --nonce 6f1c2a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case failed:
				q.Status = client.ReportsFailed
			case changed:
				q.Status = client.ReportsChanged
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.ConvergeReport, error) {
				return c.Reports(ctx, q)
			}, writeReports)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Node, "node", "", "only the reports of this node")
	f.BoolVar(&failed, "failed", false, "only runs that failed")
	f.BoolVar(&changed, "changed", false, "only runs that changed (or, dry, would change) something")
	f.StringVar(&q.Nonce, "nonce", "", `only the runs of one "corral converge" (the nonce it printed)`)
	f.IntVarP(&q.Limit, "limit", "n", 50, "list at most this many reports")
	cmd.MarkFlagsMutuallyExclusive("failed", "changed")
	return cmd
}

// writeReports writes the table of `report ls`.
func writeReports(w io.Writer, rs []api.ConvergeReport) {
	row(w, "ID", "NODE", "STARTED", "TRIGGER", "DRY", "CHANGED/UP-TO-DATE/FAILED/SKIPPED", "DURATION", "ERROR")
	for _, r := range rs {
		dry := "-"
		if r.DryRun {
			dry = "yes"
		}
		t := r.Totals
		row(w, r.ID, dash(r.Node), stamp(r.Started), dash(r.Trigger), dry,
			fmt.Sprintf("%d/%d/%d/%d", t.Changed, t.UpToDate, t.Failed, t.Skipped),
			runTime(r.Duration), dash(firstLine(r.Error, 60)))
	}
}

// runTime formats how long a converge run took: "340ms", "2.5s", "3m".
func runTime(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return span(d)
}

func (a *app) reportShowCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"get"},
		Short:   "Show a converge report: each resource that did not stay up to date, with its diff",
		Long: `Show a converge report: what started the run, then each resource that
changed, failed or was skipped, with its diff and error, the notifications
run, and why the run failed. -v lists the resources that were up to date too.`,
		Example: "  corral report show web-1-1773144000000000000\n  corral report show web-1-1773144000000000000 -v -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Report(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.output != "table" {
				return a.emit(r, nil)
			}
			// Not through a table writer: diffs keep their tabs.
			if _, err := fmt.Fprintln(a.stdout, reportHeader(r)); err != nil {
				return err
			}
			return r.WriteText(a.stdout, verbose)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list the resources that were up to date too")
	return cmd
}

// reportHeader is the line above a report: its id, trigger, roles, nonce
// and catalog.
func reportHeader(r api.ConvergeReport) string {
	parts := []string{"trigger " + dash(r.Trigger)}
	if len(r.Roles) > 0 {
		parts = append(parts, "roles "+strings.Join(r.Roles, ", "))
	}
	if r.Nonce != "" {
		parts = append(parts, "nonce "+r.Nonce)
	}
	if r.CatalogHash != "" {
		parts = append(parts, "catalog "+r.CatalogHash)
	}
	return "report " + r.ID + ": " + strings.Join(parts, "; ")
}
