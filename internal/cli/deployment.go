package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) deploymentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deployment",
		Aliases: []string{"deployments", "deploy"},
		Short:   "List, show and cancel deployments (changes of apps being carried out)",
		Long: `List, show and cancel deployments. Every change of an app (a new version
applied, a scale, a restart, a rollback, a removal) is a deployment, named
<app>.v<version> (restarts <app>.v<version>.r<n>, the app's "/" written "_").
Canceling a running deployment rolls its app back to the version before it,
as Marathon does: that rollback is a new deployment.`,
		Example: `  corral deployment ls
  corral deployment ls --all --app /shop/api
  corral deployment show shop_api.v4
  corral deployment cancel shop_api.v4 --wait`,
	}
	cmd.AddCommand(a.deploymentLsCmd(), a.deploymentShowCmd(), a.deploymentCancelCmd())
	return cmd
}

// deploymentProgress says in words how far d got, for tables and the
// progress lines of --wait.
func deploymentProgress(d api.Deployment) string {
	p := d.Progress
	s := fmt.Sprintf("%d/%d healthy", p.Healthy, d.Instances)
	if p.New != p.Healthy {
		s += fmt.Sprintf(", %d starting", p.New-p.Healthy)
	}
	if p.Old > 0 {
		s += fmt.Sprintf(", %d old", p.Old)
	}
	return s
}

// versionChange is "v2 → v3", or "v3" for a new app.
func versionChange(d api.Deployment) string {
	if d.FromVersion == 0 || d.FromVersion == d.Version {
		return "v" + strconv.FormatInt(d.Version, 10)
	}
	return fmt.Sprintf("v%d → v%d", d.FromVersion, d.Version)
}

// deploy is the body of a command that starts a deployment: it gets the API
// client, calls start with the command's context, and reports the
// deployment, what saying what it does; with --wait it waits for it to end.
func (a *app) deploy(cmd *cobra.Command, wf waitFlags, start func(ctx context.Context, c *client.Client) (api.Deployment, error), what func(api.Deployment) string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	d, err := start(ctx, c)
	if err != nil {
		return err
	}
	started := fmt.Sprintf("%s: deployment %s started (%s %s)", what(d), d.ID, d.Kind, versionChange(d))
	wait := func(progress io.Writer) (api.Deployment, error) {
		return a.waitDeployment(ctx, c, d.ID, wf.interval, progress)
	}
	return follow(a, wf, d, started, wait, func(final api.Deployment) (string, error) {
		line := fmt.Sprintf("deployment %s %s after %s", final.ID, final.State, span(final.Finished.Sub(final.Started)))
		if final.State != api.DeploymentSucceeded {
			return line, &exitCodeError{code: 1, err: fmt.Errorf("deployment %s was %s", final.ID, final.State)}
		}
		return line, nil
	})
}

// maxUnknownPolls is how many times in a row --wait polls a deployment
// the server does not know yet before it gives up.
const maxUnknownPolls = 30

// waitDeployment polls deployment id every interval until it no longer
// runs, writing a progress line to w whenever its progress or what it waits
// for changes, and returns it as it ended.
func (a *app) waitDeployment(ctx context.Context, c *client.Client, id string, interval time.Duration, w io.Writer) (api.Deployment, error) {
	var d api.Deployment
	last, unknown := "", 0
	err := poll(ctx, interval, "deployment "+id, func() (bool, error) {
		var err error
		d, err = c.Deployment(ctx, id)
		var line string
		switch {
		case api.StatusOf(err) == http.StatusNotFound && unknown < maxUnknownPolls:
			// The id is given before the scheduler picks the change up.
			unknown++
			line = "  waiting for the scheduler to start it"
		case err != nil:
			return false, err
		case d.State != api.DeploymentRunning:
			return true, nil
		default:
			line = "  " + deploymentProgress(d)
			if d.Waiting != "" {
				line += "; waiting: " + d.Waiting
			}
		}
		if line != last {
			fmt.Fprintln(w, line)
			last = line
		}
		return false, nil
	})
	return d, err
}

func (a *app) deploymentLsCmd() *cobra.Command {
	var q client.DeploymentQuery
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the running deployments (--all: and finished ones)",
		Example: "  corral deployment ls\n  corral deployment ls --all --app /shop/api\n  corral deployment ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.Deployment, error) {
				return c.Deployments(ctx, q)
			}, a.writeDeployments)
		},
	}
	cmd.Flags().BoolVar(&q.All, "all", false, "also list finished deployments, newest first")
	cmd.Flags().StringVar(&q.App, "app", "", "only the deployments of this app")
	cmd.Flags().IntVar(&q.Limit, "limit", 0, "list at most this many (default: the server's)")
	return cmd
}

// writeDeployments writes the table of `deployment ls`.
func (a *app) writeDeployments(w io.Writer, ds []api.Deployment) {
	now := a.now()
	row(w, "ID", "APP", "KIND", "VERSION", "STATE", "PROGRESS", "STARTED", "WAITING")
	for _, d := range ds {
		row(w, d.ID, d.App, d.Kind, versionChange(d), d.State, deploymentProgress(d),
			ago(now, d.Started)+" ago", firstLine(d.Waiting, 60))
	}
}

func (a *app) deploymentShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"get"},
		Short:   "Show a deployment: what changed, its progress and what it waits for",
		Example: "  corral deployment show shop_api.v4\n  corral deployment show shop_api.v4 -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Deployment, error) {
				return c.Deployment(ctx, args[0])
			}, func(w io.Writer, d api.Deployment) { a.writeDeployment(w, d, "") })
		},
	}
}

// writeDeployment writes the readable block of a deployment, each line
// prefixed with indent.
func (a *app) writeDeployment(w io.Writer, d api.Deployment, indent string) {
	now := a.now()
	fmt.Fprintf(w, "%sID:\t%s\n", indent, d.ID)
	fmt.Fprintf(w, "%sApp:\t%s\n", indent, d.App)
	fmt.Fprintf(w, "%sKind:\t%s %s\n", indent, d.Kind, versionChange(d))
	fmt.Fprintf(w, "%sState:\t%s\n", indent, d.State)
	fmt.Fprintf(w, "%sStarted:\t%s (%s ago)\n", indent, stamp(d.Started), ago(now, d.Started))
	if !d.Finished.IsZero() {
		fmt.Fprintf(w, "%sFinished:\t%s (took %s)\n", indent, stamp(d.Finished), span(d.Finished.Sub(d.Started)))
	}
	fmt.Fprintf(w, "%sProgress:\t%s (target %d instances)\n", indent, deploymentProgress(d), d.Instances)
	if d.Waiting != "" {
		fmt.Fprintf(w, "%sWaiting:\t%s\n", indent, d.Waiting)
	}
	if d.By != "" {
		fmt.Fprintf(w, "%sBy:\t%s\n", indent, d.By)
	}
}

func (a *app) deploymentCancelCmd() *cobra.Command {
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a running deployment by rolling its app back to the version before it",
		Long: `Cancel a running deployment. As in Marathon, the app is rolled back to the
version before the deployment, which is a new deployment; its id is
printed, and --wait waits for it.`,
		Example: "  corral deployment cancel shop_api.v4\n  corral deployment cancel shop_api.v4 --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.deploy(cmd, wf, func(ctx context.Context, c *client.Client) (api.Deployment, error) {
				return c.CancelDeployment(ctx, args[0])
			}, func(d api.Deployment) string { return "deployment " + args[0] + " canceled; " + d.App + " rolls back" })
		},
	}
	wf.add(cmd, "rollback deployment")
	return cmd
}
