package cli

import (
	"context"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Read the audit log of changes made through the API",
		Example: "  corral audit ls --actor user:alice --limit 20",
	}
	cmd.AddCommand(a.auditLsCmd())
	return cmd
}

func (a *app) auditLsCmd() *cobra.Command {
	var q client.AuditQuery
	cmd := &cobra.Command{
		Use:     "ls [--actor A] [--action X] [--limit N] [--before ID]",
		Aliases: []string{"list"},
		Short:   "List audit log entries, newest first",
		Long: `List audit log entries, newest first: who (ACTOR) did what (ACTION, the
HTTP method and path) to which TARGET, and how it ended. Page back with
--before set to the last ID shown (-o json shows the IDs).`,
		Example: `  corral audit ls
  corral audit ls --actor user:alice --action "DELETE /api/v1/tokens/{id}" --limit 10
  corral audit ls --before 1234 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.AuditEntry, error) {
				return c.Audit(ctx, q)
			}, func(w io.Writer, es []api.AuditEntry) {
				row(w, "TIME", "ACTOR", "ACTION", "TARGET", "STATUS", "RESULT")
				for _, e := range es {
					row(w, stamp(e.Time), dash(e.Actor), e.Action, dash(e.Target), strconv.Itoa(e.Status), dash(e.Result))
				}
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&q.Actor, "actor", "", "only entries of this actor (user or token)")
	fs.StringVar(&q.Action, "action", "", "only entries of this action")
	fs.IntVar(&q.Limit, "limit", 50, "at most this many entries")
	fs.Int64Var(&q.BeforeID, "before", 0, "only entries older than this ID")
	return cmd
}
