package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"corral/internal/api"
)

func TestCheckin(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStatus int
		wantOutput string
	}{
		{"flags", []string{"--status", "1", "--output", "slow"}, 0, 1, "slow"},
		{"command ok", []string{"--", "sh", "-c", "echo fine"}, 0, 0, "fine\n"},
		{"command critical", []string{"--", "sh", "-c", "echo hi; exit 2"}, 2, 2, "hi\n"},
		{"other exit codes are critical", []string{"--", "sh", "-c", "echo odd >&2; exit 5"}, 5, 2, "odd\n"},
		{"exit 3 is reported critical too", []string{"--", "sh", "-c", "exit 3"}, 3, 2, ""},
		{"missing command", []string{"--", "/nonexistent/backup"}, 127, 2, "/nonexistent/backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAPI(t)
			f.json("POST /api/v1/checkins", 202, map[string]any{"check": "backup-ran"})
			args := append([]string{"checkin", "backup-ran", "--entity", "db-1", "--addr", srv.URL, "--token", "x"}, tt.args...)
			r := runCLI(t, "", nil, args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tt.wantCode, r.stderr)
			}
			var res api.CheckResult
			if err := json.Unmarshal(f.bodies["POST /api/v1/checkins"], &res); err != nil {
				t.Fatalf("posted %q: %v", f.bodies["POST /api/v1/checkins"], err)
			}
			if res.Check != "backup-ran" || res.Entity != "db-1" || res.Status != tt.wantStatus {
				t.Errorf("posted %+v, want backup-ran on db-1 with status %d", res, tt.wantStatus)
			}
			if !strings.Contains(res.Output, tt.wantOutput) || (tt.wantOutput == "" && res.Output != "") {
				t.Errorf("posted output %q, want %q", res.Output, tt.wantOutput)
			}
		})
	}
}

func TestCheckinFlagsWithCommand(t *testing.T) {
	r := runCLI(t, "", nil, "checkin", "x", "--status", "2", "--addr", "http://127.0.0.1:1", "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, "taken from the command") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 4}
	tb.Write([]byte("ab"))
	if tb.String() != "ab" {
		t.Errorf("got %q", tb.String())
	}
	tb.Write([]byte("cdef"))
	if got := tb.String(); !strings.HasSuffix(got, "\ncdef") || !strings.Contains(got, "cut") {
		t.Errorf("got %q, want the last 4 bytes after a note", got)
	}
}

func TestSilenceAdd(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.json("POST /api/v1/apply", 200, api.ApplyResponse{})
	r := runCLI(t, "", nil, "silence", "add", "--node", "db-1", "--check", "root-disk", "--expire", "2h",
		"--reason", "resize", "--addr", srv.URL, "--token", "x")
	if r.code != 0 || !strings.Contains(r.stdout, "entity:db-1:root-disk") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var req api.ApplyRequest
	if err := json.Unmarshal(f.bodies["POST /api/v1/apply"], &req); err != nil || len(req.Documents) != 1 {
		t.Fatalf("apply body %s: %v", f.bodies["POST /api/v1/apply"], err)
	}
	b := req.Documents[0].Body
	if b["kind"] != "Silence" || b["name"] != "entity:db-1:root-disk" || b["node"] != "db-1" || b["expire"] != "2h0m0s" || b["reason"] != "resize" {
		t.Errorf("silence document = %v", b)
	}
}
