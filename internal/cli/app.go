package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) appCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "app",
		Aliases: []string{"apps"},
		Short:   "List, show, scale, restart, roll back and remove apps",
		Long: `List, show, scale, restart, roll back and remove apps: long-running services
kept at a number of instances (Marathon's apps). Apps are created and
changed with "corral apply" (kind: App); every change is a new version
carried out by a deployment, which "corral deployment" lists.

  kind: App
  id: /shop/api
  cmd: ./api --port $PORT0
  instances: 2
  ports: [{name: http}]
  health_checks: [{protocol: HTTP, path: /health}]`,
		Example: `  corral app ls
  corral app show /shop/api
  corral app scale /shop/api 4 --wait
  corral app logs /shop/api -f`,
	}
	cmd.AddCommand(a.appLsCmd(), a.appShowCmd(), a.appTasksCmd(), a.appScaleCmd(), a.appRestartCmd(),
		a.appRollbackCmd(), a.appRmCmd(), a.appVersionsCmd(), a.appLogsCmd())
	return cmd
}

// appID puts a leading "/" on an app or job id given without one.
func appID(s string) string { return "/" + strings.Trim(s, "/") }

// runningDeployments returns the ids of an app's running deployments.
func runningDeployments(st api.AppStatus) []string {
	var ids []string
	for _, d := range st.Deployments {
		if d.State == api.DeploymentRunning {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

// appNote is the short WAITING/LAST FAILURE column of `app ls`.
func appNote(now time.Time, st api.AppStatus) string {
	switch {
	case st.Waiting != "":
		return "waiting: " + firstLine(st.Waiting, 60)
	case st.LastFailure != nil:
		f := st.LastFailure
		return firstLine(fmt.Sprintf("%s %s ago: %s", f.State, ago(now, f.Time), f.Reason), 60)
	}
	return "-"
}

// appInstances is "healthy/running/target".
func appInstances(st api.AppStatus) string {
	return fmt.Sprintf("%d/%d/%d", st.TasksHealthy, st.TasksRunning, st.Instances)
}

func (a *app) appLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the apps",
		Long: `List the apps. INSTANCES is healthy/running/target; DEPLOYING names the
running deployment; the last column says what a deployment waits for, or
how the last instance failed.`,
		Example: "  corral app ls\n  corral app ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.AppStatus, error) {
				return c.Apps(ctx)
			}, a.writeApps)
		},
	}
}

// writeApps writes the table of `app ls`.
func (a *app) writeApps(w io.Writer, apps []api.AppStatus) {
	now := a.now()
	row(w, "ID", "VERSION", "INSTANCES", "DEPLOYING", "WAITING/LAST FAILURE")
	for _, st := range apps {
		row(w, st.Spec.ID, strconv.FormatInt(st.Version, 10), appInstances(st),
			dash(strings.Join(runningDeployments(st), ",")), appNote(now, st))
	}
}

// runsWhat says what an app or job runs: its command, its args, or its
// docker image.
func runsWhat(r api.RunSpec) string {
	var s string
	switch {
	case r.Cmd != "":
		s = r.Cmd
	case len(r.Args) > 0:
		s = strings.Join(r.Args, " ")
	}
	if r.Image != "" {
		if s == "" {
			return "image " + r.Image
		}
		return "image " + r.Image + ": " + s
	}
	return s
}

// resources is "0.5 CPUs, 256 MiB" (and disk when asked for).
func resources(r api.RunSpec) string {
	s := strconv.FormatFloat(r.CPUs, 'f', -1, 64) + " CPUs, " + strconv.FormatInt(r.Mem, 10) + " MiB"
	if r.Disk > 0 {
		s += ", disk " + strconv.FormatInt(r.Disk, 10) + " MiB"
	}
	return s
}

func portList(ps []api.PortSpec) string {
	var parts []string
	for i, p := range ps {
		name := p.Name
		if name == "" {
			name = "$PORT" + strconv.Itoa(i)
		}
		port := "dynamic"
		if p.Port != 0 {
			port = strconv.Itoa(p.Port)
		}
		if p.ContainerPort != 0 {
			port += "→" + strconv.Itoa(p.ContainerPort)
		}
		if p.Protocol == "udp" {
			port += "/udp"
		}
		parts = append(parts, name+" "+port)
	}
	return dash(strings.Join(parts, ", "))
}

