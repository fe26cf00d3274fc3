package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/template"

	"corral/internal/api"
)

// templateSpec is `template: {path, source | content, vars, mode, owner,
// group, backup, sensitive}`: a file rendered from a Go text/template stored
// with the role (source) or written inline (content).
type templateSpec struct {
	fileCommon
	Source  string         `json:"source"`
	Content *string        `json:"content"`
	Vars    map[string]any `json:"vars"`
}

func decodeTemplate(props json.RawMessage) (Provider, error) {
	var s templateSpec
	if err := strictDecode(props, &s); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	switch {
	case s.Content != nil && s.Source != "":
		return nil, fieldErr("source", "give source or content, not both")
	case s.Content == nil && s.Source == "":
		return nil, fieldErr("source", "is required (or content)")
	}
	return &s, nil
}

func (s *templateSpec) Name() string { return s.Path }

// TemplateData is what a template sees as dot.
type TemplateData struct {
	Node       NodeInfo
	Facts      api.Facts
	Attributes map[string]any
	// Vars are the template resource's own vars.
	Vars map[string]any
}

func (s *templateSpec) Check(ctx context.Context, e *Env) (Plan, error) {
	name, text := s.Source, ""
	if s.Content != nil {
		name, text = s.Path, *s.Content
	} else {
		b, ok := e.Sources[s.Source]
		if !ok {
			return Plan{}, fmt.Errorf("source %q is not among the role's files", s.Source)
		}
		text = string(b)
	}
	out, usedSecret, err := e.Render(name, text, s.Vars)
	if err != nil {
		return Plan{}, err
	}
	m, err := e.resolveMeta(s.Mode, s.Owner, s.Group)
	if err != nil {
		return Plan{}, err
	}
	return e.planFile(s.Path, out, true, m, s.keep(), s.Sensitive || usedSecret)
}

// Render executes a template named name (errors carry "name:LINE") with the
// node's data and the functions secret, nodes, join, split, lower, upper,
// trim, replace, default and json. It reports whether a secret was used.
// A key missing from a map is an error, not "<no value>".
func (e *Env) Render(name, text string, vars map[string]any) ([]byte, bool, error) {
	usedSecret := false
	funcs := template.FuncMap{
		"secret": func(n string) (string, error) {
			usedSecret = true
			return e.secret(n)
		},
		"nodes": func(selector string) ([]NodeInfo, error) {
			if e.Nodes == nil {
				return nil, fmt.Errorf("nodes %q: no cluster information here", selector)
			}
			list, err := e.Nodes(selector)
			if err != nil {
				return nil, fmt.Errorf("nodes %q: %w", selector, err)
			}
			list = append([]NodeInfo(nil), list...)
			sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
			return list, nil
		},
		"join":    func(sep string, list []string) string { return strings.Join(list, sep) },
		"split":   func(sep, s string) []string { return strings.Split(s, sep) },
		"lower":   strings.ToLower,
		"upper":   strings.ToUpper,
		"trim":    strings.TrimSpace,
		"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"default": func(def, v any) any {
			if v == nil || v == "" {
				return def
			}
			return v
		},
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
	t, err := e.parse(name, text, funcs)
	if err != nil {
		return nil, false, fmt.Errorf("render %w", err)
	}
	if vars == nil {
		vars = map[string]any{}
	}
	attrs := e.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	var buf bytes.Buffer
	data := TemplateData{Node: e.Node, Facts: e.Facts, Attributes: attrs, Vars: vars}
	if err := t.Execute(&buf, data); err != nil {
		return nil, usedSecret, fmt.Errorf("render %w", err)
	}
	return buf.Bytes(), usedSecret, nil
}

// Selector is a parsed node selector: comma-separated terms, all of which
// must hold: "key=value", "key!=value", "key" (the label is set) and "!key"
// (it is not). "" selects every node. The key "name" matches the node's
// name when it has no label of that name.
type Selector []selTerm

type selTerm struct {
	key, value string
	op         string // "=", "!=", "exists", "!exists"
}

// ParseSelector parses a node selector.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var t selTerm
		switch {
		case strings.Contains(part, "!="):
			k, v, _ := strings.Cut(part, "!=")
			t = selTerm{strings.TrimSpace(k), strings.TrimSpace(v), "!="}
		case strings.Contains(part, "="):
			k, v, _ := strings.Cut(part, "=")
			t = selTerm{strings.TrimSpace(strings.TrimSuffix(k, "=")), strings.TrimSpace(strings.TrimPrefix(v, "=")), "="}
		case strings.HasPrefix(part, "!"):
			t = selTerm{strings.TrimSpace(part[1:]), "", "!exists"}
		default:
			t = selTerm{part, "", "exists"}
		}
		if t.key == "" {
			return nil, fmt.Errorf("selector %q: term %q has no key", s, part)
		}
		sel = append(sel, t)
	}
	return sel, nil
}

// Match reports whether a node matches every term.
func (s Selector) Match(n NodeInfo) bool {
	for _, t := range s {
		v, ok := n.Labels[t.key]
		if !ok && t.key == "name" {
			v, ok = n.Name, true
		}
		switch t.op {
		case "=":
			if !ok || v != t.value {
				return false
			}
		case "!=":
			if ok && v == t.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}

// NodesFrom returns an Env.Nodes that selects from a fixed list.
func NodesFrom(nodes []NodeInfo) func(selector string) ([]NodeInfo, error) {
	return func(selector string) ([]NodeInfo, error) {
		sel, err := ParseSelector(selector)
		if err != nil {
			return nil, err
		}
		var out []NodeInfo
		for _, n := range nodes {
			if sel.Match(n) {
				out = append(out, n)
			}
		}
		return out, nil
	}
}

// parsedKey identifies a parsed template.
type parsedKey struct{ name, text string }

// templateCache keeps the templates parsed in the last run and this one,
// so that an unchanged template is parsed once, not on every run.
type templateCache struct {
	mu         sync.Mutex
	prev, used map[parsedKey]*template.Template
}

// rotate starts a run: what the last run did not use is dropped.
func (c *templateCache) rotate() {
	c.mu.Lock()
	c.prev, c.used = c.used, map[parsedKey]*template.Template{}
	c.mu.Unlock()
}

// parse returns the template for text with funcs bound, parsed once per
// runner while it stays in use.
func (e *Env) parse(name, text string, funcs template.FuncMap) (*template.Template, error) {
	var c *templateCache
	if e.run != nil {
		c = e.run.templates
	}
	if c == nil {
		return template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	}
	k := parsedKey{name, text}
	c.mu.Lock()
	t, ok := c.used[k]
	if !ok {
		if t, ok = c.prev[k]; ok {
			c.used[k] = t
		}
	}
	c.mu.Unlock()
	if !ok {
		var err error
		if t, err = template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.used[k] = t
		c.mu.Unlock()
	}
	// The functions are bound to this render: a clone gets its own.
	clone, err := t.Clone()
	if err != nil {
		return nil, err
	}
	return clone.Funcs(funcs), nil
}
