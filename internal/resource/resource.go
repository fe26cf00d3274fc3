// Package resource is Corral's one generic resource interface: the registry of
// resource kinds (Secret, Check, Handler, Silence; App, Job, Role, LogInput...
// as features add them) and the strict decoding of a document into a kind's typed spec.
// It is imported by server (apply, get, delete) and by the CLI's manifest
// reader (for the fields it reads from files).
//
// A new kind is added by writing its spec type in package api (with Validate)
// and one entry in Builtin.
package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"corral/internal/api"
)

// Spec is a kind's typed spec.
type Spec interface {
	// Validate returns the field errors of the spec, keyed by field name.
	Validate() api.FieldErrors
}

// Normalizer is a Spec whose key has a canonical form (an app id gets its
// leading "/"); Normalize puts it in that form and returns it.
type Normalizer interface {
	Normalize() string
}

// Defaulter is a Spec that can name itself when the document does not
// (a NodeRoles is named after its selector).
type Defaulter interface {
	DefaultName() string
}

// Redactor is a Spec with secret fields, hidden in every output but an
// explicit admin reveal.
type Redactor interface {
	Redact()
}

// Kind describes one kind of resource.
type Kind struct {
	// Name is the kind as written in documents ("Secret").
	Name string
	// Key is the field naming a resource of this kind: "name" or "id".
	Key string
	// About is one line for `corral get --help` and /api/v1/kinds.
	About string
	// WriteRole may create, change and delete; ReadRole may read.
	WriteRole, ReadRole api.Role
	// Secret kinds are stored encrypted and redacted on read.
	Secret bool
	// Versioned kinds keep every stored version of a resource (rollback,
	// history): the store writes each version under its versions prefix.
	Versioned bool
	// FileFields maps a field `F_file` the CLI reads from a file (relative
	// to the manifest) to the field F it fills.
	FileFields map[string]string
	// New returns an empty spec to decode into.
	New func() Spec
}

// Info returns the API description of k.
func (k Kind) Info() api.KindInfo {
	return api.KindInfo{Kind: k.Name, Key: k.Key, WriteRole: k.WriteRole, Secret: k.Secret, About: k.About}
}

// Registry maps kind names to kinds.
type Registry map[string]Kind

// Builtin returns the kinds Corral knows. This is the one place where a kind
// is registered.
func Builtin() Registry {
	return Registry{
		"Secret": {
			Name: "Secret", Key: "name",
			About:     "a named value stored encrypted, referenced by name from other resources",
			WriteRole: api.RoleAdmin, ReadRole: api.RoleViewer,
			Secret:     true,
			FileFields: map[string]string{"value_file": "value"},
			New:        func() Spec { return &api.SecretSpec{} },
		},
		"Check": {
			Name: "Check", Key: "name",
			About:     "a check every subscribed node runs (command or builtin), or a ttl check fed by check-ins",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.CheckSpec{} },
		},
		"Handler": {
			Name: "Handler", Key: "name",
			About:     "where monitoring events go: pipe, webhook, slack, email, pagerduty or a set",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.HandlerSpec{} },
		},
		"App": {
			Name: "App", Key: "id",
			About:     "a long-running service kept at its instance count on the agents (Marathon's app); every change is a new version",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			Versioned: true,
			New:       func() Spec { return &api.AppSpec{} },
		},
		"Job": {
			Name: "Job", Key: "id",
			About:     "a command run to completion on an agent, on a cron schedule or on request (Metronome's job)",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			Versioned: true,
			New:       func() Spec { return &api.JobSpec{} },
		},
		"Role": {
			Name: "Role", Key: "name",
			About:     "attributes and resources (files, packages, services, users, cron, ...) converged by the agents of the nodes holding it (Chef's role); every change is a new version",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			Versioned: true,
			New:       func() Spec { return &api.RoleSpec{} },
		},
		"Environment": {
			Name: "Environment", Key: "name",
			About:     "attributes overriding the roles' for the nodes in it",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.EnvironmentSpec{} },
		},
		"NodeRoles": {
			Name: "NodeRoles", Key: "name",
			About:     "the roles, environment and node attributes of the nodes matching a label selector, or of one node",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.NodeRolesSpec{} },
		},
		"LogInput": {
			Name: "LogInput", Key: "name",
			About:     "log files the subscribed agents follow (rotation included), parse and ship to the log store",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.LogInputSpec{} },
		},
		"LogOutput": {
			Name: "LogOutput", Key: "name",
			About:     "where the server forwards the log entries matching a query: Elasticsearch/OpenSearch, Loki, Logstash or syslog (stored encrypted: it may hold credentials)",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			Secret: true,
			New:    func() Spec { return &api.LogOutputSpec{} },
		},
		"Silence": {
			Name: "Silence", Key: "name",
			About:     "stops handlers for events of a node, a check, a subscription or a combination, for a while",
			WriteRole: api.RoleOperator, ReadRole: api.RoleViewer,
			New: func() Spec { return &api.SilenceSpec{} },
		},
	}
}

