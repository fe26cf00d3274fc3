package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
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
			c, err := a.client()
			if err != nil {
				return err
			}
			rs, err := c.Resources(cmd.Context(), "Handler")
			if err != nil {
				return err
			}
			hs := make([]api.HandlerSpec, 0, len(rs))
			for _, r := range rs {
				var h api.HandlerSpec
				if err := json.Unmarshal(r.Spec, &h); err != nil {
					return fmt.Errorf("handler %s: %w", r.Name, err)
				}
				hs = append(hs, h)
			}
			return a.emit(hs, func(w io.Writer) error {
				row(w, "NAME", "TYPE", "TARGET", "FILTERS")
				for _, h := range hs {
					row(w, h.Name, h.Type, handlerTarget(h), dash(strings.Join(h.Filters, ",")))
				}
				return nil
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
			c, err := a.client()
			if err != nil {
				return err
			}
			res, err := c.TestHandler(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(res, func(w io.Writer) error {
				row(w, "HANDLER", "TYPE", "RESULT", "TOOK")
				for _, r := range res.Runs {
					row(w, r.Handler, r.Type, "ok", fmt.Sprintf("%.2fs", r.Seconds))
				}
				return nil
			})
		},
	}
}
