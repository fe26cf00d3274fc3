package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"corral/internal/api"
	"corral/internal/client"
	"corral/internal/converge"
)

// roleKind is the resource kind of roles.
const roleKind = "Role"

func (a *app) roleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "role",
		Aliases: []string{"roles"},
		Short:   "List a role's versions, show or compare them, roll a role back",
		Long: `List a role's versions, show or compare them, and roll a role back. Roles are
created and changed with "corral apply" (kind: Role); every change is a new
version, and the nodes holding the role converge to it. "corral get roles"
lists the roles, "corral get role NAME -o yaml" shows the current version,
"corral node roles NODE" what a node gets. docs/config.md is the guide.

  kind: Role
  name: web
  attributes: {worker_processes: 4}
  resources:
    - package: {name: nginx}
    - template:
        path: /etc/nginx/conf.d/upstream.conf
        source: upstream.conf.tmpl   # read from next to the YAML, templates/ or files/
        notify: [restart service nginx]
    - service: {name: nginx, enabled: true, running: true}`,
		Example: `  corral role history web
  corral role show web 3
  corral role diff web
  corral role diff web 3 5
  corral role rollback web --to 3`,
	}
	cmd.AddCommand(a.roleHistoryCmd(), a.roleShowCmd(), a.roleDiffCmd(), a.roleRollbackCmd())
	return cmd
}

func (a *app) roleHistoryCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "history NAME",
		Aliases: []string{"versions"},
		Short:   "List the stored versions of a role, newest (the current one) first",
		Example: "  corral role history web\n  corral role history web -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.ResourceVersion, error) {
				return c.ResourceVersions(ctx, roleKind, args[0])
			}, writeVersions)
		},
	}
}

// writeVersions writes the table of `role history`.
func writeVersions(w io.Writer, vs []api.ResourceVersion) {
	row(w, "VERSION", "CREATED", "BY", "CAUSE")
	for i, v := range vs {
		version := strconv.FormatInt(v.Version, 10)
		if i == 0 {
			version += " (current)"
		}
		cause := v.Cause
		if cause == "" {
			cause = "apply"
		}
		row(w, version, stamp(v.CreatedAt), dash(v.By), cause)
	}
}

func (a *app) roleShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME [VERSION]",
		Short: "Print a version of a role (default: the current one) as a document to apply",
		Long: `Print a version of a role (without VERSION, the current one) as a YAML
document "corral apply" takes: its attributes, its resources and the files
stored with it, after a comment saying which version it is, when and by
whom it was stored. -o yaml and -o json print the version record instead.`,
		Example: "  corral role show web\n  corral role show web 3\n  corral role show web 3 -o json",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			nums, err := versionArgs(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(nums) == 0 {
				vs, err := c.ResourceVersions(ctx, roleKind, args[0])
				if err != nil {
					return err
				}
				if len(vs) == 0 {
					return fmt.Errorf("role %s has no stored versions", args[0])
				}
				nums = []int64{vs[0].Version}
			}
			v, err := c.ResourceVersion(ctx, roleKind, args[0], nums[0])
			if err != nil {
				return err
			}
			if a.output != "table" {
				return a.emit(v, nil)
			}
			return writeRoleDocument(a.stdout, args[0], v)
		},
	}
}

// writeRoleDocument writes version v of role name as a Role document,
// kind first, after a comment naming the version.
func writeRoleDocument(w io.Writer, name string, v api.ResourceVersion) error {
	cause := v.Cause
	if cause == "" {
		cause = "apply"
	}
	if _, err := fmt.Fprintf(w, "# role %s version %d, stored %s by %s (%s)\n", name, v.Version, stamp(v.CreatedAt), dash(v.By), cause); err != nil {
		return err
	}
	b, err := json.Marshal(v.Spec)
	if err != nil {
		return err
	}
	doc, err := yamlNode(b)
	if err != nil {
		return err
	}
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("version %d of role %s has no spec", v.Version, name)
	}
	kind := []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: "kind"}, {Kind: yaml.ScalarNode, Tag: "!!str", Value: roleKind}}
	doc.Content = append(kind, doc.Content...)
	return encodeYAML(w, doc)
}

