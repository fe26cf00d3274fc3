package converge

// Catalogs: what one node converges, built from the Roles, Environments,
// NodeRoles and Secrets of the cluster and its nodes. Pure: the server
// reads the specs from its store and writes the result to the node's
// assignment.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"corral/internal/api"
)

// CatalogInput is the cluster state catalogs are built from.
type CatalogInput struct {
	Roles        map[string]api.RoleSpec
	Environments map[string]api.EnvironmentSpec
	NodeRoles    []api.NodeRolesSpec
	// Secrets are the existing Secret resources: name → version (any
	// number that changes when the value does).
	Secrets map[string]int64
	// Nodes are every registered node, with their effective labels.
	Nodes []NodeInfo
}

// Catalogs builds the catalogs of many nodes from one CatalogInput: the
// roles are decoded and prepared once, not once per node. It is safe for
// concurrent use once built.
type Catalogs struct {
	in     CatalogInput
	roles  map[string]*preparedRole
	byName map[string]NodeInfo
	nodes  []api.CatalogNode // every node, by name
	// nodesDigest is the sha256 of nodes' JSON: what catalogs that need
	// the nodes carry instead of the list.
	nodesDigest string
	selectors   []api.NodeRolesSpec // NodeRoles with a selector, by name
	perNode     map[string][]api.NodeRolesSpec
}

// preparedRole is a role ready to go into catalogs: its resources with
// sources renamed to "<role>/<name>", the files they use, the secrets they
// name and whether they need the cluster's nodes.
type preparedRole struct {
	resources  []api.CatalogResource
	ids        []string // "type[name]" of each resource
	files      map[string]string
	secrets    []string
	needsNodes bool
	err        error // why the role cannot be used
}

// BuildCatalog returns the catalog of node and the view of how it was
// resolved. ok is false when the node holds no role (or is not among
// in.Nodes): it gets no catalog. See Catalogs.Build.
func BuildCatalog(in CatalogInput, node string) (cat api.Catalog, view api.NodeRolesView, ok bool) {
	return NewCatalogs(in).Build(node)
}

