package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/spool"
)

// TestFetchSecretsOverChannel asks a fake agent channel for secrets.
func TestFetchSecretsOverChannel(t *testing.T) {
	var asked api.SecretsRequest
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/agent/v1/secrets" {
			http.NotFound(w, r)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&asked); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(api.SecretsResponse{Values: map[string]string{"db-password": "pw"}})
	}))
	defer srv.Close()
	a := &Agent{cfg: Config{Servers: []string{srv.Listener.Addr().String()}}, client: srv.Client()}
	vals, err := a.fetchSecrets(context.Background(), []string{"db-password"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(vals, map[string]string{"db-password": "pw"}) || !slices.Equal(asked.Names, []string{"db-password"}) {
		t.Errorf("values %v, asked %v", vals, asked.Names)
	}
}

func TestWakeConverge(t *testing.T) {
	tests := []struct {
		name     string
		as       api.Assignment
		snapshot bool
		wantWake bool
	}{
		{name: "the catalog", as: api.Assignment{Type: "put", Key: api.CatalogAssignKey}, wantWake: true},
		{name: "the catalog removed", as: api.Assignment{Type: "delete", Key: api.CatalogAssignKey}, wantWake: true},
		{name: "a converge request", as: api.Assignment{Type: "put", Key: api.ConvergeRunAssignKey}, wantWake: true},
		{name: "a check", as: api.Assignment{Type: "put", Key: "check/disk"}},
		{name: "inside a snapshot", as: api.Assignment{Type: "put", Key: api.CatalogAssignKey}, snapshot: true},
		{name: "sync", as: api.Assignment{Type: "sync"}, wantWake: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Agent{convergeWake: make(chan struct{}, 1)}
			a.wakeConverge(tt.as, tt.snapshot)
			a.wakeConverge(tt.as, tt.snapshot)
			if woke := len(a.convergeWake) == 1; woke != tt.wantWake {
				t.Errorf("woke %v, want %v", woke, tt.wantWake)
			}
		})
	}
}

// TestConvergeThroughTheAgentChannel runs the agent's watch and converge
// loop against a fake agent channel: the catalog and a request arrive on
// the watch stream, the secret is fetched over the channel, and the
// report lands in the spool without the secret's value.
func TestConvergeThroughTheAgentChannel(t *testing.T) {
	cat := testCatalog(t, "h1", `{"template": {"path": "/db.conf", "content": "pw {{ secret \"db\" }}\n"}}`)
	cat.Secrets = map[string]int64{"db": 3}
	var secretCalls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/agent/v1/watch":
			enc := json.NewEncoder(w)
			enc.Encode(api.Assignment{Rev: 5, Type: "put", Key: api.CatalogAssignKey, Value: raw(t, cat)})
			enc.Encode(api.Assignment{Rev: 6, Type: "put", Key: api.ConvergeRunAssignKey, Value: raw(t, api.ConvergeRequest{Nonce: "w1"})})
			enc.Encode(api.Assignment{Rev: 6, Type: "sync"})
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/agent/v1/secrets":
			secretCalls.Add(1)
			var req api.SecretsRequest
			json.NewDecoder(r.Body).Decode(&req)
			if !slices.Equal(req.Names, []string{"db"}) {
				http.Error(w, "asked for "+strings.Join(req.Names, ","), http.StatusForbidden)
				return
			}
			json.NewEncoder(w).Encode(api.SecretsResponse{Values: map[string]string{"db": "hunter2-secret"}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir, root := t.TempDir(), t.TempDir()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Config{DataDir: dir, Servers: []string{srv.Listener.Addr().String()}, Root: root, Converge: true,
		ConvergeInterval: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a.client, a.id = srv.Client(), &identity{node: "node-1"}
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a.spool = sp
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.watch(ctx) }()
	go func() { defer wg.Done(); a.convergeLoop(ctx) }()
	defer func() { cancel(); wg.Wait(); sp.Close() }()

	var rep api.ConvergeReport
	var spooled []byte
	eventually(t, "a converge report in the spool", func() bool {
		recs, err := sp.Read(100, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Type == "converge" {
				spooled = r.Data
				return json.Unmarshal(r.Data, &rep) == nil
			}
		}
		return false
	})
	if rep.Nonce != "w1" || rep.Node != "node-1" || rep.CatalogHash != "h1" || rep.Totals.Changed != 1 || rep.Failed() {
		t.Errorf("report %+v", rep)
	}
	if got := string(mustRead(t, filepath.Join(root, "db.conf"))); got != "pw hunter2-secret\n" {
		t.Errorf("db.conf %q", got)
	}
	if secretCalls.Load() != 1 {
		t.Errorf("%d secret fetches", secretCalls.Load())
	}
	if bytes.Contains(spooled, []byte("hunter2")) || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the secret leaked:\n%s\n%s", spooled, logs.String())
	}
}