// versionArgs parses the version numbers after a role's name.
func versionArgs(args []string) ([]int64, error) {
	var nums []int64
	for _, s := range args[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("versions are numbers from 1 (see `corral role history %s`), not %q", args[0], s)
		}
		nums = append(nums, n)
	}
	return nums, nil
}

// roleDiff is what `role diff -o json` prints.
type roleDiff struct {
	Role string `json:"role"`
	From int64  `json:"from"`
	To   int64  `json:"to"`
	Diff string `json:"diff"`
}

func (a *app) roleDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff NAME [A [B]]",
		Short: "Show how two versions of a role differ, as a unified diff of their YAML",
		Long: `Show how two versions of a role differ, as a unified diff of their YAML
(attributes, resources and the files stored with it). Without versions it
compares the version before the current one with the current one; with A
only, version A with the current one; with A and B, version A with B.`,
		Example: "  corral role diff web\n  corral role diff web 3\n  corral role diff web 3 5",
		Args:    cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			nums, err := versionArgs(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := diffVersions(cmd.Context(), c, args[0], nums)
			if err != nil {
				return err
			}
			if a.output != "table" {
				return a.emit(d, nil)
			}
			if d.Diff == "" {
				_, err := fmt.Fprintf(a.stdout, "versions %d and %d of role %s are the same\n", d.From, d.To, d.Role)
				return err
			}
			_, err = io.WriteString(a.stdout, d.Diff) // not through a table writer: tabs stay
			return err
		},
	}
}

// diffVersions diffs versions nums[0] and nums[1] of role name; missing
// ones are the previous and the current version.
func diffVersions(ctx context.Context, c *client.Client, name string, nums []int64) (roleDiff, error) {
	d := roleDiff{Role: name}
	if len(nums) < 2 {
		vs, err := c.ResourceVersions(ctx, roleKind, name)
		if err != nil {
			return d, err
		}
		switch {
		case len(vs) == 0:
			return d, fmt.Errorf("role %s has no stored versions", name)
		case len(nums) == 0 && len(vs) == 1:
			return d, fmt.Errorf("role %s has only version %d: nothing to compare it with", name, vs[0].Version)
		case len(nums) == 0:
			nums = []int64{vs[1].Version}
		}
		nums = append(nums, vs[0].Version)
	}
	d.From, d.To = nums[0], nums[1]
	texts := make([]string, 2)
	for i, n := range nums {
		v, err := c.ResourceVersion(ctx, roleKind, name, n)
		if err != nil {
			return d, err
		}
		var b strings.Builder
		if err := writeYAML(&b, v.Spec); err != nil {
			return d, fmt.Errorf("version %d of role %s: %w", n, name, err)
		}
		texts[i] = b.String()
	}
	d.Diff = converge.UnifiedDiff(fmt.Sprintf("role/%s version %d", name, d.From), fmt.Sprintf("role/%s version %d", name, d.To), texts[0], texts[1])
	return d, nil
}

func (a *app) roleRollbackCmd() *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to N]",
		Short: "Store an earlier version of a role again, as a new version",
		Long: `Store an earlier version of a role again, as a new version (default: the
version before the current one; "corral role history" lists them). The
nodes holding the role get the new catalog and converge to it at once.`,
		Example: "  corral role rollback web\n  corral role rollback web --to 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return fmt.Errorf("--to must be a version number")
			}
			return show(a, cmd, func(ctx context.Context, c *client.Client) (api.ResourceVersion, error) {
				return c.RollbackResource(ctx, roleKind, args[0], to)
			}, func(w io.Writer, v api.ResourceVersion) {
				cause := v.Cause
				if cause == "" {
					cause = "rollback"
				}
				fmt.Fprintf(w, "role %s is now version %d (%s)\n", args[0], v.Version, cause)
			})
		},
	}
	cmd.Flags().Int64Var(&to, "to", 0, "the version to store again (default: the one before the current)")
	return cmd
}
