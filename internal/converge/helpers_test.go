package converge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// decodeJSON decodes a resource list written as JSON.
func decodeJSON(t testing.TB, s string) []Resource {
	t.Helper()
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	res, err := DecodeResources(list)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res
}

// decodeErr decodes a JSON resource list and returns its error.
func decodeErr(t *testing.T, s string) error {
	t.Helper()
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	_, err := DecodeResources(list)
	return err
}

// testEnv is an Env on a temporary root, logging into a buffer.
func testEnv(t testing.TB) (Env, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	return Env{
		Root:   t.TempDir(),
		NoSync: true,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, &logs
}

func run(t testing.TB, env Env, res []Resource) Report {
	t.Helper()
	rep, err := NewRunner().Run(context.Background(), env, res)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// statuses lists "type[name]=status" for every resource of a report.
func statuses(rep Report) string {
	var s []string
	for _, r := range rep.Resources {
		s = append(s, r.Type+"["+r.Name+"]="+string(r.Status))
	}
	return strings.Join(s, " ")
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeRunner records commands and answers them with respond (exit 0 and no
// output when nil).
type fakeRunner struct {
	mu      sync.Mutex
	calls   []string
	respond func(c Command) CommandResult
}

func (f *fakeRunner) Run(ctx context.Context, c Command) (CommandResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c.String())
	respond := f.respond
	f.mu.Unlock()
	if respond == nil {
		return CommandResult{}, nil
	}
	return respond(c), nil
}

func (f *fakeRunner) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
