package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sort"
	"strings"

	"corral/internal/api"
)

// Markers of the block the hosts resource manages.
const (
	hostsBegin = "# BEGIN corral managed hosts (changes here are overwritten)"
	hostsEnd   = "# END corral managed hosts"
)

// hostsSpec is `hosts: {path, selector, extra}`: a managed block in
// /etc/hosts with a line for every node that has a private IP (the nodes
// matching selector; all by default): "IP hostname name aliases...", and
// the extra entries. The rest of the file is left as it is.
type hostsSpec struct {
	File     string       `json:"path"`
	Selector string       `json:"selector"`
	Extra    []HostsEntry `json:"extra"`
}

// HostsEntry is an extra line of the managed hosts block.
type HostsEntry struct {
	IP    string   `json:"ip"`
	Names []string `json:"names"`
}

func decodeHosts(props json.RawMessage) (Provider, error) {
	var s hostsSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if s.File == "" {
		s.File = "/etc/hosts"
	}
	if err := absPath("path", s.File); err != nil {
		return nil, err
	}
	if _, err := ParseSelector(s.Selector); err != nil {
		return nil, fieldErr("selector", "%v", err)
	}
	for i, x := range s.Extra {
		if _, err := netip.ParseAddr(x.IP); err != nil {
			return nil, fieldErr(fmt.Sprintf("extra[%d].ip", i), "%q is not an IP address", x.IP)
		}
		if len(x.Names) == 0 {
			return nil, fieldErr(fmt.Sprintf("extra[%d].names", i), "is required")
		}
		for _, n := range x.Names {
			if n == "" || strings.ContainsAny(n, " \t\n#") {
				return nil, fieldErr(fmt.Sprintf("extra[%d].names", i), "%q is not a host name", n)
			}
		}
	}
	return &s, nil
}

func (s *hostsSpec) Name() string { return s.File }

// HostsBlock returns the managed block (with its markers) for nodes, in
// the order given, and extra entries.
func HostsBlock(nodes []NodeInfo, extra []HostsEntry) string {
	var b strings.Builder
	b.WriteString(hostsBegin + "\n")
	for _, n := range nodes {
		if n.PrivateIP == "" {
			continue
		}
		var names []string
		seen := map[string]bool{}
		for _, x := range append([]string{n.Hostname, n.Name}, n.Aliases...) {
			if x != "" && !seen[x] && !strings.ContainsAny(x, " \t\n#") {
				seen[x] = true
				names = append(names, x)
			}
		}
		if len(names) > 0 {
			b.WriteString(n.PrivateIP + "\t" + strings.Join(names, " ") + "\n")
		}
	}
	for _, x := range extra {
		b.WriteString(x.IP + "\t" + strings.Join(x.Names, " ") + "\n")
	}
	b.WriteString(hostsEnd + "\n")
	return b.String()
}

// replaceBlock puts block in place of the managed block of content, or at
// its end.
func replaceBlock(content, block string) string {
	start := strings.Index(content, hostsBegin)
	if start >= 0 && (start == 0 || content[start-1] == '\n') {
		if end := strings.Index(content[start:], hostsEnd); end >= 0 {
			end += start + len(hostsEnd)
			if end < len(content) && content[end] == '\n' {
				end++
			}
			return content[:start] + block + content[end:]
		}
	}
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return content + block
}

func (s *hostsSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	if e.Nodes == nil {
		return Plan{}, errors.New("no cluster information here (Env.Nodes)")
	}
	nodes, err := e.Nodes(s.Selector)
	if err != nil {
		return Plan{}, fmt.Errorf("nodes %q: %w", s.Selector, err)
	}
	nodes = append([]NodeInfo(nil), nodes...)
	sortNodes(nodes)
	old, err := os.ReadFile(e.Path(s.File))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Plan{}, fmt.Errorf("read %s: %w", s.File, err)
	}
	want := replaceBlock(string(old), HostsBlock(nodes, s.Extra))
	if bytes.Equal(old, []byte(want)) {
		return Plan{}, nil
	}
	return e.planFile(s.File, []byte(want), true, meta{uid: -1, gid: -1}, defaultBackups, false)
}

func sortNodes(n []NodeInfo) {
	sort.Slice(n, func(i, j int) bool { return n[i].Name < n[j].Name })
}

// AliasesLabel is the node label whose value (names separated by commas or
// spaces) gives a node's host aliases.
const AliasesLabel = "aliases"

// NodeInfoFrom is what templates and hosts know of an API node: its name,
// facts' hostname and private IP, labels, and the aliases of its
// AliasesLabel label.
func NodeInfoFrom(n api.Node) NodeInfo {
	return NodeInfo{
		Name:      n.Name,
		Hostname:  n.Facts.Hostname,
		PrivateIP: n.Facts.PrivateIP,
		Aliases: strings.FieldsFunc(n.Labels[AliasesLabel], func(r rune) bool {
			return r == ',' || r == ' '
		}),
		Labels: n.Labels,
	}
}
