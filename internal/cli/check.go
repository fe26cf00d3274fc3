package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
	"corral/internal/monitor/check"
)

func (a *app) checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "check",
		Aliases: []string{"checks"},
		Short:   "List, show and run monitoring checks",
		Long: `List, show and run monitoring checks.

Every node runs the default checks (cpu, disk, load, memory, swap every 30s)
and keeps a keepalive; a Check applied with the same name tunes or, with
disabled: true, turns off a default. Checks are applied like any resource:

  kind: Check
  name: nginx
  command: /usr/lib/nagios/plugins/check_http -H localhost
  interval: 30s
  subscriptions: [web]
  handlers: [ops]`,
		Example: `  corral check ls
  corral check show disk
  corral check run nginx --node web-1`,
	}
	cmd.AddCommand(a.checkLsCmd(), a.checkShowCmd(), a.checkRunCmd())
	return cmd
}

// checkRow is a check as `check ls` shows it.
type checkRow struct {
	api.CheckSpec
	Default bool `json:"default,omitempty"` // a built-in default, not applied
}

// checkWhat says what a check runs: the command, "builtin NAME" or "ttl".
func checkWhat(c api.CheckSpec) string {
	switch {
	case c.Command != "":
		return c.Command
	case c.Builtin != "":
		return "builtin " + c.Builtin
	}
	return "check-ins (ttl)"
}

func checkSchedule(c api.CheckSpec) string {
	var parts []string
	switch {
	case c.Cron != "":
		parts = append(parts, "cron "+c.Cron)
	case c.Interval > 0:
		parts = append(parts, "every "+time.Duration(c.Interval).String())
	}
	if c.TTL > 0 {
		parts = append(parts, "ttl "+time.Duration(c.TTL).String())
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func subsOrAll(subs []string) string {
	if len(subs) == 0 {
		return "all"
	}
	return strings.Join(subs, ",")
}

func (a *app) checkLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the applied checks and the defaults every node runs",
		Example: "  corral check ls\n  corral check ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, checkRows, writeCheckRows)
		},
	}
}

// checkRows fetches the applied checks and adds the defaults not applied
// under their name, sorted by name.
func checkRows(ctx context.Context, c *client.Client) ([]checkRow, error) {
	applied, err := specs[api.CheckSpec](ctx, c, "Check")
	if err != nil {
		return nil, err
	}
	rows := make([]checkRow, 0, len(applied))
	names := map[string]bool{}
	for _, spec := range applied {
		names[spec.Name] = true
		rows = append(rows, checkRow{CheckSpec: spec})
	}
	for _, d := range check.Defaults() {
		if !names[d.Name] {
			rows = append(rows, checkRow{CheckSpec: d, Default: true})
		}
	}
	slices.SortFunc(rows, func(x, y checkRow) int { return strings.Compare(x.Name, y.Name) })
	return rows, nil
}

// writeCheckRows writes the table of `check ls`.
func writeCheckRows(w io.Writer, rows []checkRow) {
	row(w, "NAME", "RUNS", "SCHEDULE", "SUBSCRIPTIONS", "HANDLERS", "STATE")
	for _, r := range rows {
		state := "applied"
		switch {
		case r.Disabled:
			state = "disabled"
		case r.Default:
			state = "default"
		}
		row(w, r.Name, checkWhat(r.CheckSpec), checkSchedule(r.CheckSpec), subsOrAll(r.Subscriptions),
			dash(strings.Join(r.Handlers, ",")), state)
	}
}

func (a *app) checkShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a check and the events it has on every node",
		Example: "  corral check show disk\n  corral check show nginx -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (checkView, error) {
				return fetchCheckView(ctx, c, args[0])
			}, a.writeCheckView)
		},
	}
}

// checkView is a check as `check show` shows it, with its events.
type checkView struct {
	checkRow
	Events []api.Event `json:"events"`
}

// fetchCheckView fetches check name, applied or a default, and its events.
func fetchCheckView(ctx context.Context, c *client.Client, name string) (checkView, error) {
	var v checkView
	r, err := c.Resource(ctx, "Check", name, false)
	switch {
	case err == nil:
		if err := json.Unmarshal(r.Spec, &v.CheckSpec); err != nil {
			return v, fmt.Errorf("check %s: %w", name, err)
		}
	case api.StatusOf(err) == 404:
		i := slices.IndexFunc(check.Defaults(), func(d api.CheckSpec) bool { return d.Name == name })
		if i < 0 {
			return v, err
		}
		v.checkRow = checkRow{CheckSpec: check.Defaults()[i], Default: true}
	default:
		return v, err
	}
	if v.Events, err = c.Events(ctx, eventQueryFor("", "", name)); err != nil {
		return v, err
	}
	if v.Events == nil {
		v.Events = []api.Event{}
	}
	return v, nil
}

// writeCheckView writes the readable block of `check show`.
func (a *app) writeCheckView(w io.Writer, v checkView) {
	s := v.CheckSpec
	fmt.Fprintf(w, "Name:\t%s\n", s.Name)
	if v.Default {
		fmt.Fprintf(w, "Source:\tdefault (apply a Check named %s to change it)\n", s.Name)
	}
	fmt.Fprintf(w, "Runs:\t%s\n", checkWhat(s))
	if len(s.Args) > 0 {
		b, _ := json.Marshal(s.Args)
		fmt.Fprintf(w, "Args:\t%s\n", b)
	}
	fmt.Fprintf(w, "Schedule:\t%s\n", checkSchedule(s))
	fmt.Fprintf(w, "Subscriptions:\t%s\n", subsOrAll(s.Subscriptions))
	fmt.Fprintf(w, "Handlers:\t%s\n", dash(strings.Join(s.Handlers, ", ")))
	if s.ProxyEntity != "" {
		fmt.Fprintf(w, "Proxy entity:\t%s\n", s.ProxyEntity)
	}
	if s.OutputMetricFormat != "" {
		fmt.Fprintf(w, "Metrics:\t%s\n", s.OutputMetricFormat)
	}
	if s.Disabled {
		fmt.Fprintln(w, "Disabled:\tyes")
	}
	fmt.Fprintln(w, "Events:")
	if len(v.Events) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	fmt.Fprintln(w, "  ENTITY\tSTATUS\tSINCE\tOUTPUT")
	now := a.now()
	for _, ev := range v.Events {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", ev.Entity, eventStatus(ev), ago(now, time.Unix(ev.Timestamp, 0)), firstLine(ev.Output, 60))
	}
}

func (a *app) checkRunCmd() *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:     "run NAME",
		Short:   "Run a check now instead of waiting for its schedule",
		Example: "  corral check run nginx\n  corral check run disk --node web-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (client.RunCheckResponse, error) {
				return c.RunCheck(ctx, args[0], node)
			}, func(w io.Writer, res client.RunCheckResponse) {
				fmt.Fprintf(w, "check %s: run requested on %d node(s): %s\n", res.Check, len(res.Nodes), dash(strings.Join(res.Nodes, ", ")))
			})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "run it on this node only")
	return cmd
}
