package render

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-graphite/carbonapi/expr/metadata"
	"github.com/go-graphite/carbonapi/expr/types"
)

// funcParam is one parameter in graphite-web's /functions JSON. Unlike
// carbonapi's own struct it always writes "type" (carbonapi drops the
// aggFunc type, whose value is 0, through omitempty).
type funcParam struct {
	Name        string              `json:"name"`
	Type        types.FunctionType  `json:"type"`
	Required    bool                `json:"required,omitempty"`
	Multiple    bool                `json:"multiple,omitempty"`
	Default     *types.Suggestion   `json:"default,omitempty"`
	Options     []types.Suggestion  `json:"options,omitempty"`
	Suggestions []*types.Suggestion `json:"suggestions,omitempty"`
}

// funcDesc is one function in graphite-web's /functions JSON.
type funcDesc struct {
	Name        string      `json:"name"`
	Function    string      `json:"function"`
	Description string      `json:"description"`
	Module      string      `json:"module"`
	Group       string      `json:"group"`
	Params      []funcParam `json:"params"`
}

func toFuncDesc(d types.FunctionDescription) funcDesc {
	out := funcDesc{Name: d.Name, Function: d.Function, Description: d.Description, Module: d.Module, Group: d.Group, Params: []funcParam{}}
	for _, p := range d.Params {
		out.Params = append(out.Params, funcParam{Name: p.Name, Type: p.Type, Required: p.Required, Multiple: p.Multiple, Default: p.Default, Options: p.Options, Suggestions: p.Suggestions})
	}
	return out
}

// Functions serves GET /functions and /functions/{name} like graphite-web:
// an object of function descriptions by name (by group, then name, with
// grouped=true), or one description; jsonp and pretty are honoured.
func (h *Handler) Functions(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	name := r.PathValue("name")
	if name == "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/functions/"); ok {
			name = strings.Trim(rest, "/")
		}
	}
	metadata.FunctionMD.RLock()
	descs := make(map[string]types.FunctionDescription, len(metadata.FunctionMD.Descriptions))
	for k, d := range metadata.FunctionMD.Descriptions {
		if d.Name != "" {
			descs[k] = d
		}
	}
	metadata.FunctionMD.RUnlock()
	var v any
	switch {
	case name != "":
		d, ok := descs[name]
		if !ok {
			httpError(w, http.StatusNotFound, "Function not found: "+name)
			return
		}
		v = toFuncDesc(d)
	case truthy(r.Form.Get("grouped")):
		groups := map[string]map[string]funcDesc{}
		for k, d := range descs {
			if groups[d.Group] == nil {
				groups[d.Group] = map[string]funcDesc{}
			}
			groups[d.Group][k] = toFuncDesc(d)
		}
		v = groups
	default:
		all := make(map[string]funcDesc, len(descs))
		for k, d := range descs {
			all[k] = toFuncDesc(d)
		}
		v = all
	}
	writeJSON(w, r, v)
}

// truthy is graphite-web's queryParamAsBool.
func truthy(s string) bool {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// writeJSON answers with v as JSON, indented with pretty=1, wrapped in the
// jsonp callback when one is given.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if truthy(r.Form.Get("pretty")) {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		httpError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ctype := "application/json"
	if cb := r.Form.Get("jsonp"); cb != "" {
		if !validJSONP(cb) {
			httpError(w, http.StatusBadRequest, "jsonp: "+strconv.Quote(cb)+" is not a valid callback name")
			return
		}
		body = append(append([]byte(cb+"("), body...), ')')
		ctype = "text/javascript"
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(body)
}

// defaultTagLimit is graphite-web's TAGDB_AUTOCOMPLETE_LIMIT.
const defaultTagLimit = 100

// tagExprs returns the expr (or jQuery-style expr[]) parameters.
func tagExprs(r *http.Request) []string {
	if e := r.Form["expr"]; len(e) > 0 {
		return e
	}
	return r.Form["expr[]"]
}

// tagLimit parses limit; missing or bad values use the default.
func tagLimit(r *http.Request) (int, bool) {
	s := r.Form.Get("limit")
	if s == "" {
		return defaultTagLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// TagsAutoCompleteTags serves /tags/autoComplete/tags (expr, tagPrefix,
// limit): a JSON list of tag names.
func (h *Handler) TagsAutoCompleteTags(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	limit, ok := tagLimit(r)
	if !ok {
		httpError(w, http.StatusBadRequest, "limit: cannot parse "+strconv.Quote(r.Form.Get("limit")))
		return
	}
	out := []string{}
	if h.store.tags != nil {
		res, err := h.store.tags.AutoCompleteTags(tagExprs(r), r.Form.Get("tagPrefix"), limit)
		if err != nil {
			httpError(w, http.StatusBadRequest, "expr: "+err.Error())
			return
		}
		out = append(out, res...)
	}
	writeJSON(w, r, out)
}

// TagsAutoCompleteValues serves /tags/autoComplete/values (tag required;
// expr, valuePrefix, limit): a JSON list of values.
func (h *Handler) TagsAutoCompleteValues(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	tag := r.Form.Get("tag")
	if tag == "" {
		httpError(w, http.StatusBadRequest, "tag: no tag specified")
		return
	}
	limit, ok := tagLimit(r)
	if !ok {
		httpError(w, http.StatusBadRequest, "limit: cannot parse "+strconv.Quote(r.Form.Get("limit")))
		return
	}
	out := []string{}
	if h.store.tags != nil {
		res, err := h.store.tags.AutoCompleteValues(tagExprs(r), tag, r.Form.Get("valuePrefix"), limit)
		if err != nil {
			httpError(w, http.StatusBadRequest, "expr: "+err.Error())
			return
		}
		out = append(out, res...)
	}
	writeJSON(w, r, out)
}

// TagsFindSeries serves /tags/findSeries?expr=...: a JSON list of the
// matching tagged series names.
func (h *Handler) TagsFindSeries(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	exprs := tagExprs(r)
	if len(exprs) == 0 {
		httpError(w, http.StatusBadRequest, "expr: no tag expressions specified")
		return
	}
	out := []string{}
	if h.store.tags != nil {
		res, err := h.store.tags.FindSeries(exprs)
		if err != nil {
			httpError(w, http.StatusBadRequest, "expr: "+err.Error())
			return
		}
		out = append(out, res...)
	}
	writeJSON(w, r, out)
}

// Tags serves /tags (graphite-web's tagList): [{"tag": "dc"}, ...],
// filtered by the filter regex and cut at limit.
func (h *Handler) Tags(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		httpError(w, http.StatusBadRequest, "cannot parse request: "+err.Error())
		return
	}
	type tagEntry struct {
		Tag string `json:"tag"`
	}
	out := []tagEntry{}
	if h.store.tags != nil {
		names, err := h.store.tags.TagNames(r.Form.Get("filter"))
		if err != nil {
			httpError(w, http.StatusBadRequest, "filter: "+err.Error())
			return
		}
		if s := r.Form.Get("limit"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(names) {
				names = names[:n]
			}
		}
		for _, n := range names {
			out = append(out, tagEntry{n})
		}
	}
	writeJSON(w, r, out)
}
