package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Error is the one typed error of the API. It carries the HTTP status, a
// message, and for validation failures the offending fields. The HTTP layer maps
// it to `{"error": "...", "fields": {...}}` in one place, and the client turns
// such a body back into an *Error.
type Error struct {
	Status  int               `json:"-"`
	Message string            `json:"error"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return e.Message + " (" + strings.Join(parts, "; ") + ")"
}

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// NotFound says that the named thing does not exist.
func NotFound(what, name string) *Error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("%s %q not found", what, name)}
}

// Conflict says that the caller's version of a thing is stale.
func Conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

// FieldErrors collects validation errors by field path ("spec.value",
// "documents[2].name"). The zero value is ready to use.
type FieldErrors map[string]string

// Add records msg for field; the first message for a field wins.
func (f *FieldErrors) Add(field, format string, args ...any) {
	if *f == nil {
		*f = FieldErrors{}
	}
	if _, ok := (*f)[field]; !ok {
		(*f)[field] = fmt.Sprintf(format, args...)
	}
}

// Merge adds every field of other under prefix ("documents[1]." say).
func (f *FieldErrors) Merge(prefix string, other FieldErrors) {
	for k, v := range other {
		f.Add(prefix+k, "%s", v)
	}
}

// Err returns nil when no field failed, or a 400 *Error naming them.
func (f FieldErrors) Err(message string) error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Message: message, Fields: map[string]string(f)}
}

// StatusOf returns the HTTP status carried by err, or 500.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	return http.StatusInternalServerError
}

// AsFields returns the field errors carried by err, if any.
func AsFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
