package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) silenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "silence",
		Aliases: []string{"silences"},
		Short:   "Add, list and remove silences (events not handled for a while)",
		Long: `Add, list and remove silences. A silence stops handlers for the events of a
node, a check, a subscription, or a combination, from its begin (default
now) until it expires (default never), or until the event resolves with
--expire-on-resolve. Its ID is Sensu's "SUBSCRIPTION:CHECK" with "*" for any
and "entity:NODE" for a node, e.g. entity:db-1:root-disk.`,
		Example: `  corral silence add --node db-1 --check root-disk --expire 2h --reason "resizing the volume"
  corral silence add --subscription web --expire-on-resolve
  corral silence ls
  corral silence rm entity:db-1:root-disk`,
	}
	cmd.AddCommand(a.silenceAddCmd(), a.silenceLsCmd(), a.silenceRmCmd())
	return cmd
}

func (a *app) silenceAddCmd() *cobra.Command {
	var s api.SilenceSpec
	var expire, begin string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Silence the events of a node, a check, a subscription or a combination",
		Long: `Silence the events of a node, a check, a subscription or a combination. The
author is the caller's token or user; --begin takes an RFC 3339 time or a
duration from now.`,
		Example: `  corral silence add --node db-1 --check root-disk --expire 2h --reason "resizing the volume"
  corral silence add --check nginx --begin 30m --expire 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if expire != "" {
				d, err := api.ParseDuration(expire)
				if err != nil {
					return fmt.Errorf("--expire: %w", err)
				}
				s.Expire = api.Duration(d)
			}
			if begin != "" {
				if t, err := time.Parse(time.RFC3339, begin); err == nil {
					s.Begin = t
				} else if d, err := api.ParseDuration(begin); err == nil {
					s.Begin = a.now().Add(d).UTC().Truncate(time.Second)
				} else {
					return fmt.Errorf("--begin: want an RFC 3339 time or a duration, not %q", begin)
				}
			}
			if fe := s.Validate(); len(fe) > 0 {
				return fe.Err("invalid silence")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := c.ApplySilence(cmd.Context(), s)
			if err != nil {
				return err
			}
			when := "never expires"
			if s.Expire > 0 {
				when = "expires " + time.Duration(s.Expire).String() + " after it begins"
			}
			_, err = fmt.Fprintf(a.stdout, "silence %s added (%s)\n", id, when)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Node, "node", "", "silence the events of this node")
	f.StringVar(&s.Check, "check", "", "silence the events of this check")
	f.StringVar(&s.Subscription, "subscription", "", "silence the events of the nodes or checks with this subscription")
	f.StringVar(&expire, "expire", "", "how long the silence lasts from its begin, e.g. 2h (default never)")
	f.StringVar(&begin, "begin", "", "when the silence begins: an RFC 3339 time or a duration from now (default now)")
	f.BoolVar(&s.ExpireOnResolve, "expire-on-resolve", false, "end the silence when the event resolves")
	f.StringVar(&s.Reason, "reason", "", "why (shown in silence ls)")
	f.StringVar(&s.Name, "name", "", "a name instead of the ID derived from node, check and subscription")
	return cmd
}

func (a *app) silenceLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the silences with their begin and expiry",
		Example: "  corral silence ls\n  corral silence ls -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.SilenceSpec, error) {
				return specs[api.SilenceSpec](ctx, c, "Silence")
			}, a.writeSilences)
		},
	}
}

// writeSilences writes the table of `silence ls`.
func (a *app) writeSilences(w io.Writer, ss []api.SilenceSpec) {
	now := a.now()
	row(w, "ID", "NODE", "CHECK", "SUBSCRIPTION", "BEGINS", "EXPIRES", "ON RESOLVE", "AUTHOR", "REASON")
	for _, s := range ss {
		begins := "now"
		if b := s.Starts(); b.After(now) {
			begins = "in " + span(b.Sub(now))
		}
		var exp *time.Time
		if e := s.ExpiresAt(); !e.IsZero() {
			exp = &e
		}
		onResolve := "no"
		if s.ExpireOnResolve {
			onResolve = "yes"
		}
		row(w, s.ID(), dash(s.Node), dash(s.Check), dash(s.Subscription), begins, until(now, exp),
			onResolve, dash(s.Author), firstLine(s.Reason, 50))
	}
}

func (a *app) silenceRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove silences",
		Example: "  corral silence rm entity:db-1:root-disk",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				if err := c.DeleteResource(cmd.Context(), "Silence", id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "silence %s removed\n", id)
			}
			return nil
		},
	}
}
