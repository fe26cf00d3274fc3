package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"corral/internal/api"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "http", in: "http://127.0.0.1:7700", want: "http://127.0.0.1:7700"},
		{name: "https", in: "https://host:7700/", want: "https://host:7700"},
		{name: "no scheme is https", in: "host:7700", want: "https://host:7700"},
		{name: "path prefix kept", in: "https://lb.example.com/corral/", want: "https://lb.example.com/corral"},
		{name: "empty", in: " ", wantErr: true},
		{name: "bad scheme", in: "ftp://host", wantErr: true},
		{name: "query", in: "http://host:1/?a=b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseAddr(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseAddr(%q) = %v, want error", tt.in, u)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("ParseAddr(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantMsg    string
		wantFields map[string]string
	}{
		{
			name:       "json with fields",
			status:     400,
			body:       `{"error":"invalid apply","fields":{"documents[0] (a.yaml#1): value":"is required"}}`,
			wantMsg:    "invalid apply",
			wantFields: map[string]string{"documents[0] (a.yaml#1): value": "is required"},
		},
		{name: "json without fields", status: 404, body: `{"error":"node \"x\" not found"}`, wantMsg: `node "x" not found`},
		{name: "text body", status: 502, body: "bad gateway\n", wantMsg: "502 Bad Gateway: bad gateway"},
		{name: "empty body", status: 503, body: "", wantMsg: "503 Service Unavailable"},
		{name: "json without error key", status: 500, body: `{"x":1}`, wantMsg: `500 Internal Server Error: {"x":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(srv.URL, "tok")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Nodes(context.Background())
			var e *api.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *api.Error", err, err)
			}
			if e.Status != tt.status {
				t.Errorf("Status = %d, want %d", e.Status, tt.status)
			}
			if e.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", e.Message, tt.wantMsg)
			}
			if !reflect.DeepEqual(e.Fields, tt.wantFields) {
				t.Errorf("Fields = %v, want %v", e.Fields, tt.wantFields)
			}
			if api.StatusOf(err) != tt.status {
				t.Errorf("StatusOf = %d", api.StatusOf(err))
			}
		})
	}
}

func TestCalls(t *testing.T) {
	type seen struct {
		method, path, rawPath, query, auth string
		body                               string
	}
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), string(b)}
		switch {
		case r.URL.Path == "/api/v1/nodes":
			json.NewEncoder(w).Encode([]api.Node{{Name: "web-1", Status: api.NodeReady}})
		case r.URL.Path == "/api/v1/audit":
			io.WriteString(w, "[]")
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/api/v1/tokens":
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(api.NewToken{Token: api.Token{ID: "t1", Role: api.RoleAgent}, Secret: "s3cret"})
		default:
			json.NewEncoder(w).Encode(map[string]any{"kind": "Secret", "name": "a/b", "version": 2, "spec": map[string]any{"name": "a/b"}})
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := New(srv.URL+"/", "tok")
	if err != nil {
		t.Fatal(err)
	}

	ns, err := c.Nodes(ctx)
	if err != nil || len(ns) != 1 || ns[0].Name != "web-1" {
		t.Fatalf("Nodes = %v, %v", ns, err)
	}
	if got.auth != "Bearer tok" || got.method != "GET" {
		t.Errorf("request %+v", got)
	}

	r, err := c.Resource(ctx, "Secret", "a/b c", true)
	if err != nil || r.Version != 2 {
		t.Fatalf("Resource = %+v, %v", r, err)
	}
	if got.rawPath != "/api/v1/resources/Secret/a%2Fb%20c" || got.query != "reveal=true" {
		t.Errorf("Resource request %+v", got)
	}

	tok, err := c.CreateToken(ctx, api.TokenRequest{Role: api.RoleAgent, TTL: api.Duration(3600e9)})
	if err != nil || tok.Secret != "s3cret" {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	if got.method != "POST" || got.body != `{"role":"agent","ttl":"1h0m0s"}` {
		t.Errorf("CreateToken request %+v", got)
	}

	if err := c.RevokeToken(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got.method != "DELETE" || got.path != "/api/v1/tokens/t1" {
		t.Errorf("RevokeToken request %+v", got)
	}

	if _, err := c.Audit(ctx, AuditQuery{Actor: "admin", Limit: 5, BeforeID: 9}); err != nil {
		t.Fatal(err)
	}
	if got.path != "/api/v1/audit" || got.query != "actor=admin&before=9&limit=5" {
		t.Errorf("Audit request %+v", got)
	}

	if _, err := c.DrainNode(ctx, "web-1", true); err != nil {
		t.Fatal(err)
	}
	if got.method != "PUT" || got.path != "/api/v1/nodes/web-1/drain" || got.body != `{"drain":true}` {
		t.Errorf("DrainNode request %+v", got)
	}
}

func TestNoToken(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		json.NewEncoder(w).Encode(api.NewToken{Secret: "x"})
	}))
	defer srv.Close()
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), api.LoginRequest{Name: "bob", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if len(auth) != 0 {
		t.Errorf("Authorization sent without a token: %v", auth)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted handshake is expected to fail
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	untrusted, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := untrusted.Healthz(ctx); err == nil {
		t.Error("Healthz without the CA succeeded")
	}

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	trusted, err := New(srv.URL, "", WithCAPEM(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	if err := trusted.Healthz(ctx); err != nil {
		t.Errorf("Healthz with the CA: %v", err)
	}

	insecure, err := New(srv.URL, "", WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	if err := insecure.Healthz(ctx); err != nil {
		t.Errorf("Healthz insecure: %v", err)
	}

	if _, err := New(srv.URL, "", WithCAPEM([]byte("nope"))); err == nil {
		t.Error("New with a bad CA PEM succeeded")
	}
	if _, err := New(srv.URL, "", WithCAFile(t.TempDir()+"/missing.pem")); err == nil {
		t.Error("New with a missing CA file succeeded")
	}
}
