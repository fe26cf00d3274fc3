package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"corral/internal/api"
	"corral/internal/client"
)

// version is the release, set at link time with
// -ldflags "-X corral/internal/cli.version=v1.2.3"; otherwise the module
// version from the build info.
var version = ""

func versionString() string {
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	return v
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of this corral binary",
		Example: "  corral version\n  corral version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := struct {
				Version  string `json:"version"`
				Go       string `json:"go"`
				Platform string `json:"platform"`
			}{versionString(), runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
			if a.output != "table" {
				return a.emit(v, nil)
			}
			_, err := fmt.Fprintf(a.stdout, "corral %s %s %s\n", v.Version, v.Go, v.Platform)
			return err
		},
	}
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show who the configured token belongs to, and its role",
		Example: "  corral whoami",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var addr string
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Whoami, error) {
				addr = c.Addr()
				return c.Whoami(ctx)
			}, func(w io.Writer, who api.Whoami) {
				fmt.Fprintf(w, "%s (%s) at %s\n", who.Subject, who.Role, addr)
			})
		},
	}
}

func (a *app) loginCmd() *cobra.Command {
	var user string
	var passwordStdin bool
	var ttl string
	cmd := &cobra.Command{
		Use:   "login --addr URL [--token TOKEN | --user NAME] [--ca-file FILE]",
		Short: "Save the server address and a token for the other commands",
		Long: `Check a token (--token, or CORRAL_TOKEN), or log in as a user with a
password (--user, asked for on the terminal, or read as a line from stdin),
and save the address, the token and the CA file in
$XDG_CONFIG_HOME/corral/config.yaml (else ~/.config/corral/config.yaml),
readable only by you. The other commands then need no flags.

Without --addr, login uses the address already configured.`,
		Example: `  corral login --addr https://corral.example.com:7700 --ca-file ca.crt --user alice
  corral login --addr http://127.0.0.1:7700 --token "$(cat corral-data/admin.token)"
  echo "$PASSWORD" | corral login --user ci --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := a.target()
			if err != nil {
				return err
			}
			dir := a.configDir()
			if dir == "" {
				return errors.New("cannot tell where to save the login: set HOME or XDG_CONFIG_HOME")
			}
			token := first(a.token, a.getenv("CORRAL_TOKEN"))
			switch {
			case user != "" && a.token != "":
				return errors.New("give --token or --user, not both")
			case user != "":
				t.Token = ""
			case token != "":
				t.Token = token
			default:
				return errors.New("give --token TOKEN, or --user NAME to log in with a password")
			}
			if t.CAFile != "" {
				if t.CAFile, err = filepath.Abs(t.CAFile); err != nil {
					return err
				}
			}
			c, err := newClient(t)
			if err != nil {
				return err
			}
			if user != "" {
				req := api.LoginRequest{Name: user}
				if ttl != "" {
					d, err := api.ParseDuration(ttl)
					if err != nil {
						return fmt.Errorf("--ttl: %w", err)
					}
					req.TTL = api.Duration(d)
				}
				if req.Password, err = a.readPassword("Password for "+user+": ", false, passwordStdin); err != nil {
					return err
				}
				nt, err := c.Login(ctx, req)
				if api.StatusOf(err) == http.StatusUnauthorized {
					// Not a token problem: no hint about tokens.
					return errors.New(err.Error())
				}
				if err != nil {
					return err
				}
				t.Token = nt.Secret
				if c, err = newClient(t); err != nil {
					return err
				}
			}
			w, err := c.Whoami(ctx)
			if err != nil {
				return err
			}
			t.Addr = c.Addr()
			path := filepath.Join(dir, loginFile)
			if err := writeTarget(path, t); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Logged in to %s as %s (%s)\n", t.Addr, w.Subject, w.Role)
			fmt.Fprintf(a.stderr, "Saved in %s\n", a.tildePath(path))
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "log in as this user, with a password")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin, not the terminal")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime of the token a --user login gets (default the server's, 24h)")
	return cmd
}

// readPassword reads a password: from stdin when fromStdin, else from the
// terminal without echo when stdin is one (twice when confirm), else as a
// line of stdin.
func (a *app) readPassword(prompt string, confirm, fromStdin bool) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if confirm {
			fmt.Fprint(a.stderr, "Repeat the password: ")
			again, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if string(again) != string(p) {
				return "", errors.New("the passwords do not match")
			}
		}
		return string(p), nil
	}
	line, err := bufio.NewReader(io.LimitReader(a.stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password given on stdin")
	}
	return line, nil
}

// joinHint returns the host part of the API address, for the agent command
// line shown with a new agent token.
func joinHint(c *client.Client) string {
	u, err := client.ParseAddr(c.Addr())
	if err != nil {
		return "SERVER"
	}
	return u.Hostname()
}
