package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Add, list and remove the users who log in with a password",
		Example: `  corral user add alice --role admin
  corral user ls
  corral user rm alice`,
	}
	cmd.AddCommand(a.userAddCmd(), a.userLsCmd(), a.userRmCmd())
	return cmd
}

func (a *app) userAddCmd() *cobra.Command {
	var role string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME --role admin|operator|viewer",
		Short: "Add a user, or replace one's role and password",
		Long: `Add a user who logs in to the web UI and with "corral login --user" with a
password. The password is asked for twice on a terminal, else read as a line
from stdin (or with --password-stdin). Adding an existing user replaces its
role and password.`,
		Example: `  corral user add alice --role admin
  printf '%s\n' "$PASSWORD" | corral user add ci --role operator --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Check the name and role before asking for a password.
			req := api.UserRequest{Name: args[0], Role: api.Role(role), Password: "not-yet-asked"}
			if err := req.Validate(); err != nil {
				return err
			}
			pw, err := a.readPassword("Password for "+args[0]+": ", true, passwordStdin)
			if err != nil {
				return err
			}
			req.Password = pw
			if err := req.Validate(); err != nil {
				return err
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.User, error) {
				return c.AddUser(ctx, req)
			}, func(w io.Writer, u api.User) {
				fmt.Fprintf(w, "user %s saved (%s)\n", u.Name, u.Role)
			})
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "role of the user: admin, operator or viewer")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin, not the terminal")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func (a *app) userLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the users",
		Example: "  corral user ls\n  corral user ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.User, error) {
				return c.Users(ctx)
			}, func(w io.Writer, us []api.User) {
				row(w, "NAME", "ROLE", "CREATED")
				for _, u := range us {
					row(w, u.Name, string(u.Role), stamp(u.CreatedAt))
				}
			})
		},
	}
}

func (a *app) userRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a user",
		Example: "  corral user rm alice",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.RemoveUser(ctx, args[0])
			}, "user "+args[0]+" removed")
		},
	}
}
