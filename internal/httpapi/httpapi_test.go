package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"corral/internal/api"
	"corral/internal/httpapi"
)

type fakeAuth map[string]api.Role

func (f fakeAuth) Authenticate(_ context.Context, bearer string) (httpapi.Caller, error) {
	r, ok := f[bearer]
	if !ok {
		return httpapi.Caller{}, &api.Error{Status: http.StatusUnauthorized, Message: "invalid or unknown token"}
	}
	return httpapi.Caller{Subject: "token:" + bearer, Role: r}, nil
}

type memAudit struct {
	mu      sync.Mutex
	entries []api.AuditEntry
}

func (m *memAudit) AppendAudit(_ context.Context, e api.AuditEntry) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return int64(len(m.entries)), nil
}

var errDomain = errors.New("domain not found")

func newAPI(t *testing.T) (*httptest.Server, *memAudit) {
	audit := &memAudit{}
	a := httpapi.New(httpapi.Options{
		Auth:         fakeAuth{"v": api.RoleViewer, "o": api.RoleOperator, "a": api.RoleAdmin},
		Audit:        audit,
		Registry:     prometheus.NewRegistry(),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: 64,
		MapError: func(err error) error {
			if errors.Is(err, errDomain) {
				return api.Errorf(http.StatusNotFound, "not found")
			}
			return err
		},
	})
	a.Handle("GET /things/{name}", api.RoleViewer, func(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
		if r.PathValue("name") == "missing" {
			return errDomain
		}
		return httpapi.JSON(w, http.StatusOK, map[string]string{"name": r.PathValue("name"), "by": c.Subject})
	})
	a.Handle("POST /things", api.RoleOperator, func(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
		var body struct {
			Name string `json:"name"`
		}
		if err := httpapi.Decode(r, &body); err != nil {
			return err
		}
		var fe api.FieldErrors
		if body.Name == "" {
			fe.Add("name", "is required")
		}
		if err := fe.Err("invalid thing"); err != nil {
			return err
		}
		return httpapi.JSON(w, http.StatusCreated, body)
	})
	a.Handle("POST /boom", api.RoleViewer, func(http.ResponseWriter, *http.Request, httpapi.Caller) error {
		return errors.New("disk on fire")
	})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv, audit
}

func TestErrorsAndAuth(t *testing.T) {
	srv, audit := newAPI(t)
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantError                       string
		wantField                       string
	}{
		{"no token", "GET", "/things/a", "", "", 401, "missing bearer token", ""},
		{"bad token", "GET", "/things/a", "nope", "", 401, "invalid or unknown token", ""},
		{"viewer reads", "GET", "/things/a", "v", "", 200, "", ""},
		{"viewer cannot write", "POST", "/things", "v", `{"name":"x"}`, 403, "role viewer may not", ""},
		{"operator writes", "POST", "/things", "o", `{"name":"x"}`, 201, "", ""},
		{"field error", "POST", "/things", "a", `{}`, 400, "invalid thing", "name"},
		{"unknown JSON field", "POST", "/things", "a", `{"nme":"x"}`, 400, "unknown field", ""},
		{"body too large", "POST", "/things", "a", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "larger than 64 bytes", ""},
		{"domain error mapped", "GET", "/things/missing", "v", "", 404, "not found", ""},
		{"internal error", "POST", "/boom", "v", "", 500, "internal error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if tt.wantError == "" {
				return
			}
			var e api.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if !strings.Contains(e.Message, tt.wantError) {
				t.Fatalf("error %q, want it to contain %q", e.Message, tt.wantError)
			}
			if tt.wantField != "" && e.Fields[tt.wantField] == "" {
				t.Fatalf("fields %v, want %s", e.Fields, tt.wantField)
			}
		})
	}
	// Mutations are audited (reads are not), with actor and status.
	audit.mu.Lock()
	defer audit.mu.Unlock()
	var statuses []int
	for _, e := range audit.entries {
		if !strings.HasPrefix(e.Action, "POST ") {
			t.Errorf("audited a non-mutating call: %+v", e)
		}
		statuses = append(statuses, e.Status)
	}
	want := []int{403, 201, 400, 400, 413, 500}
	if len(statuses) != len(want) {
		t.Fatalf("audited statuses %v, want %v", statuses, want)
	}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("audited statuses %v, want %v", statuses, want)
		}
	}
	if audit.entries[1].Actor != "token:o" || audit.entries[1].Action != "POST /things" {
		t.Fatalf("audit entry %+v", audit.entries[1])
	}
}

func TestQueryRoutesAreNotAudited(t *testing.T) {
	audit := &memAudit{}
	a := httpapi.New(httpapi.Options{
		Auth: fakeAuth{"v": api.RoleViewer}, Audit: audit, Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	a.Query("POST /find", api.RoleViewer, func(w http.ResponseWriter, _ *http.Request, _ httpapi.Caller) error {
		return httpapi.JSON(w, http.StatusOK, []string{})
	})
	srv := httptest.NewServer(a)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/find", strings.NewReader("query=a.*"))
	req.Header.Set("Authorization", "Bearer v")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(audit.entries) != 0 {
		t.Fatalf("a read-only POST was audited: %+v", audit.entries)
	}
}

func TestUnmatchedRoutes(t *testing.T) {
	srv, _ := newAPI(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nope", http.StatusNotFound, ""},
		{"PUT", "/things/a", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/things", http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer a")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || e.Message == "" {
			t.Errorf("%s %s: status %d, body %+v (%v), want %d with a JSON error", tt.method, tt.path, resp.StatusCode, e, err, tt.status)
		}
		if got := resp.Header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}