func healthCheckText(h api.HealthCheck) string {
	switch strings.ToUpper(h.Protocol) {
	case api.ProtocolCommand:
		return "COMMAND " + h.Command
	case api.ProtocolTCP:
		return "TCP port index " + strconv.Itoa(h.PortIndex)
	}
	return h.Protocol + " " + dash(h.Path) + " on port index " + strconv.Itoa(h.PortIndex)
}

// taskHealth is the HEALTH column of a task: "-" without checks, "ok" when
// every check passes, else the first failing check's failures and cause.
func taskHealth(t api.Task) string {
	if len(t.Health) == 0 {
		return "-"
	}
	for i, h := range t.Health {
		if !h.Alive {
			s := fmt.Sprintf("check %d failing", i)
			if h.ConsecutiveFailures > 0 {
				s += fmt.Sprintf(" (%dx)", h.ConsecutiveFailures)
			}
			if h.LastFailureCause != "" {
				s += ": " + h.LastFailureCause
			}
			return firstLine(s, 50)
		}
	}
	return "ok"
}

func intList(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return dash(strings.Join(parts, ","))
}

// taskReason is the REASON column: why a task failed or was killed.
func taskReason(t api.Task) string {
	switch {
	case t.Reason != "":
		return firstLine(t.Reason, 60)
	case t.KillReason != "":
		return firstLine(t.KillReason, 60)
	}
	return "-"
}

// writeTasks writes a task table, each line prefixed with indent.
func (a *app) writeTasks(w io.Writer, ts []api.Task, indent string) {
	now := a.now()
	fmt.Fprintln(w, indent+"ID\tNODE\tSTATE\tPORTS\tSTARTED\tHEALTH\tREASON")
	for _, t := range ts {
		started := "-"
		if !t.StartedAt.IsZero() {
			started = ago(now, t.StartedAt) + " ago"
		}
		state := t.State
		if t.Desired == api.DesiredKill && !api.TaskTerminal(t.State) && t.State != api.TaskKilling {
			state += " (killing)"
		}
		fmt.Fprintln(w, indent+strings.Join([]string{t.ID, dash(t.Node), state, intList(t.Ports), started, taskHealth(t), taskReason(t)}, "\t"))
	}
}

func (a *app) appShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"get"},
		Short:   "Show an app: spec, version, instances, deployment, last failure and tasks",
		Long: `Show an app: what it runs, its version, its instances, the running
deployment with its progress and what it waits for (why instances cannot be
placed, say), the last failed instance and why, and its tasks.`,
		Example: "  corral app show /shop/api\n  corral app show shop/api -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.AppStatus, error) {
				return c.App(ctx, appID(args[0]))
			}, a.writeApp)
		},
	}
}

// writeApp writes the readable block of `app show`.
func (a *app) writeApp(w io.Writer, st api.AppStatus) {
	now := a.now()
	s := st.Spec
	fmt.Fprintf(w, "ID:\t%s\n", s.ID)
	fmt.Fprintf(w, "Version:\t%d (%s, %s ago)\n", st.Version, stamp(st.UpdatedAt), ago(now, st.UpdatedAt))
	driver := s.Driver
	if driver == "" {
		driver = api.DriverExec
	}
	fmt.Fprintf(w, "Runs:\t%s (%s)\n", dash(runsWhat(s.RunSpec)), driver)
	fmt.Fprintf(w, "Resources:\t%s\n", resources(s.RunSpec))
	fmt.Fprintf(w, "Ports:\t%s\n", portList(s.Ports))
	for i, h := range s.HealthChecks {
		fmt.Fprintf(w, "Health check %d:\t%s\n", i, healthCheckText(h))
	}
	if len(s.Constraints) > 0 {
		var cs []string
		for _, c := range s.Constraints {
			cs = append(cs, strings.Join(c, " "))
		}
		fmt.Fprintf(w, "Constraints:\t%s\n", strings.Join(cs, "; "))
	}
	if len(s.DependsOn) > 0 {
		fmt.Fprintf(w, "Depends on:\t%s\n", strings.Join(s.DependsOn, ", "))
	}
	fmt.Fprintf(w, "Instances:\t%d target: %d healthy, %d running, %d staged, %d unhealthy\n",
		st.Instances, st.TasksHealthy, st.TasksRunning, st.TasksStaged, st.TasksUnhealthy)
	deploying := false
	for _, d := range st.Deployments {
		if d.State != api.DeploymentRunning {
			continue
		}
		deploying = true
		fmt.Fprintf(w, "Deployment:\t%s: %s %s, running for %s\n", d.ID, d.Kind, versionChange(d), ago(now, d.Started))
		fmt.Fprintf(w, "  Progress:\t%s\n", deploymentProgress(d))
		if d.Waiting != "" {
			fmt.Fprintf(w, "  Waiting:\t%s\n", d.Waiting)
		}
	}
	if !deploying {
		fmt.Fprintln(w, "Deployment:\tnone running")
	}
	if st.Waiting != "" && (!deploying || !deploymentsWait(st, st.Waiting)) {
		fmt.Fprintf(w, "Waiting:\t%s\n", st.Waiting)
	}
	if f := st.LastFailure; f != nil {
		fmt.Fprintf(w, "Last failure:\t%s on %s %s %s ago (version %d): %s\n", f.Task, dash(f.Node), f.State, ago(now, f.Time), f.Version, f.Reason)
	}
	fmt.Fprintln(w, "Tasks:")
	if len(st.Tasks) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	a.writeTasks(w, st.Tasks, "  ")
}

