package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Resource is one entry of a node's resource list: a type ("file"), the name
// that identifies it among resources of that type (a file's path, a
// package's names, a service's name), its properties as written, the
// notifications it sends when it changes, whether a failure stops the run
// and, for resources that manage a path, what drift of it makes the agent do.
// Resources come from Kinds.Decode, which attaches the provider that
// converges them.
type Resource struct {
	Type          string          `json:"type"`
	Name          string          `json:"name"`
	Props         json.RawMessage `json:"props"`
	Notify        []Notification  `json:"notify,omitempty"`
	IgnoreFailure bool            `json:"ignore_failure,omitempty"`
	// Drift is what a change of the resource's path between runs makes the
	// agent do (repair by default); "" for resources without a path.
	Drift Drift `json:"drift,omitempty"`

	provider Provider
}

// ID is "type[name]", how reports and errors name a resource.
func (r Resource) ID() string { return r.Type + "[" + r.Name + "]" }

// Notification is "restart service nginx": when the notifying resource
// changes, Action is run on the resource of Type and Name once, at the end of
// the run.
type Notification struct {
	Action string `json:"action"`
	Type   string `json:"type"`
	Name   string `json:"name"`
}

// String is the notification as written: "restart service nginx".
func (n Notification) String() string { return n.Action + " " + n.Type + " " + n.Name }

// ParseNotification parses "ACTION TYPE NAME" ("restart service nginx",
// "run exec warm-cache"). The name is the rest of the text and may contain
// spaces.
func ParseNotification(s string) (Notification, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return Notification{}, fmt.Errorf("%q: want \"ACTION TYPE NAME\", such as \"restart service nginx\"", s)
	}
	rest := strings.TrimSpace(s)
	for range 2 {
		rest = strings.TrimSpace(rest[strings.IndexFunc(rest, unicode.IsSpace):])
	}
	return Notification{Action: f[0], Type: f[1], Name: rest}, nil
}

// Provider converges one decoded resource. Check looks at the machine (under
// Env.Root) and returns what would change; it changes nothing. The runner
// calls the plan's Apply unless the run is dry.
type Provider interface {
	// Name is the resource's name among resources of its type.
	Name() string
	Check(ctx context.Context, env *Env) (Plan, error)
}

// Notifiable is a Provider that other resources can notify ("restart service
// nginx"). NotifyActions lists the actions it takes; Notified returns the
// plan for one of them.
type Notifiable interface {
	Provider
	NotifyActions() []string
	Notified(ctx context.Context, env *Env, action string) (Plan, error)
}

// Plan is what a Provider found: whether the resource needs a change, a
// diff of that change (a unified diff for file content), a note for the
// report ("not run: /var/cache/warm.done exists") and the function that
// makes the change. Sensitive plans have their diffs redacted.
type Plan struct {
	Changed   bool
	Diff      string
	Note      string
	Sensitive bool
	Apply     func(ctx context.Context) error
}

// Kind decodes one resource type's properties (without the common keys
// notify, ignore_failure and drift) into a Provider, rejecting unknown and invalid
// properties with a *FieldError where it can.
type Kind func(props json.RawMessage) (Provider, error)

// Kinds maps resource type names to their decoders.
type Kinds map[string]Kind

// Builtin returns the built-in resource types.
func Builtin() Kinds {
	return Kinds{
		"file":      decodeFile,
		"template":  decodeTemplate,
		"directory": decodeDirectory,
		"link":      decodeLink,
		"package":   decodePackage,
		"service":   decodeService,
		"user":      decodeUser,
		"group":     decodeGroup,
		"cron":      decodeCron,
		"exec":      decodeExec,
		"hosts":     decodeHosts,
		"sysctl":    decodeSysctl,
		"download":  decodeDownload,
	}
}

// FieldError is a property that is wrong: Field is its path inside the
// resource ("mode", "name[1]").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// DecodeResources decodes a role's resource list with the built-in types.
func DecodeResources(list []map[string]json.RawMessage) ([]Resource, error) {
	return Builtin().Decode(list)
}

