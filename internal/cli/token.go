package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		Aliases: []string{"tokens"},
		Short:   "Create, list and revoke API and join tokens",
		Example: `  corral token create --role operator --name ci --ttl 90d
  corral token create --role agent --ttl 1h
  corral token ls
  corral token revoke 3f9a2c1d0e4b5a69`,
	}
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenLsCmd(), a.tokenRevokeCmd())
	return cmd
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var req api.TokenRequest
	var role, ttl string
	cmd := &cobra.Command{
		Use:   "create --role admin|operator|viewer|agent [--ttl 24h] [--name NAME]",
		Short: "Create a token and print its secret, once",
		Long: `Create a token. Its secret is printed once and never shown again.

Roles: viewer reads everything but secret values; operator also changes
workloads; admin does everything; agent tokens are join tokens, with which a
new machine's agent joins the cluster.`,
		Example: `  corral token create --role operator --name deploy-bot --ttl 90d
  corral token create --role agent --ttl 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Role = api.Role(role)
			if ttl != "" {
				d, err := api.ParseDuration(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %w", err)
				}
				req.TTL = api.Duration(d)
			}
			if err := req.Validate(); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.output != "table" {
				return a.emit(t, nil)
			}
			w := a.stdout
			fmt.Fprintf(w, "Created %s token %s", t.Role, t.ID)
			if t.Name != "" {
				fmt.Fprintf(w, " (%s)", t.Name)
			}
			fmt.Fprintf(w, ", expires %s\n\n  %s\n\nThis secret is not shown again: keep it now.\n", expiry(t.ExpiresAt), t.Secret)
			if t.Role == api.RoleAgent {
				fmt.Fprintf(w, "\nJoin a machine with:\n  corral agent --server %s --join-token %s\n",
					net.JoinHostPort(joinHint(c), "7701"), t.Secret)
				fmt.Fprintln(w, "(use the server's --agent-addr port if it is not the default 7701)")
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&role, "role", "", "role of the token: admin, operator, viewer or agent")
	fs.StringVar(&ttl, "ttl", "", "lifetime, e.g. 1h, 24h, 90d (default: no expiry)")
	fs.StringVar(&req.Name, "name", "", "name to recognize the token by")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// expiry formats an optional expiry time.
func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return stamp(*t)
}

func (a *app) tokenLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the tokens (never their secrets)",
		Example: "  corral token ls\n  corral token ls -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.Token, error) {
				return c.Tokens(ctx)
			}, a.writeTokens)
		},
	}
}

// writeTokens writes the table of `token ls`.
func (a *app) writeTokens(w io.Writer, ts []api.Token) {
	now := a.now()
	row(w, "ID", "NAME", "ROLE", "STATUS", "CREATED", "CREATED-BY", "EXPIRES")
	for _, t := range ts {
		status := "active"
		switch {
		case t.RevokedAt != nil:
			status = "revoked"
		case t.Expired(now):
			status = "expired"
		}
		row(w, t.ID, dash(t.Name), string(t.Role), status, stamp(t.CreatedAt), dash(t.CreatedBy), until(now, t.ExpiresAt))
	}
}

func (a *app) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Aliases: []string{"rm"},
		Short:   "Revoke a token",
		Example: "  corral token revoke 3f9a2c1d0e4b5a69",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.RevokeToken(ctx, args[0])
			}, "token "+args[0]+" revoked")
		},
	}
}
