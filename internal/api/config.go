package api

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// RoleSpec is `kind: Role`: attributes and an ordered list of resources
// (each a one-key map, `- file: {path: ..., ...}`) that the agents of the
// nodes holding the role converge. Files are the files stored with the
// role, by the name a resource's `source:` gives (the CLI reads them from
// next to the manifest, or its templates/ and files/ folders).
type RoleSpec struct {
	Name        string                       `json:"name"`
	Description string                       `json:"description,omitempty"`
	Attributes  map[string]any               `json:"attributes,omitempty"`
	Resources   []map[string]json.RawMessage `json:"resources"`
	Files       map[string]string            `json:"files,omitempty"`
}

// maxRoleFiles bounds the files stored with one role.
const maxRoleFiles = 1 << 20

// Validate checks a RoleSpec's shape; the server decodes the resources
// themselves (errors read `resources[3].file.mode: ...`).
func (r *RoleSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(r.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	total := 0
	for name, body := range r.Files {
		if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
			fe.Add("files."+name, "must be a relative name inside the role")
		}
		total += len(body)
	}
	if total > maxRoleFiles {
		fe.Add("files", "hold %d bytes; at most %d may be stored with a role", total, maxRoleFiles)
	}
	for i, res := range r.Resources {
		if len(res) != 1 {
			fe.Add(fmt.Sprintf("resources[%d]", i), "must have exactly one key, the resource type (file, template, package, ...)")
		}
	}
	return fe
}

// EnvironmentSpec is `kind: Environment`: attributes that override the
// roles' for the nodes in the environment.
type EnvironmentSpec struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
}