// deploymentsWait reports whether a running deployment of st already
// shows waiting.
func deploymentsWait(st api.AppStatus, waiting string) bool {
	for _, d := range st.Deployments {
		if d.State == api.DeploymentRunning && d.Waiting == waiting {
			return true
		}
	}
	return false
}

func (a *app) appTasksCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "tasks ID",
		Short:   "List the tasks (instances) of an app",
		Example: "  corral app tasks /shop/api\n  corral app tasks /shop/api -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.Task, error) {
				return c.AppTasks(ctx, appID(args[0]))
			}, func(w io.Writer, ts []api.Task) { a.writeTasks(w, ts, "") })
		},
	}
}

func (a *app) appScaleCmd() *cobra.Command {
	var wf waitFlags
	cmd := &cobra.Command{
		Use:     "scale ID INSTANCES",
		Short:   "Set the number of instances of an app (0 suspends it)",
		Example: "  corral app scale /shop/api 4\n  corral app scale /shop/api 0 --wait",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return fmt.Errorf("INSTANCES must be a number of at least 0, not %q", args[1])
			}
			id := appID(args[0])
			return a.deploy(cmd, wf, func(ctx context.Context, c *client.Client) (api.Deployment, error) {
				return c.ScaleApp(ctx, id, n)
			}, func(api.Deployment) string { return fmt.Sprintf("app %s scales to %d", id, n) })
		},
	}
	wf.add(cmd, "deployment")
	return cmd
}

func (a *app) appRestartCmd() *cobra.Command {
	var wf waitFlags
	cmd := &cobra.Command{
		Use:     "restart ID",
		Short:   "Replace every instance of an app, keeping its upgrade strategy",
		Example: "  corral app restart /shop/api\n  corral app restart /shop/api --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := appID(args[0])
			return a.deploy(cmd, wf, func(ctx context.Context, c *client.Client) (api.Deployment, error) {
				return c.RestartApp(ctx, id)
			}, func(api.Deployment) string { return "app " + id + " restarts" })
		},
	}
	wf.add(cmd, "deployment")
	return cmd
}

func (a *app) appRollbackCmd() *cobra.Command {
	var wf waitFlags
	var to int64
	cmd := &cobra.Command{
		Use:   "rollback ID",
		Short: "Apply an earlier version of an app again (default: the one before the current)",
		Long: `Apply an earlier version of an app again, as a new version. Without --to,
the version before the current one; "corral app versions" lists them.`,
		Example: "  corral app rollback /shop/api\n  corral app rollback /shop/api --to 3 --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return fmt.Errorf("--to must be a version number")
			}
			id := appID(args[0])
			return a.deploy(cmd, wf, func(ctx context.Context, c *client.Client) (api.Deployment, error) {
				return c.RollbackApp(ctx, id, to)
			}, func(api.Deployment) string { return "app " + id + " rolls back" })
		},
	}
	cmd.Flags().Int64Var(&to, "to", 0, "the version to apply again")
	wf.add(cmd, "deployment")
	return cmd
}