// NewCatalogs prepares in for building the catalogs of its nodes.
func NewCatalogs(in CatalogInput) *Catalogs {
	c := &Catalogs{in: in, roles: make(map[string]*preparedRole, len(in.Roles)),
		byName: make(map[string]NodeInfo, len(in.Nodes)), perNode: map[string][]api.NodeRolesSpec{}}
	for name, spec := range in.Roles {
		c.roles[name] = prepareRole(name, spec)
	}
	for _, n := range in.Nodes {
		c.byName[n.Name] = n
	}
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	c.nodes = make([]api.CatalogNode, 0, len(names))
	for _, n := range names {
		ni := c.byName[n]
		c.nodes = append(c.nodes, api.CatalogNode{Name: ni.Name, Hostname: ni.Hostname, PrivateIP: ni.PrivateIP,
			Aliases: ni.Aliases, Labels: ni.Labels})
	}
	nodesJSON, _ := json.Marshal(c.nodes)
	sum := sha256.Sum256(nodesJSON)
	c.nodesDigest = hex.EncodeToString(sum[:])
	for _, nr := range in.NodeRoles {
		nr.DefaultName()
		if nr.Node != "" {
			c.perNode[nr.Node] = append(c.perNode[nr.Node], nr)
		} else {
			c.selectors = append(c.selectors, nr)
		}
	}
	byNRName := func(list []api.NodeRolesSpec) {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	byNRName(c.selectors)
	for _, l := range c.perNode {
		byNRName(l)
	}
	return c
}

// Nodes returns every node as catalogs use them (sorted by name) and
// their digest, which the catalogs that need them carry: the shared
// assignment api.CatalogNodesAssignKey.
func (c *Catalogs) Nodes() api.CatalogNodes {
	return api.CatalogNodes{Digest: c.nodesDigest, Nodes: c.nodes}
}

// NodesDigest identifies Nodes: what of the nodes can change a catalog.
func (c *Catalogs) NodesDigest() string { return c.nodesDigest }

// Build returns the catalog of node and how it was resolved:
//
//   - the run list is the union of the roles of every NodeRoles matching
//     the node (selectors over its labels, in the order of the NodeRoles'
//     names, then the ones naming the node), each role once, first place
//     kept;
//   - attributes are deep-merged: each role in run-list order, then the
//     environment (the last one a matching NodeRoles names), then the
//     NodeRoles' attributes in the same order (role < environment < node);
//   - a missing or unusable role is listed in view.Errors and left out; the
//     rest is built;
//   - resources keep the run-list order; a resource (type[name]) already
//     given by an earlier role is left out (an error when it differs);
//   - Files are the stored files the resources use, as "<role>/<name>";
//     Secrets are the secrets named by `secret "NAME"` in the resources and
//     the templates they use, with their versions; NodesDigest names the
//     shared node list (Nodes) only when a hosts resource or a template
//     calling nodes needs it;
//   - Hash identifies all of it and is stable across map orders.
//
// ok is false when the node holds no role: it gets no catalog.
func (c *Catalogs) Build(node string) (cat api.Catalog, view api.NodeRolesView, ok bool) {
	view = api.NodeRolesView{Node: node, Roles: []string{}, Attributes: map[string]any{}, MatchedBy: []string{}}
	info, known := c.byName[node]
	if !known {
		view.Errors = append(view.Errors, fmt.Sprintf("node %q is not registered", node))
		return api.Catalog{}, view, false
	}
	var matched []api.NodeRolesSpec
	for _, nr := range c.selectors {
		if selectorOf(nr.Selector).Match(info) {
			matched = append(matched, nr)
		}
	}
	matched = append(matched, c.perNode[node]...)

	var runList []string
	seen := map[string]bool{}
	env := ""
	for _, nr := range matched {
		view.MatchedBy = append(view.MatchedBy, nr.Name)
		for _, r := range nr.Roles {
			if !seen[r] {
				seen[r] = true
				runList = append(runList, r)
			}
		}
		if nr.Environment != "" {
			env = nr.Environment
		}
	}
	cat = api.Catalog{Node: node, Roles: []string{}, Environment: env, Resources: []api.CatalogResource{}}
	attrs := map[string]any{}
	files := map[string]string{}
	secretNames := map[string]bool{}
	ids := map[string]int{} // resource id → index in cat.Resources
	needsNodes := false
	for _, r := range runList {
		spec, exists := c.in.Roles[r]
		if !exists {
			view.Errors = append(view.Errors, fmt.Sprintf("role %q does not exist", r))
			continue
		}
		p := c.roles[r]
		if p.err != nil {
			view.Errors = append(view.Errors, fmt.Sprintf("role %q: %v", r, p.err))
			continue
		}
		cat.Roles = append(cat.Roles, r)
		mergeAttrs(attrs, spec.Attributes)
		for i, res := range p.resources {
			if j, dup := ids[p.ids[i]]; dup {
				prev := cat.Resources[j]
				if !sameResource(prev.Resource, res.Resource) {
					view.Errors = append(view.Errors, fmt.Sprintf("role %q: %s is also in role %q, with other properties: %s's is used",
						r, p.ids[i], prev.Role, prev.Role))
				}
				continue
			}
			ids[p.ids[i]] = len(cat.Resources)
			cat.Resources = append(cat.Resources, res)
		}
		for k, v := range p.files {
			files[k] = v
		}
		for _, s := range p.secrets {
			secretNames[s] = true
		}
		needsNodes = needsNodes || p.needsNodes
	}
	if env != "" {
		if e, exists := c.in.Environments[env]; exists {
			mergeAttrs(attrs, e.Attributes)
		} else {
			view.Errors = append(view.Errors, fmt.Sprintf("environment %q does not exist", env))
		}
	}
	for _, nr := range matched {
		mergeAttrs(attrs, nr.Attributes)
	}
	if len(attrs) > 0 {
		cat.Attributes = attrs
	}
	if len(files) > 0 {
		cat.Files = files
	}
	names := make([]string, 0, len(secretNames))
	for s := range secretNames {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		v, exists := c.in.Secrets[s]
		if !exists {
			view.Errors = append(view.Errors, fmt.Sprintf("secret %q is used but does not exist", s))
			continue
		}
		if cat.Secrets == nil {
			cat.Secrets = map[string]int64{}
		}
		cat.Secrets[s] = v
		view.Secrets = append(view.Secrets, s)
	}
	if needsNodes {
		cat.NodesDigest = c.nodesDigest
	}
	view.Roles = cat.Roles
	view.Environment = env
	view.Attributes = attrs
	view.Resources = len(cat.Resources)
	if len(cat.Roles) == 0 {
		return api.Catalog{}, view, false
	}
	cat.Hash = CatalogHash(cat)
	view.CatalogHash = cat.Hash
	return cat, view, true
}

// CatalogHash returns the Hash of a catalog (its Hash field aside): a
// sha256 of its JSON (maps marshal with sorted keys; the node list counts
// by its digest).
func CatalogHash(cat api.Catalog) string {
	cat.Hash = ""
	b, _ := json.Marshal(cat)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// selectorOf turns a NodeRoles selector (labels that must all equal) into
// a Selector.
func selectorOf(m map[string]string) Selector {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sel := make(Selector, 0, len(keys))
	for _, k := range keys {
		sel = append(sel, selTerm{key: k, value: m[k], op: "="})
	}
	return sel
}

func sameResource(a, b map[string]json.RawMessage) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// mergeAttrs deep-merges src into dst: maps merge key by key, anything
// else (lists too) replaces. dst never shares a map with src.
func mergeAttrs(dst, src map[string]any) {
	for k, v := range src {
		sm, isMap := v.(map[string]any)
		dm, dstMap := dst[k].(map[string]any)
		if isMap && dstMap {
			mergeAttrs(dm, sm)
			continue
		}
		dst[k] = copyValue(v)
	}
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = copyValue(e)
		}
		return l
	}
	return v
}

