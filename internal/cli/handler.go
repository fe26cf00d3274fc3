package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) handlerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "handler",
		Aliases: []string{"handlers"},
		Short:   "List and test monitoring handlers",
		Long: `List and test monitoring handlers: where events go (pipe, webhook, slack,
email, pagerduty, or a set of handlers). Handlers are applied like any
resource:

  kind: Handler
  name: ops
  type: pipe
  command: /usr/local/bin/notify-ops`,
		Example: `  corral handler ls
  corral handler test ops`,
	}
	cmd.AddCommand(a.handlerLsCmd(), a.handlerTestCmd())
	return cmd
}

// handlerTarget says where a handler sends events.
func handlerTarget(h api.HandlerSpec) string {
	switch h.Type {
	case api.HandlerPipe:
		return h.Command
	case api.HandlerSet:
		return strings.Join(h.Handlers, ",")
	case api.HandlerEmail:
		return strings.Join(h.To, ",")
	}
	if h.URL != "" {
		return h.URL
	}
	if h.URLSecret != "" {
		return "secret " + h.URLSecret
	}
	return "-"
}

func (a *app) handlerLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the handlers",
		Example: "  corral handler ls",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.HandlerSpec, error) {
				return specs[api.HandlerSpec](ctx, c, "Handler")
			}, func(w io.Writer, hs []api.HandlerSpec) {
				row(w, "NAME", "TYPE", "TARGET", "FILTERS")
				for _, h := range hs {
					row(w, h.Name, h.Type, handlerTarget(h), dash(strings.Join(h.Filters, ",")))
				}
			})
		},
	}
}

func (a *app) handlerTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test NAME",
		Short: "Send a handler a test event (critical, entity corral-handler-test)",
		Long: `Send a handler a synthetic critical event for entity corral-handler-test and
check handler-test, and say whether it worked. For a set, every member is
run. Fails when a run fails, with the handler's error.`,
		Example: "  corral handler test ops",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (client.HandlerTest, error) {
				return c.TestHandler(ctx, args[0])
			}, func(w io.Writer, res client.HandlerTest) {
				row(w, "HANDLER", "TYPE", "RESULT", "TOOK")
				for _, r := range res.Runs {
					row(w, r.Handler, r.Type, "ok", fmt.Sprintf("%.2fs", r.Seconds))
				}
			})
		},
	}
}
