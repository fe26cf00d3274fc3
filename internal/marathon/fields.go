package marathon

import (
	"fmt"
	"slices"
	"strings"
)

// field describes what FromMarathon accepts under one JSON key: an object
// with the keys in obj (a list of such objects when list is set), or, when
// check is set, any value check approves. A zero field accepts any value
// and leaves its type to the decoder.
type field struct {
	obj   map[string]field
	list  bool
	check func(v any) string // "" when v is acceptable
}

// anything accepts every value (ignored fields).
var anything = field{check: func(any) string { return "" }}

// only accepts the values for which ok is true, or empty ones.
func only(desc string, ok func(v any) bool) field {
	return field{check: func(v any) string {
		if empty(v) || ok(v) {
			return ""
		}
		return "only " + desc + " is supported"
	}}
}

// emptyOnly accepts only empty values.
var emptyOnly = only("an empty value", func(any) bool { return false })

// empty reports whether v is a JSON null, "", 0, false, [] or {}.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case float64:
		return v == 0
	case bool:
		return !v
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func equals(want ...any) func(any) bool {
	return func(v any) bool {
		for _, w := range want {
			if v == w {
				return true
			}
		}
		return false
	}
}

// stringMap accepts an object of strings (env without secret references).
var stringMap = field{check: func(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := m[k].(string); !ok && m[k] != nil {
			return fmt.Sprintf("value of %q must be a string (secret references are not supported)", k)
		}
	}
	return ""
}}

var portMappingFields = field{list: true, obj: map[string]field{
	"containerPort": {}, "hostPort": {}, "protocol": {}, "name": {},
	"servicePort": anything, "labels": emptyOnly,
}}

var healthCheckFields = field{list: true, obj: map[string]field{
	"protocol": {}, "path": {}, "portIndex": {}, "port": {},
	"command":                {obj: map[string]field{"value": {}}},
	"gracePeriodSeconds":     {},
	"intervalSeconds":        {},
	"timeoutSeconds":         {},
	"maxConsecutiveFailures": {},
	"delaySeconds":           anything,
	"ignoreHttp1xx":          anything,
}}

// appFields is every app field FromMarathon reads or ignores.
var appFields = map[string]field{
	"id": {}, "cmd": {}, "args": {}, "user": {}, "instances": {},
	"cpus": {}, "mem": {}, "disk": {},
	"env": stringMap, "labels": {}, "constraints": {},
	"container": {obj: map[string]field{
		"type": {},
		"docker": {obj: map[string]field{
			"image": {}, "network": {}, "portMappings": portMappingFields,
			"privileged": emptyOnly, "forcePullImage": emptyOnly, "parameters": emptyOnly,
		}},
		"volumes":      {list: true, obj: map[string]field{"containerPath": {}, "hostPath": {}, "mode": {}}},
		"portMappings": portMappingFields,
	}},
	"networks":                   {list: true, obj: map[string]field{"mode": {}}},
	"portDefinitions":            {list: true, obj: map[string]field{"port": {}, "protocol": {}, "name": {}, "labels": emptyOnly}},
	"ports":                      {},
	"requirePorts":               {},
	"healthChecks":               healthCheckFields,
	"upgradeStrategy":            {obj: map[string]field{"minimumHealthCapacity": {}, "maximumOverCapacity": {}}},
	"backoffSeconds":             {},
	"backoffFactor":              {},
	"maxLaunchDelaySeconds":      {},
	"taskKillGracePeriodSeconds": {},
	"dependencies":               {},
	"fetch":                      {list: true, obj: map[string]field{"uri": {}, "executable": {}, "extract": {}, "cache": anything}},
	"uris":                       {},

	// Status fields of a GET, ignored so its JSON can be PUT back.
	"version": anything, "versionInfo": anything,
	"tasksRunning": anything, "tasksStaged": anything, "tasksHealthy": anything, "tasksUnhealthy": anything,
	"deployments": anything, "tasks": anything, "lastTaskFailure": anything, "taskStats": anything,
	"readinessCheckResults": anything, "unreachableStrategy": anything,

	// Harmless only with their default values.
	"executor":              only(`"" or "//cmd"`, equals("//cmd")),
	"killSelection":         only(`"YOUNGEST_FIRST"`, equals("YOUNGEST_FIRST")),
	"acceptedResourceRoles": only(`["*"]`, func(v any) bool { l, ok := v.([]any); return ok && len(l) == 1 && l[0] == "*" }),
	"role":                  only(`"*"`, equals("*")),
	"gpus":                  emptyOnly,
	"storeUrls":             emptyOnly,
	"secrets":               emptyOnly,
	"readinessChecks":       emptyOnly,
}

// walk checks the keys of v against f at JSON pointer-like path p ("" for
// the app), appending a detail for each unsupported field.
func walk(p string, obj map[string]any, fields map[string]field, bad *[]Detail) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		if v == nil {
			continue
		}
		path := p + "/" + k
		f, ok := fields[k]
		if !ok {
			*bad = append(*bad, Detail{Path: path, Errors: []string{fmt.Sprintf("unsupported field %q", dotted(path))}})
			continue
		}
		if f.check != nil {
			if msg := f.check(v); msg != "" {
				*bad = append(*bad, Detail{Path: path, Errors: []string{fmt.Sprintf("unsupported field %q: %s", dotted(path), msg)}})
			}
			continue
		}
		if f.obj == nil {
			continue
		}
		if !f.list {
			if m, ok := v.(map[string]any); ok {
				walk(path, m, f.obj, bad)
			}
			continue
		}
		list, _ := v.([]any)
		for i, item := range list {
			if m, ok := item.(map[string]any); ok {
				walk(fmt.Sprintf("%s(%d)", path, i), m, f.obj, bad)
			}
		}
	}
}

// dotted turns "/container/docker/privileged" into
// "container.docker.privileged" and "/healthChecks(0)/x" into
// "healthChecks[0].x", as error messages name fields.
func dotted(path string) string {
	s := strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", ".")
	s = strings.ReplaceAll(s, "(", "[")
	return strings.ReplaceAll(s, ")", "]")
}