// Decode decodes a resource list, each entry a map with one key, the type
// (`file: {path: /etc/motd, content: "hi\n"}`). Errors name the entry and
// property: `resources[3].file.mode: must be an octal string such as
// "0644"`. Every entry is checked; the errors are joined. Notifications must
// name a resource of the list that takes that action; two resources of one
// type may not share a name.
func (k Kinds) Decode(list []map[string]json.RawMessage) ([]Resource, error) {
	var errs []error
	out := make([]Resource, 0, len(list))
	seen := make(map[string]int, len(list))
	for i, m := range list {
		at := fmt.Sprintf("resources[%d]", i)
		if len(m) != 1 {
			keys := make([]string, 0, len(m))
			for key := range m {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			errs = append(errs, fmt.Errorf("%s: want one key, the resource type, have %d (%s)", at, len(m), strings.Join(keys, ", ")))
			continue
		}
		for typ, props := range m {
			r, err := k.decodeOne(typ, props)
			if err != nil {
				errs = append(errs, prefixErr(at+"."+typ, err))
				continue
			}
			if j, dup := seen[r.ID()]; dup {
				errs = append(errs, fmt.Errorf("%s.%s: %s is already resources[%d]", at, typ, r.ID(), j))
				continue
			}
			seen[r.ID()] = i
			out = append(out, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	byID := make(map[string]Provider, len(out))
	for _, r := range out {
		byID[r.ID()] = r.provider
	}
	for _, r := range out {
		for j, n := range r.Notify {
			at := fmt.Sprintf("resources[%d].%s.notify[%d]", seen[r.ID()], r.Type, j)
			p, ok := byID[n.Type+"["+n.Name+"]"]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: no %s %q in the resources", at, n.Type, n.Name))
				continue
			}
			np, ok := p.(Notifiable)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: a %s cannot be notified", at, n.Type))
				continue
			}
			if !contains(np.NotifyActions(), n.Action) {
				errs = append(errs, fmt.Errorf("%s: a %s takes %s, not %q", at, n.Type, strings.Join(np.NotifyActions(), ", "), n.Action))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (k Kinds) decodeOne(typ string, props json.RawMessage) (Resource, error) {
	kind, ok := k[typ]
	if !ok {
		names := make([]string, 0, len(k))
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		return Resource{}, fmt.Errorf("unknown resource type (known: %s)", strings.Join(names, ", "))
	}
	if len(bytes.TrimSpace(props)) == 0 || bytes.Equal(bytes.TrimSpace(props), []byte("null")) {
		props = json.RawMessage("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(props, &fields); err != nil {
		return Resource{}, errors.New("must be a map of properties")
	}
	var common struct {
		Notify        []string `json:"notify"`
		IgnoreFailure bool     `json:"ignore_failure"`
	}
	r := Resource{Type: typ, Props: props}
	if raw, ok := fields["notify"]; ok {
		if err := json.Unmarshal(raw, &common.Notify); err != nil {
			var one string
			if json.Unmarshal(raw, &one) != nil {
				return Resource{}, fieldErr("notify", "must be a list such as [restart service nginx]")
			}
			common.Notify = []string{one}
		}
		delete(fields, "notify")
	}
	if raw, ok := fields["ignore_failure"]; ok {
		if err := json.Unmarshal(raw, &common.IgnoreFailure); err != nil {
			return Resource{}, fieldErr("ignore_failure", "must be true or false")
		}
		delete(fields, "ignore_failure")
	}
	for i, s := range common.Notify {
		n, err := ParseNotification(s)
		if err != nil {
			return Resource{}, fieldErr(fmt.Sprintf("notify[%d]", i), "%v", err)
		}
		r.Notify = append(r.Notify, n)
	}
	r.IgnoreFailure = common.IgnoreFailure
	driftRaw, hasDrift := fields["drift"]
	delete(fields, "drift")
	rest, err := json.Marshal(fields)
	if err != nil {
		return Resource{}, err
	}
	p, err := kind(rest)
	if err != nil {
		return Resource{}, err
	}
	if r.Drift, err = decodeDrift(driftRaw, hasDrift, p); err != nil {
		return Resource{}, err
	}
	r.provider = p
	r.Name = p.Name()
	return r, nil
}

// prefixErr puts at in front of err, joining a FieldError's field with a dot.
func prefixErr(at string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		return fmt.Errorf("%s.%s: %s", at, fe.Field, fe.Msg)
	}
	return fmt.Errorf("%s: %w", at, err)
}

// strictDecode decodes props into v, rejecting unknown fields, and turns the
// decoder's errors into FieldErrors.
func strictDecode(props json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(props))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// Fields of an embedded struct come with its name.
		field := strings.ReplaceAll(te.Field, "fileCommon.", "")
		return fieldErr(field, "must be %s, not %s", typeName(te.Type.Kind().String()), te.Value)
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown property %s", name)
	}
	return err
}

func typeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "map", "struct":
		return "a map"
	case "int", "int64", "uint32", "int32", "uint64":
		return "a whole number"
	}
	return kind
}

// stringList is a property that is one string or a list of them.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*s = many
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
