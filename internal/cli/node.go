package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) nodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "node",
		Aliases: []string{"nodes"},
		Short:   "List, show, label, drain and remove nodes; show their roles",
		Example: `  corral node ls
  corral node show web-1
  corral node roles web-1
  corral node label web-1 role=web zone-
  corral node drain web-1`,
	}
	cmd.AddCommand(a.nodeLsCmd(), a.nodeShowCmd(), a.nodeLabelCmd(), a.nodeDrainCmd(true), a.nodeDrainCmd(false), a.nodeRmCmd(),
		a.nodeRolesCmd())
	return cmd
}

// nodeIP is the address shown for a node: its private IP, else its first
// IPv4 address.
func nodeIP(n api.Node) string {
	if n.Facts.PrivateIP != "" {
		return n.Facts.PrivateIP
	}
	if len(n.Facts.IPv4) > 0 {
		return n.Facts.IPv4[0]
	}
	return "-"
}

func (a *app) nodeLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the nodes",
		Long:    "List the nodes. CPUS and MEM are what the scheduler may place on each node.",
		Example: "  corral node ls\n  corral node ls -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.Node, error) {
				return c.Nodes(ctx)
			}, a.writeNodes)
		},
	}
}

// writeNodes writes the table of `node ls`.
func (a *app) writeNodes(w io.Writer, nodes []api.Node) {
	now := a.now()
	row(w, "NAME", "STATUS", "IP", "CPUS", "MEM", "LABELS", "JOINED")
	for _, n := range nodes {
		row(w, n.Name, n.Status, nodeIP(n),
			strconv.FormatFloat(n.Resources.CPUs, 'f', -1, 64),
			bytesIEC(uint64(max(n.Resources.MemMB, 0))<<20),
			labels(n.Labels), ago(now, n.JoinedAt))
	}
}

func (a *app) nodeShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a node: status, facts, labels, resources and disks",
		Example: "  corral node show web-1\n  corral node show web-1 -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Node, error) {
				return c.Node(ctx, args[0])
			}, a.writeNode)
		},
	}
}

// writeNode writes the readable block of `node show`.
func (a *app) writeNode(w io.Writer, n api.Node) {
	now := a.now()
	f := n.Facts
	status := n.Status
	if n.Drain && status != api.NodeDraining {
		status += " (drain on)"
	}
	fmt.Fprintf(w, "Name:\t%s\n", n.Name)
	fmt.Fprintf(w, "Status:\t%s\n", status)
	fmt.Fprintf(w, "Labels:\t%s\n", labels(n.Labels))
	fmt.Fprintf(w, "Joined:\t%s (%s ago)\n", stamp(n.JoinedAt), ago(now, n.JoinedAt))
	if n.LastSeen != nil {
		fmt.Fprintf(w, "Last seen:\t%s (%s ago)\n", stamp(*n.LastSeen), ago(now, *n.LastSeen))
	}
	if n.CertExpires != nil {
		fmt.Fprintf(w, "Cert expires:\t%s (%s)\n", stamp(*n.CertExpires), until(now, n.CertExpires))
	}
	fmt.Fprintln(w, "Facts:")
	fmt.Fprintf(w, "  Hostname:\t%s\n", dash(f.Hostname))
	osLine := strings.TrimSpace(strings.Join([]string{f.Platform, f.PlatformVer}, " "))
	if osLine == "" {
		osLine = f.OS
	} else if f.OS != "" {
		osLine += " (" + f.OS + ")"
	}
	fmt.Fprintf(w, "  OS:\t%s\n", dash(osLine))
	fmt.Fprintf(w, "  Kernel:\t%s\n", dash(strings.TrimSpace(f.Kernel+" "+f.Arch)))
	fmt.Fprintf(w, "  IP:\t%s\n", nodeIP(n))
	if len(f.IPv4) > 0 {
		fmt.Fprintf(w, "  IPv4:\t%s\n", strings.Join(f.IPv4, ", "))
	}
	if len(f.IPv6) > 0 {
		fmt.Fprintf(w, "  IPv6:\t%s\n", strings.Join(f.IPv6, ", "))
	}
	fmt.Fprintf(w, "  CPUs:\t%d\n", f.CPUs)
	fmt.Fprintf(w, "  Memory:\t%s\n", bytesIEC(f.MemoryBytes))
	fmt.Fprintf(w, "  Corral:\t%s\n", dash(f.CorralVersion))
	r := n.Resources
	fmt.Fprintln(w, "Resources (schedulable):")
	fmt.Fprintf(w, "  CPUs:\t%s\n", strconv.FormatFloat(r.CPUs, 'f', -1, 64))
	fmt.Fprintf(w, "  Memory:\t%s\n", bytesIEC(uint64(max(r.MemMB, 0))<<20))
	fmt.Fprintf(w, "  Disk:\t%s\n", bytesIEC(uint64(max(r.DiskMB, 0))<<20))
	fmt.Fprintf(w, "  Ports:\t%d-%d\n", r.PortFrom, r.PortTo)
	if len(f.Disks) > 0 {
		fmt.Fprintln(w, "Disks:")
		fmt.Fprintln(w, "  MOUNT\tDEVICE\tFSTYPE\tSIZE\tFREE")
		for _, d := range f.Disks {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", d.Mount, dash(d.Device), dash(d.FSType), bytesIEC(d.TotalBytes), bytesIEC(d.FreeBytes))
		}
	}
}