var (
	// secretCall finds `secret "NAME"` (or a raw-quoted name).
	secretCall = regexp.MustCompile("\\bsecret\\s+(\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`)")
	// nodesCall finds a template action calling nodes.
	nodesCall = regexp.MustCompile(`(?s)\{\{[^}]*\bnodes\b`)
)

// secretNames returns the names of the secrets text calls.
func secretNames(text string, into map[string]bool) {
	for _, m := range secretCall.FindAllStringSubmatch(text, -1) {
		if name, err := strconv.Unquote(m[1]); err == nil && name != "" {
			into[name] = true
		}
	}
}

// walkStrings calls fn with every string in a decoded JSON value.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// sourced reports whether a resource type's source names a file stored
// with the role (a package's source is a path on the node).
func sourced(typ string) bool { return typ == "file" || typ == "template" }

func prepareRole(name string, spec api.RoleSpec) *preparedRole {
	p := &preparedRole{files: map[string]string{}}
	decoded, err := DecodeResources(spec.Resources)
	if err != nil {
		p.err = err
		return p
	}
	secrets := map[string]bool{}
	for i, m := range spec.Resources {
		for typ, props := range m {
			var fields map[string]any
			if err := json.Unmarshal(props, &fields); err != nil && len(props) > 0 && string(props) != "null" {
				p.err = fmt.Errorf("resources[%d].%s: must be a map of properties", i, typ)
				return p
			}
			walkStrings(fields, func(s string) { secretNames(s, secrets) })
			if typ == "hosts" {
				p.needsNodes = true
			}
			if typ == "template" {
				if content, ok := fields["content"].(string); ok && nodesCall.MatchString(content) {
					p.needsNodes = true
				}
			}
			res := map[string]json.RawMessage{typ: props}
			if src, ok := fields["source"].(string); ok && src != "" && sourced(typ) {
				body, stored := spec.Files[src]
				if !stored {
					p.err = fmt.Errorf("resources[%d].%s.source: %q is not among the role's files", i, typ, src)
					return p
				}
				renamed := name + "/" + src
				p.files[renamed] = body
				if typ == "template" {
					secretNames(body, secrets)
					if nodesCall.MatchString(body) {
						p.needsNodes = true
					}
				}
				fields["source"] = renamed
				b, err := json.Marshal(fields)
				if err != nil {
					p.err = fmt.Errorf("resources[%d].%s: %w", i, typ, err)
					return p
				}
				res[typ] = b
			}
			p.resources = append(p.resources, api.CatalogResource{Role: name, Resource: res})
			p.ids = append(p.ids, decoded[i].ID())
		}
	}
	for s := range secrets {
		p.secrets = append(p.secrets, s)
	}
	sort.Strings(p.secrets)
	return p
}

// templateStubs stand in for the functions Env.Render gives templates, so
// that a role's templates can be parsed where nothing is rendered.
func templateStubs() template.FuncMap {
	return template.FuncMap{
		"secret": func(string) (string, error) { return "", nil },
		"nodes":  func(string) ([]NodeInfo, error) { return nil, nil },
		"join":   func(string, []string) string { return "" },
		"split":  func(string, string) []string { return nil },
		"lower":  strings.ToLower, "upper": strings.ToUpper, "trim": strings.TrimSpace,
		"replace": func(string, string, string) string { return "" },
		"default": func(any, any) any { return nil },
		"json":    func(any) (string, error) { return "", nil },
	}
}

// ValidateRole checks what the shape of a RoleSpec cannot: every resource
// decodes (errors keyed "resources[3].file.mode"), every file and template
// source names one of the role's files, and every template parses (the
// error carries the template's line).
func ValidateRole(spec api.RoleSpec) api.FieldErrors {
	var fe api.FieldErrors
	if _, err := DecodeResources(spec.Resources); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			field, msg, found := strings.Cut(line, ": ")
			if !found || !strings.HasPrefix(field, "resources[") {
				field, msg = "resources", line
			}
			fe.Add(field, "%s", msg)
		}
	}
	for i, m := range spec.Resources {
		for typ, props := range m {
			if !sourced(typ) {
				continue
			}
			var fields map[string]any
			if json.Unmarshal(props, &fields) != nil {
				continue // DecodeResources said so
			}
			at := fmt.Sprintf("resources[%d].%s", i, typ)
			src, _ := fields["source"].(string)
			text, isText := "", false
			if src != "" {
				body, stored := spec.Files[src]
				if !stored {
					fe.Add(at+".source", "%q is not among the role's files (%s)", src, fileList(spec.Files))
					continue
				}
				text, isText = body, true
			} else if c, ok := fields["content"].(string); ok {
				text, isText = c, true
			}
			if typ != "template" || !isText {
				continue
			}
			name := src
			if name == "" {
				name, _ = fields["path"].(string)
			}
			if _, err := template.New(name).Funcs(templateStubs()).Parse(text); err != nil {
				field := at + ".content"
				if src != "" {
					field = at + ".source"
				}
				fe.Add(field, "%v", err)
			}
		}
	}
	return fe
}

func fileList(files map[string]string) string {
	if len(files) == 0 {
		return "the role has no files"
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return "have: " + strings.Join(names, ", ")
}