// Validate checks an EnvironmentSpec.
func (e *EnvironmentSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(e.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	return fe
}

// NodeRolesSpec is `kind: NodeRoles`: the roles (in order) of the nodes
// whose labels match Selector, or of the one node Node. A node matched by
// several NodeRoles gets the union of their roles, in the order of the
// NodeRoles' names, per-node ones last. Attributes here are node
// attributes: precedence is role < environment < node.
type NodeRolesSpec struct {
	// Name defaults to "node.<node>" or to the selector ("role.web",
	// "env.prod_role.web").
	Name        string            `json:"name,omitempty"`
	Selector    map[string]string `json:"selector,omitempty"`
	Node        string            `json:"node,omitempty"`
	Roles       []string          `json:"roles"`
	Environment string            `json:"environment,omitempty"`
	Attributes  map[string]any    `json:"attributes,omitempty"`
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// DefaultName fills in the default name and returns it.
func (n *NodeRolesSpec) DefaultName() string {
	if n.Name != "" {
		return n.Name
	}
	switch {
	case n.Node != "":
		n.Name = "node." + n.Node
	case len(n.Selector) > 0:
		keys := make([]string, 0, len(n.Selector))
		for k := range n.Selector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = nameUnsafe.ReplaceAllString(k, "-") + "." + nameUnsafe.ReplaceAllString(n.Selector[k], "-")
		}
		n.Name = strings.Trim(strings.Join(parts, "_"), "._-")
		if len(n.Name) > 64 {
			n.Name = strings.Trim(n.Name[:64], "._-")
		}
	}
	return n.Name
}

// Validate checks a NodeRolesSpec.
func (n *NodeRolesSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(n.Name) {
		fe.Add("name", "must be %s (or give selector or node)", NameRule)
	}
	if (n.Node == "") == (len(n.Selector) == 0) {
		fe.Add("selector", "exactly one of selector (node labels) or node is required")
	}
	if n.Node != "" && !ValidName(n.Node) {
		fe.Add("node", "must be %s", NameRule)
	}
	if len(n.Roles) == 0 {
		fe.Add("roles", "is required (a list of role names)")
	}
	for i, r := range n.Roles {
		if !ValidName(r) {
			fe.Add(fmt.Sprintf("roles[%d]", i), "must be %s", NameRule)
		}
	}
	if n.Environment != "" && !ValidName(n.Environment) {
		fe.Add("environment", "must be %s", NameRule)
	}
	return fe
}

// Catalog is what one node converges, computed by the server from the
// Roles, Environments and NodeRoles that apply to it and handed to its agent
// as the assignment CatalogAssignKey. Secret values are not in it: the
// agent fetches the ones named in Secrets over its channel
// (POST /agent/v1/secrets).
type Catalog struct {
	Node        string   `json:"node"`
	Roles       []string `json:"roles"` // the resolved run list, in order
	Environment string   `json:"environment,omitempty"`
	// Attributes are merged: each role in run-list order, then the
	// environment, then the node's (NodeRoles attributes).
	Attributes map[string]any    `json:"attributes,omitempty"`
	Resources  []CatalogResource `json:"resources"`
	// Files are the roles' stored files by "<role>/<name>"; the server
	// rewrites each resource's source to that name.
	Files map[string]string `json:"files,omitempty"`
	// Secrets are the secrets the resources and files use, name → version
	// of the Secret resource (a new version makes the agent fetch again).
	Secrets map[string]int64 `json:"secrets,omitempty"`
	// NodesDigest is set when a resource needs the cluster's nodes (hosts,
	// or a template calling nodes): it names the node list the catalog was
	// built with, which every agent holds once, in the shared assignment
	// CatalogNodesAssignKey (not a copy in each node's catalog).
	NodesDigest string `json:"nodes_digest,omitempty"`
	// Hash identifies everything above; an agent converges when it changes.
	Hash string `json:"hash"`
}

// CatalogResource is one resource of a catalog and the role it came from.
type CatalogResource struct {
	Role     string                     `json:"role"`
	Resource map[string]json.RawMessage `json:"resource"`
}

// CatalogNode is what templates and the hosts resource know of a node.
type CatalogNode struct {
	Name      string            `json:"name"`
	Hostname  string            `json:"hostname"`
	PrivateIP string            `json:"private_ip"`
	Aliases   []string          `json:"aliases,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Assignment keys of configuration management (see Assignment.Key).
const (
	// CatalogAssignKey holds the node's Catalog.
	CatalogAssignKey = "config/catalog"
	// ConvergeRunAssignKey holds the last ConvergeRequest for the node.
	ConvergeRunAssignKey = "config/run"
	// CatalogNodesAssignKey holds the cluster's CatalogNodes, shared by
	// every node.
	CatalogNodesAssignKey = "config/nodes"
)

// CatalogNodes is the cluster's node list as catalogs use it, sorted by
// name; Digest is what a Catalog's NodesDigest names.
type CatalogNodes struct {
	Digest string        `json:"digest"`
	Nodes  []CatalogNode `json:"nodes"`
}

// ConvergeRequest asks nodes for a run now (`corral converge --now`) or a
// dry run (`--dry-run`). Agents remember the nonces they handled.
type ConvergeRequest struct {
	Nonce  string    `json:"nonce"`
	DryRun bool      `json:"dry_run,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}

// ConvergeTrigger is the body of POST /api/v1/converge: the nodes (Node, or
// Selector over labels, or every node when both are empty) to run now.
type ConvergeTrigger struct {
	Node     string `json:"node,omitempty"`
	Selector string `json:"selector,omitempty"` // "role=web,env=prod"
	DryRun   bool   `json:"dry_run,omitempty"`
}

// ConvergeTriggered answers a ConvergeTrigger: the reports of these nodes
// will carry Nonce (GET /api/v1/reports?nonce=...).
type ConvergeTriggered struct {
	Nonce string   `json:"nonce"`
	Nodes []string `json:"nodes"`
}

// SecretsRequest is the body of POST /agent/v1/secrets; the answer is a
// SecretsResponse with the values of those of Names the node's catalog
// uses (others are refused).
type SecretsRequest struct {
	Names []string `json:"names"`
}

// SecretsResponse carries secret values to an agent.
type SecretsResponse struct {
	Values map[string]string `json:"values"`
}

// NodeRolesView is GET /api/v1/nodes/{name}/roles: the node's resolved run
// list and attributes and where they came from.
type NodeRolesView struct {
	Node        string         `json:"node"`
	Roles       []string       `json:"roles"`
	Environment string         `json:"environment,omitempty"`
	Attributes  map[string]any `json:"attributes"`
	// MatchedBy names the NodeRoles that apply to the node.
	MatchedBy   []string `json:"matched_by"`
	Resources   int      `json:"resources"`
	Secrets     []string `json:"secrets,omitempty"`
	CatalogHash string   `json:"catalog_hash,omitempty"`
	// Errors are why a role could not be used (missing, bad resource).
	Errors []string `json:"errors,omitempty"`
}

// ResourceStatus is how a resource came out of a converge run.
type ResourceStatus string

// Statuses of a resource in a converge report.
const (
	StatusUpToDate ResourceStatus = "up-to-date" // nothing to change
	StatusChanged  ResourceStatus = "changed"    // changed (or, dry, would change)
	StatusFailed   ResourceStatus = "failed"
	StatusSkipped  ResourceStatus = "skipped" // not looked at: an earlier resource failed
)

// ResourceResult is one resource (or one delayed notification) in a
// converge report.
type ResourceResult struct {
	Type string `json:"type"`
	Name string `json:"name"`
	// Action is the notification's action ("restart") for notifications.
	Action   string         `json:"action,omitempty"`
	Status   ResourceStatus `json:"status"`
	Diff     string         `json:"diff,omitempty"`
	Note     string         `json:"note,omitempty"`
	Error    string         `json:"error,omitempty"`
	Ignored  bool           `json:"ignored,omitempty"` // failed with ignore_failure
	Duration time.Duration  `json:"duration"`
}

// ConvergeTotals counts the resources of a report by status.
type ConvergeTotals struct {
	UpToDate int `json:"up_to_date"`
	Changed  int `json:"changed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// ConvergeReport is what one converge run did (or, dry, would do). Agents
// send them as "converge" reports; the server keeps them in the history
// store (GET /api/v1/reports).
type ConvergeReport struct {
	// ID is unique per run ("<node>-<unix nanos>"); Node, Trigger ("start",
	// "change", "interval", "manual", "drift"), Nonce (of a
	// ConvergeRequest), CatalogHash and Roles are set by the agent.
	ID          string   `json:"id,omitempty"`
	Node        string   `json:"node,omitempty"`
	Trigger     string   `json:"trigger,omitempty"`
	Nonce       string   `json:"nonce,omitempty"`
	CatalogHash string   `json:"catalog_hash,omitempty"`
	Roles       []string `json:"roles,omitempty"`

	Started       time.Time        `json:"started"`
	Duration      time.Duration    `json:"duration"`
	DryRun        bool             `json:"dry_run,omitempty"`
	Resources     []ResourceResult `json:"resources"`
	Notifications []ResourceResult `json:"notifications,omitempty"`
	Totals        ConvergeTotals   `json:"totals"`
	// Error says why the run stopped early or what failed at its end; "" when
	// every resource and notification converged (ignored failures aside).
	Error string `json:"error,omitempty"`
}

// Failed reports whether the run did not converge.
func (r *ConvergeReport) Failed() bool { return r.Error != "" }

// WriteText writes the report for people: a summary line, then every
// resource that did not stay up to date (all of them when verbose) with
// its diff indented, the notifications and the error.
func (r *ConvergeReport) WriteText(w io.Writer, verbose bool) error {
	var b strings.Builder
	dry := ""
	if r.DryRun {
		dry = " (dry run: nothing was changed)"
	}
	who := ""
	if r.Node != "" {
		who = " on " + r.Node
	}
	fmt.Fprintf(&b, "converge%s %s, %s%s: %d changed, %d up to date, %d failed, %d skipped\n",
		who, r.Started.UTC().Format(time.RFC3339), r.Duration.Round(time.Millisecond), dry,
		r.Totals.Changed, r.Totals.UpToDate, r.Totals.Failed, r.Totals.Skipped)
	line := func(rr ResourceResult) {
		name := rr.Type + "[" + rr.Name + "]"
		if rr.Action != "" {
			name = rr.Action + " " + name
		}
		fmt.Fprintf(&b, "  %-10s %s (%s)", rr.Status, name, rr.Duration.Round(time.Millisecond))
		if rr.Note != "" {
			fmt.Fprintf(&b, " %s", rr.Note)
		}
		if rr.Ignored {
			b.WriteString(" (failure ignored)")
		}
		b.WriteString("\n")
		if rr.Error != "" {
			b.WriteString(indentLines(rr.Error, "      error: ", "      "))
		}
		if rr.Diff != "" && rr.Status != StatusUpToDate {
			b.WriteString(indentLines(rr.Diff, "      ", "      "))
		}
	}
	for _, rr := range r.Resources {
		if verbose || rr.Status != StatusUpToDate {
			line(rr)
		}
	}
	if len(r.Notifications) > 0 {
		b.WriteString("notifications:\n")
		for _, rr := range r.Notifications {
			line(rr)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// indentLines prefixes the first line of s with first and the others with
// rest.
func indentLines(s, first, rest string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString(first)
		} else {
			b.WriteString(rest)
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}