// Lookup finds a kind by its name, case-insensitively, also in the plural
// ("secrets").
func (r Registry) Lookup(name string) (Kind, bool) {
	if k, ok := r[name]; ok {
		return k, true
	}
	low := strings.ToLower(name)
	for _, k := range r {
		n := strings.ToLower(k.Name)
		if low == n || low == n+"s" || low == n+"es" {
			return k, true
		}
	}
	return Kind{}, false
}

// Names returns the registered kind names, sorted.
func (r Registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Decoded is a document decoded into its kind.
type Decoded struct {
	Kind Kind
	Name string
	Spec Spec
	// Canonical is the spec marshalled back to JSON: the stored form, and
	// what changes are compared on.
	Canonical json.RawMessage
}

// Decode checks that body has a known kind and a key, decodes the rest
// strictly (unknown fields are errors) into the kind's spec and validates it.
// Errors are field errors keyed by field name ("kind", "name", "value").
func (r Registry) Decode(body map[string]any) (Decoded, api.FieldErrors) {
	var fe api.FieldErrors
	kindName, _ := body["kind"].(string)
	if kindName == "" {
		fe.Add("kind", "is required")
		return Decoded{}, fe
	}
	k, ok := r[kindName]
	if !ok {
		if alt, found := r.Lookup(kindName); found {
			fe.Add("kind", "unknown kind %q (did you mean %q?)", kindName, alt.Name)
		} else {
			fe.Add("kind", "unknown kind %q (known: %s)", kindName, strings.Join(r.Names(), ", "))
		}
		return Decoded{}, fe
	}
	rest := make(map[string]any, len(body))
	for key, v := range body {
		if key == "kind" {
			continue
		}
		if _, isFile := k.FileFields[key]; isFile {
			fe.Add(key, "must be read by the client (corral apply reads it into %s)", k.FileFields[key])
			continue
		}
		rest[key] = v
	}
	name, _ := body[k.Key].(string)
	raw, err := json.Marshal(rest)
	if err != nil {
		fe.Add("document", "cannot be encoded as JSON: %v", err)
		return Decoded{}, fe
	}
	spec := k.New()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		field, msg := jsonFieldError(err)
		fe.Add(field, "%s", msg)
		return Decoded{}, fe
	}
	if d, ok := spec.(Defaulter); ok && name == "" {
		name = d.DefaultName()
	}
	if name == "" {
		fe.Add(k.Key, "is required")
	}
	for f, m := range spec.Validate() {
		fe.Add(f, "%s", m)
	}
	if len(fe) > 0 {
		return Decoded{}, fe
	}
	if n, ok := spec.(Normalizer); ok {
		name = n.Normalize()
	}
	canon, err := json.Marshal(spec)
	if err != nil {
		fe.Add("document", "cannot be encoded as JSON: %v", err)
		return Decoded{}, fe
	}
	return Decoded{Kind: k, Name: name, Spec: spec, Canonical: canon}, nil
}

// jsonFieldError turns a json decoding error into a field and a message.
func jsonFieldError(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f == "" {
			f = "document"
		}
		return f, fmt.Sprintf("must be %s, not %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "json: unknown field "); ok {
		return strings.Trim(rest, `"`), "unknown field"
	}
	if i := strings.Index(s, "json: cannot unmarshal"); i >= 0 {
		return "document", s
	}
	return "document", strings.TrimPrefix(s, "json: ")
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "map", "struct":
		return "a mapping"
	}
	return goKind
}

// Redacted returns the canonical JSON of spec with its secret fields hidden,
// or spec unchanged for kinds without secrets.
func (k Kind) Redacted(canonical json.RawMessage) (json.RawMessage, error) {
	spec := k.New()
	if err := json.Unmarshal(canonical, spec); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", k.Name, err)
	}
	r, ok := spec.(Redactor)
	if !ok {
		return canonical, nil
	}
	r.Redact()
	return json.Marshal(spec)
}