func (a *app) appRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove an app; every instance is killed",
		Example: "  corral app rm /shop/api",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := appID(args[0])
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.DeleteApp(ctx, id)
			}, "app "+id+" removed; its tasks are being killed")
		},
	}
}

func (a *app) appVersionsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "versions ID",
		Aliases: []string{"history"},
		Short:   "List the stored versions of an app, newest first",
		Example: "  corral app versions /shop/api\n  corral app versions /shop/api -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.AppVersion, error) {
				return c.AppVersions(ctx, appID(args[0]))
			}, writeAppVersions)
		},
	}
}

// writeAppVersions writes the table of `app versions`.
func writeAppVersions(w io.Writer, vs []api.AppVersion) {
	row(w, "VERSION", "CREATED", "BY", "INSTANCES", "RESOURCES", "RUNS")
	for _, v := range vs {
		row(w, strconv.FormatInt(v.Version, 10), stamp(v.CreatedAt), dash(v.By),
			strconv.Itoa(v.Spec.Count()), resources(v.Spec.RunSpec), firstLine(runsWhat(v.Spec.RunSpec), 50))
	}
}

// logFlags are the flags of `app logs` and `job logs`.
type logFlags struct {
	follow bool
	since  string
	limit  int
}

func (f *logFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "keep printing new lines until interrupted")
	cmd.Flags().StringVar(&f.since, "since", "", "only lines since this long ago (10m, 2h, 1d) or this RFC 3339 time")
	cmd.Flags().IntVarP(&f.limit, "lines", "n", 100, "print at most this many of the newest lines")
}

// query checks the flags and fills q with them.
func (f *logFlags) query(q client.LogQuery) (client.LogQuery, error) {
	if f.since != "" {
		if _, err := time.Parse(time.RFC3339, f.since); err != nil {
			if _, err := api.ParseDuration(f.since); err != nil {
				return q, fmt.Errorf("--since: want a duration (10m) or an RFC 3339 time, not %q", f.since)
			}
		}
	}
	if f.limit < 0 {
		return q, fmt.Errorf("--lines must not be negative")
	}
	q.Since, q.Limit = f.since, f.limit
	return q, nil
}

// printLogEntry prints one log entry: tables show "TIME SOURCE| MESSAGE"
// (the task and stream for task output, else the node and where the line
// came from); -o json prints one JSON object a line, -o yaml one document
// a line.
func (a *app) printLogEntry(e api.LogEntry) error {
	switch a.output {
	case "json":
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s\n", b)
		return err
	case "yaml":
		fmt.Fprintln(a.stdout, "---")
		return writeYAML(a.stdout, e)
	}
	src := e.Task
	if src == "" {
		src = e.Node
		if e.Source != "" && e.Source != "task" {
			src += " " + e.Source
		}
	}
	if e.Stream != "" {
		src += " " + e.Stream
	}
	_, err := fmt.Fprintf(a.stdout, "%s %s| %s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), src, e.Message)
	return err
}

// printLogs prints the lines q selects, and with follow the new ones until
// ctx ends.
func (a *app) printLogs(ctx context.Context, c *client.Client, q client.LogQuery, follow bool) error {
	if follow {
		return c.FollowLogs(ctx, q, a.printLogEntry)
	}
	es, err := c.Logs(ctx, q)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := a.printLogEntry(e); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) appLogsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print the output of an app's tasks",
		Example: `  corral app logs /shop/api
  corral app logs /shop/api --task shop_api.4f2a9c0d1e3b -f
  corral app logs /shop/api --since 10m -n 500 -o json`,
	}
	return a.logsCmd(cmd, "task", "only the lines of this task", func(q *client.LogQuery, task string) { q.Task = task })
}

// logsCmd makes cmd, which names the app or job as its argument, print its
// logs with the flags of logFlags and one more, filter, which set puts in
// the query.
func (a *app) logsCmd(cmd *cobra.Command, filter, usage string, set func(q *client.LogQuery, v string)) *cobra.Command {
	var lf logFlags
	var v string
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q := client.LogQuery{App: appID(args[0])}
		set(&q, v)
		q, err := lf.query(q)
		if err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		return a.printLogs(cmd.Context(), c, q, lf.follow)
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&v, filter, "", usage)
	return cmd
}
