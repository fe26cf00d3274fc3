// Package cli is the `corral` command line: cobra commands that start the
// processes (server, agent, dev) from flags, a config file and CORRAL_*
// environment variables, and the user verbs (node, token, user, apply, get,
// audit, ...), which talk to the HTTP API only, through package client.
// Only cmd/corral imports it.
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
)

// env is what a command run may touch of its process: the standard streams,
// the environment and the clock. Tests supply their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
}

// app is one run of the command line: its env and the global flags.
type app struct {
	env
	addr, token, caFile string
	output              string
	// preRan is set once the command's flags and arguments were accepted, to
	// tell usage errors from failures.
	preRan bool
}

// Run runs the command line with args (without the program name) and returns
// the process exit code: 0 on success, 1 on error, which it prints to stderr.
func Run(ctx context.Context, args []string) int {
	return run(ctx, args, env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		now:    time.Now,
	})
}

func run(ctx context.Context, args []string, e env) int {
	a := &app{env: e}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if ec, ok := errors.AsType[*exitCodeError](err); ok { // corral checkin -- COMMAND
		if ec.err != nil {
			printError(e.stderr, ec.err)
		}
		return ec.code
	}
	printError(e.stderr, err)
	if !a.preRan && cmd != nil && api.AsFields(err) == nil {
		fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 1
}

// printError writes err as `Error: <message>`, then its field errors one per
// line, then a hint when one is known.
func printError(w io.Writer, err error) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		fmt.Fprintf(w, "Error: %v\n", err)
		var ua x509.UnknownAuthorityError
		switch {
		case errors.As(err, &ua):
			fmt.Fprintln(w, "  hint: the server's certificate is issued by the cluster CA: pass it with --ca-file (it is <data-dir>/ca.crt on the server)")
		case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
			fmt.Fprintln(w, "  hint: the server speaks plain HTTP: give the address as http://HOST:PORT")
		}
		return
	}
	fmt.Fprintf(w, "Error: %s\n", ae.Message)
	keys := make([]string, 0, len(ae.Fields))
	for k := range ae.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, ae.Fields[k])
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		fmt.Fprintln(w, "  hint: the token is missing, expired or revoked: run `corral login`, or set --token / CORRAL_TOKEN")
	case http.StatusForbidden:
		fmt.Fprintln(w, "  hint: your token's role may not do this (see `corral whoami`)")
	}
}

// outputsAnnotation on a command lists the --output values it takes, when
// not the usual table, yaml and json.
const outputsAnnotation = "corral/outputs"

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "corral",
		Short: "Corral runs and watches a small company's machines from one binary",
		Long: `Corral runs a small company's machines from one binary, with one CLI and
one API (a web UI is planned).

Run "corral dev" to try all of it in one process on this machine, then use
the other commands against it. In production, run "corral server" on one or
three machines and "corral agent" on every machine.

The user commands find the server in this order: --addr/--token/--ca-file,
CORRAL_ADDR/CORRAL_TOKEN/CORRAL_CA_FILE, the file written by "corral login"
($XDG_CONFIG_HOME/corral/config.yaml, else ~/.config/corral/config.yaml),
and the file written by "corral dev" (dev.yaml in the same directory).`,
		Example: `  corral dev
  corral node ls
  corral login --addr https://corral.example.com:7700 --user alice --ca-file ca.crt`,
		Version:       versionString(),
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			// Cobra checks these after this hook; checking them here too
			// lets run tell every usage error from a failure.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return err
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return err
			}
			allowed := "table,yaml,json"
			if o, ok := cmd.Annotations[outputsAnnotation]; ok {
				allowed = o
			}
			if !slices.Contains(strings.Split(allowed, ","), a.output) {
				opts := strings.Split(allowed, ",")
				return fmt.Errorf("--output %q: want %s or %s", a.output, strings.Join(opts[:len(opts)-1], ", "), opts[len(opts)-1])
			}
			a.preRan = true
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.addr, "addr", "", "server API address, e.g. https://host:7700 (env CORRAL_ADDR)")
	pf.StringVar(&a.token, "token", "", "API token (env CORRAL_TOKEN)")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM file of the cluster CA, to verify the server (env CORRAL_CA_FILE)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, yaml or json")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return err })

	root.AddGroup(
		&cobra.Group{ID: "run", Title: "Run Corral:"},
		&cobra.Group{ID: "use", Title: "Use a cluster:"},
	)
	for _, c := range []*cobra.Command{a.devCmd(), a.serverCmd(), a.agentCmd()} {
		c.GroupID = "run"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{
		a.loginCmd(), a.whoamiCmd(), a.nodeCmd(), a.applyCmd(), a.diffCmd(), a.getCmd(),
		a.deleteCmd(), a.tokenCmd(), a.userCmd(), a.auditCmd(), a.metricsCmd(),
		a.checkCmd(), a.eventCmd(), a.silenceCmd(), a.handlerCmd(), a.checkinCmd(),
		a.appCmd(),
		a.deploymentCmd(),
		a.jobCmd(), a.logsCmdRoot(),
		a.convergeCmd(), a.reportCmd(), a.roleCmd(),
	} {
		c.GroupID = "use"
		root.AddCommand(c)
	}
	root.AddCommand(a.versionCmd())
	root.AddCommand(a.superviseCmd())
	return root
}
