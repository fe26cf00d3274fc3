package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"corral/internal/client"
)

// show is the body of a command that fetches one value and prints it: it
// gets the API client, calls fetch with the command's context, and prints
// the value as emit does, table writing the table. A nil slice prints as []
// in JSON and YAML.
func show[T any](a *app, cmd *cobra.Command, fetch func(ctx context.Context, c *client.Client) (T, error), table func(w io.Writer, v T)) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	v, err := fetch(cmd.Context(), c)
	if err != nil {
		return err
	}
	v = orEmpty(v)
	return a.emit(v, func(w io.Writer) error {
		table(w, v)
		return nil
	})
}

// act is the body of a command that changes one thing and says so: it gets
// the API client, calls change with the command's context and, when that
// succeeds, prints done as a line.
func act(a *app, cmd *cobra.Command, change func(ctx context.Context, c *client.Client) error, done string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := change(cmd.Context(), c); err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, done)
	return err
}

// orEmpty returns v, or an empty slice of its type when v is a nil slice.
func orEmpty[T any](v T) T {
	if rv := reflect.ValueOf(&v).Elem(); rv.Kind() == reflect.Slice && rv.IsNil() {
		rv.Set(reflect.MakeSlice(rv.Type(), 0, 0))
	}
	return v
}

// emit prints v as JSON or YAML when -o asks for it, else calls table with a
// tabwriter.
func (a *app) emit(v any, table func(w io.Writer) error) error {
	switch a.output {
	case "json":
		return writeJSON(a.stdout, v)
	case "yaml":
		return writeYAML(a.stdout, v)
	}
	tw := newTable(a.stdout)
	if err := table(tw); err != nil {
		return err
	}
	return tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated table row.
func row(w io.Writer, cols ...string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeYAML writes v as YAML with its JSON field names, in their JSON
// order (through JSON, so the api types' json tags apply).
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	n, err := yamlNode(b)
	if err != nil {
		return err
	}
	return encodeYAML(w, n)
}

func encodeYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

// yamlNode turns one JSON value into a YAML node, keeping the order of
// object keys and the text of numbers.
func yamlNode(b []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return nextYAMLNode(dec)
}

func nextYAMLNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if t == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := k.(string)
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key})
			}
			v, err := nextYAMLNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		var n yaml.Node
		if err := n.Encode(t); err != nil {
			return nil, err
		}
		return &n, nil
	case json.Number:
		tag := "!!float"
		if _, err := t.Int64(); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
}

// ago says how long before now t was, as span does.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return span(now.Sub(t))
}

// until says how long after now t is: "in 5h", "never" or "expired".
func until(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	if !now.Before(*t) {
		return "expired"
	}
	return "in " + span(t.Sub(now))
}

// span formats a duration coarsely: "45s", "12m", "1h59m", "15h", "3d".
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 10*time.Hour && d%time.Hour >= time.Minute:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// stamp formats a time for tables, in the local zone.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// bytesIEC formats a byte count: "512 B", "1.5 KiB", "15.6 GiB".
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// labels formats labels as "k=v,k2=v2", sorted, or "-".
func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// dash returns s, or "-" when it is empty (tables need a value per column).
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