func (a *app) nodeLabelCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "label NAME KEY=VALUE... [KEY-...]",
		Short:   "Set or remove labels of a node",
		Long:    "Set labels of a node (KEY=VALUE) and remove others (KEY-).",
		Example: "  corral node label web-1 role=web zone=a\n  corral node label web-1 zone-",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.LabelRequest
			for _, s := range args[1:] {
				k, v, remove, err := api.ParseLabel(s)
				if err != nil {
					return err
				}
				if remove {
					req.Remove = append(req.Remove, k)
					continue
				}
				if req.Set == nil {
					req.Set = map[string]string{}
				}
				req.Set[k] = v
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Node, error) {
				return c.LabelNode(ctx, args[0], req)
			}, func(w io.Writer, n api.Node) {
				fmt.Fprintf(w, "node %s labels: %s\n", n.Name, labels(n.Labels))
			})
		},
	}
}

func (a *app) nodeDrainCmd(drain bool) *cobra.Command {
	use, short, example := "drain NAME", "Stop placing work on a node (drain on)", "  corral node drain web-1"
	if !drain {
		use, short, example = "undrain NAME", "Place work on a node again (drain off)", "  corral node undrain web-1"
	}
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.Node, error) {
				return c.DrainNode(ctx, args[0], drain)
			}, func(w io.Writer, n api.Node) {
				onOff := "off"
				if n.Drain {
					onOff = "on"
				}
				fmt.Fprintf(w, "node %s: drain %s, status %s\n", n.Name, onOff, n.Status)
			})
		},
	}
}

func (a *app) nodeRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Forget a node (stop its agent first)",
		Example: "  corral node rm web-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return act(a, cmd, func(ctx context.Context, c *client.Client) error {
				return c.RemoveNode(ctx, args[0])
			}, "node "+args[0]+" removed")
		},
	}
}

func (a *app) nodeRolesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "roles NAME",
		Short: "Show a node's run list, environment and merged attributes, and where they come from",
		Long: `Show what a node converges: its run list (the roles of every NodeRoles whose
selector matches its labels, or that names it, in order), its environment,
its attributes merged role < environment < node (NodeRoles attributes), the
NodeRoles that matched it, how many resources its catalog has, the secrets
they use (names only) and why a role could not be used (a role that does
not exist, say).`,
		Example: "  corral node roles web-1\n  corral node roles web-1 -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.NodeRolesView, error) {
				return c.NodeRoles(ctx, args[0])
			}, writeNodeRoles)
		},
	}
}

// writeNodeRoles writes the readable block of `node roles`.
func writeNodeRoles(w io.Writer, v api.NodeRolesView) {
	runList := strings.Join(v.Roles, ", ")
	if runList == "" {
		runList = "(empty: no NodeRoles matches this node)"
	}
	env := v.Environment
	if env == "" {
		env = "(none)"
	}
	fmt.Fprintf(w, "Node:\t%s\n", v.Node)
	fmt.Fprintf(w, "Run list:\t%s\n", runList)
	fmt.Fprintf(w, "Environment:\t%s\n", env)
	fmt.Fprintf(w, "Matched by:\t%s\n", dash(strings.Join(v.MatchedBy, ", ")))
	fmt.Fprintf(w, "Resources:\t%d\n", v.Resources)
	fmt.Fprintf(w, "Secrets used:\t%s\n", dash(strings.Join(v.Secrets, ", ")))
	fmt.Fprintf(w, "Catalog:\t%s\n", dash(v.CatalogHash))
	fmt.Fprintln(w, "Attributes:")
	if len(v.Attributes) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		var b strings.Builder
		if err := writeYAML(&b, v.Attributes); err != nil {
			fmt.Fprintf(w, "  (cannot show: %v)\n", err)
		} else {
			fmt.Fprint(w, indentBlock(b.String(), "  "))
		}
	}
	if len(v.Errors) > 0 {
		fmt.Fprintln(w, "Errors:")
		for _, e := range v.Errors {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

// indentBlock prefixes every line of s with indent.
func indentBlock(s, indent string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		b.WriteString(indent + l)
	}
	return b.String()
}
