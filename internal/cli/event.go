package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) eventCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "event",
		Aliases: []string{"events"},
		Short:   "List, show, resolve and remove monitoring events",
		Long: `List, show, resolve and remove monitoring events: the server's state of
every (entity, check), from check results, check-ins and keepalives.`,
		Example: `  corral event ls --status failing
  corral event show web-1 disk
  corral event resolve web-1 disk
  corral event rm old-node keepalive`,
	}
	cmd.AddCommand(a.eventLsCmd(), a.eventShowCmd(), a.eventResolveCmd(), a.eventRmCmd())
	return cmd
}

func eventQueryFor(status, node, check string) client.EventQuery {
	return client.EventQuery{Status: status, Node: node, Check: check}
}

// eventStatus is the status name, with "flapping" and "silenced" when so.
func eventStatus(ev api.Event) string {
	s := api.StatusName(ev.Status)
	if ev.Status > api.StatusUnknown {
		s += " (" + strconv.Itoa(ev.Status) + ")"
	}
	if ev.State == api.EventFlapping {
		s += ", flapping"
	}
	if ev.IsSilenced {
		s += ", silenced"
	}
	return s
}

// firstLine returns the first line of s, cut to n runes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return dash(s)
}

func (a *app) eventLsCmd() *cobra.Command {
	var q client.EventQuery
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List events",
		Long: `List events. --status failing lists the events that are not ok; ok, warning,
critical and unknown select by status, passing and flapping by state.`,
		Example: "  corral event ls\n  corral event ls --status failing\n  corral event ls --node web-1 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.Event, error) {
				return c.Events(ctx, q)
			}, a.writeEvents)
		},
	}
	cmd.Flags().StringVar(&q.Status, "status", "", "failing, ok, warning, critical, unknown, passing or flapping")
	cmd.Flags().StringVar(&q.Node, "node", "", "only the events of this node (entity)")
	cmd.Flags().StringVar(&q.Check, "check", "", "only the events of this check")
	return cmd
}

// writeEvents writes the table of `event ls`.
func (a *app) writeEvents(w io.Writer, evs []api.Event) {
	now := a.now()
	row(w, "ENTITY", "CHECK", "STATUS", "OCCURRENCES", "LAST RESULT", "OUTPUT")
	for _, ev := range evs {
		row(w, ev.Entity, ev.Check, eventStatus(ev), strconv.Itoa(ev.Occurrences),
			ago(now, time.Unix(ev.Issued, 0))+" ago", firstLine(ev.Output, 60))
	}
}

// eventArgs takes "ENTITY CHECK" or "ENTITY/CHECK".
func eventArgs(args []string) (string, string, error) {
	if len(args) == 2 {
		return args[0], args[1], nil
	}
	if e, c, ok := strings.Cut(args[0], "/"); ok && e != "" && c != "" {
		return e, c, nil
	}
	return "", "", fmt.Errorf("give the event as ENTITY CHECK (or ENTITY/CHECK)")
}

func (a *app) eventShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ENTITY CHECK",
		Aliases: []string{"get"},
		Short:   "Show an event: status, output, history and what its handlers did",
		Example: "  corral event show web-1 disk\n  corral event show web-1/keepalive -o json",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			entity, check, err := eventArgs(args)
			if err != nil {
				return err
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Event, error) {
				return c.Event(ctx, entity, check)
			}, a.writeEvent)
		},
	}
}

// writeEvent writes the readable block of `event show`.
func (a *app) writeEvent(w io.Writer, ev api.Event) {
	now := a.now()
	at := func(sec int64) string {
		if sec == 0 {
			return "-"
		}
		t := time.Unix(sec, 0)
		return stamp(t) + " (" + ago(now, t) + " ago)"
	}
	fmt.Fprintf(w, "Entity:\t%s\n", ev.Entity)
	fmt.Fprintf(w, "Check:\t%s\n", ev.Check)
	fmt.Fprintf(w, "Status:\t%s\n", eventStatus(ev))
	fmt.Fprintf(w, "State:\t%s (%d%% state changes)\n", ev.State, ev.TotalStateChange)
	fmt.Fprintf(w, "Occurrences:\t%d (highest %d)\n", ev.Occurrences, ev.OccurrencesWatermark)
	fmt.Fprintf(w, "Executed:\t%s, took %.3fs\n", at(ev.Executed), ev.Duration)
	fmt.Fprintf(w, "Last result:\t%s\n", at(ev.Issued))
	fmt.Fprintf(w, "Changed:\t%s\n", at(ev.Timestamp))
	fmt.Fprintf(w, "Last ok:\t%s\n", at(ev.LastOK))
	if ev.TTL > 0 {
		fmt.Fprintf(w, "TTL:\t%s\n", time.Duration(ev.TTL))
	}
	if len(ev.Silenced) > 0 {
		fmt.Fprintf(w, "Silenced by:\t%s\n", strings.Join(ev.Silenced, ", "))
	}
	fmt.Fprintf(w, "Handlers:\t%s\n", dash(strings.Join(ev.Handlers, ", ")))
	hist := make([]string, len(ev.History))
	for i, h := range ev.History {
		hist[i] = strconv.Itoa(h.Status)
	}
	fmt.Fprintf(w, "History:\t%s\n", dash(strings.Join(hist, " ")))
	if len(ev.HandlerStatus) > 0 {
		fmt.Fprintln(w, "Handler runs:")
		fmt.Fprintln(w, "  HANDLER\tLAST RUN\tFOR STATUS\tRESULT")
		names := make([]string, 0, len(ev.HandlerStatus))
		for n := range ev.HandlerStatus {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			hs := ev.HandlerStatus[n]
			res := "ok"
			if hs.LastError != "" {
				res = fmt.Sprintf("FAILED (%d in a row): %s", hs.Failures, firstLine(hs.LastError, 120))
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", n, at(hs.LastHandled), api.StatusName(hs.LastStatus), res)
		}
	}
	fmt.Fprintln(w, "Output:")
	for _, l := range strings.Split(strings.TrimRight(ev.Output, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

func (a *app) eventResolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "resolve ENTITY CHECK",
		Short:   "Resolve an event by hand (an ok result saying who resolved it)",
		Example: "  corral event resolve web-1 disk",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			entity, check, err := eventArgs(args)
			if err != nil {
				return err
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Event, error) {
				return c.ResolveEvent(ctx, entity, check)
			}, func(w io.Writer, ev api.Event) {
				fmt.Fprintf(w, "event %s/%s resolved: %s\n", ev.Entity, ev.Check, api.StatusName(ev.Status))
			})
		},
	}
}

func (a *app) eventRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ENTITY CHECK",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove an event (a node or check that is gone for good)",
		Example: "  corral event rm old-node keepalive",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			entity, check, err := eventArgs(args)
			if err != nil {
				return err
			}
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteEvent(ctx, entity, check)
			}, "event "+entity+"/"+check+" removed")
		},
	}
}
