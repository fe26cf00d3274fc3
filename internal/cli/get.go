package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"corral/internal/api"
	"corral/internal/client"
)

func (a *app) getCmd() *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List the resources of a kind, or show one",
		Long: `List the resources of a kind, or show one. KIND is matched without regard
to case, and may be plural ("secrets"); "corral get kinds" lists the kinds.

-o yaml prints documents as you would apply them, with their version in a
comment; -o json prints them as the API returns them. Secret values are
redacted unless you are an admin and give --reveal (which prints YAML
unless -o json is given).`,
		Example: `  corral get kinds
  corral get secrets
  corral get secret db-password -o yaml
  corral get secret db-password --reveal`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && strings.EqualFold(args[0], "kinds") {
				return show(a, cmd, func(ctx context.Context, c *client.Client) ([]api.KindInfo, error) {
					return c.Kinds(ctx)
				}, writeKinds)
			}
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			kind, err := resolveKind(ctx, c, args[0])
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if reveal {
					return fmt.Errorf("--reveal needs a NAME: corral get %s NAME --reveal", args[0])
				}
				rs, err := c.Resources(ctx, kind.Kind)
				if err != nil {
					return err
				}
				if rs == nil {
					rs = []api.Resource{}
				}
				return a.emitResources(rs)
			}
			r, err := c.Resource(ctx, kind.Kind, args[1], reveal)
			if err != nil {
				return err
			}
			if reveal && a.output == "table" {
				a.output = "yaml"
			}
			if a.output == "yaml" {
				return writeDocuments(a.stdout, []api.Resource{r}, kind.Key)
			}
			return a.emit(r, func(w io.Writer) error { return resourceTable(w, []api.Resource{r}) })
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show secret values (admin only)")
	return cmd
}

func (a *app) emitResources(rs []api.Resource) error {
	if a.output == "yaml" {
		return writeDocuments(a.stdout, rs, "")
	}
	return a.emit(rs, func(w io.Writer) error { return resourceTable(w, rs) })
}

// specs fetches the resources of kind and decodes their specs into T.
func specs[T any](ctx context.Context, c *client.Client, kind string) ([]T, error) {
	rs, err := c.Resources(ctx, kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(rs))
	for _, r := range rs {
		var s T
		if err := json.Unmarshal(r.Spec, &s); err != nil {
			return nil, fmt.Errorf("%s %s: %w", strings.ToLower(kind), r.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func resourceTable(w io.Writer, rs []api.Resource) error {
	row(w, "NAME", "VERSION", "UPDATED", "UPDATED-BY")
	for _, r := range rs {
		row(w, r.Name, strconv.FormatInt(r.Version, 10), stamp(r.UpdatedAt), dash(r.UpdatedBy))
	}
	return nil
}

// writeKinds writes the table of `get kinds`.
func writeKinds(w io.Writer, ks []api.KindInfo) {
	row(w, "KIND", "KEY", "WRITE-ROLE", "ABOUT")
	for _, k := range ks {
		row(w, k.Kind, k.Key, string(k.WriteRole), k.About)
	}
}

// resolveKind finds the kind the user means among the server's kinds: by
// name without regard to case, also in the plural.
func resolveKind(ctx context.Context, c *client.Client, name string) (api.KindInfo, error) {
	ks, err := c.Kinds(ctx)
	if err != nil {
		return api.KindInfo{}, err
	}
	if k, ok := matchKind(ks, name); ok {
		return k, nil
	}
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.Kind
	}
	sort.Strings(names)
	return api.KindInfo{}, fmt.Errorf("unknown kind %q (known: %s)", name, strings.Join(names, ", "))
}

func matchKind(ks []api.KindInfo, name string) (api.KindInfo, bool) {
	low := strings.ToLower(name)
	for _, k := range ks {
		n := strings.ToLower(k.Kind)
		if low == n || low == n+"s" || low == n+"es" {
			return k, true
		}
	}
	return api.KindInfo{}, false
}

// writeDocuments writes resources as YAML documents a user can apply again:
// kind, the key, then the spec's fields; version and update in a comment.
func writeDocuments(w io.Writer, rs []api.Resource, key string) error {
	for i, r := range rs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		doc, err := document(r, key)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.Kind, r.Name, err)
		}
		comment := fmt.Sprintf("version %d, updated %s", r.Version, r.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"))
		if r.UpdatedBy != "" {
			comment += " by " + r.UpdatedBy
		}
		doc.HeadComment = comment
		if err := encodeYAML(w, doc); err != nil {
			return err
		}
	}
	return nil
}

// document builds the YAML mapping of r: kind first, then its key (when
// known, else "name" or "id" if the spec has one), then the other fields in
// their stored order.
func document(r api.Resource, key string) (*yaml.Node, error) {
	spec := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(r.Spec) > 0 {
		n, err := yamlNode(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("decode spec: %w", err)
		}
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("spec is not an object")
		}
		spec = n
	}
	field := func(name string) int {
		for i := 0; i+1 < len(spec.Content); i += 2 {
			if spec.Content[i].Value == name {
				return i
			}
		}
		return -1
	}
	if key == "" {
		for _, k := range []string{"name", "id"} {
			if field(k) >= 0 {
				key = k
				break
			}
		}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	doc.Content = append(doc.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "kind"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: r.Kind})
	keyAt := -1
	if key != "" {
		keyAt = field(key)
	}
	if keyAt >= 0 {
		doc.Content = append(doc.Content, spec.Content[keyAt], spec.Content[keyAt+1])
	}
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if i == keyAt || spec.Content[i].Value == "kind" {
			continue
		}
		doc.Content = append(doc.Content, spec.Content[i], spec.Content[i+1])
	}
	return doc, nil
}

func (a *app) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete KIND NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a resource",
		Example: "  corral delete secret db-password",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			kind, err := resolveKind(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteResource(ctx, kind.Kind, args[1]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s/%s deleted\n", strings.ToLower(kind.Kind), args[1])
			return err
		},
	}
}
