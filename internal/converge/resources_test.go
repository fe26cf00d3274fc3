package converge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func TestExecGuards(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh (Debian package dash)")
	}
	tests := []struct {
		name, res string
		setup     func(root string)
		status    Status
		note      string
		ran       bool
	}{
		{"runs", `{"command": "echo ran >> log"}`, nil, StatusChanged, "", true},
		{"creates exists", `{"command": "echo ran >> log", "creates": "/done"}`, func(root string) { os.WriteFile(filepath.Join(root, "done"), nil, 0o644) },
			StatusUpToDate, "not run: /done exists", false},
		{"creates missing", `{"command": "echo ran >> log", "creates": "/done"}`, nil, StatusChanged, "", true},
		{"unless succeeds", `{"command": "echo ran >> log", "unless": "test -f flag"}`, func(root string) { os.WriteFile(filepath.Join(root, "flag"), nil, 0o644) },
			StatusUpToDate, "not run: unless succeeded", false},
		{"unless fails", `{"command": "echo ran >> log", "unless": "test -f flag"}`, nil, StatusChanged, "", true},
		{"only_if fails", `{"command": "echo ran >> log", "only_if": "test -f flag"}`, nil, StatusUpToDate, "not run: only_if failed", false},
		{"only_if succeeds", `{"command": "echo ran >> log", "only_if": "test -f flag"}`, func(root string) { os.WriteFile(filepath.Join(root, "flag"), nil, 0o644) },
			StatusChanged, "", true},
		{"env and cwd", `{"command": "echo $GREETING >> ../log", "cwd": "/sub", "env": {"GREETING": "ran"}}`, func(root string) { os.Mkdir(filepath.Join(root, "sub"), 0o755) },
			StatusChanged, "", true},
		{"other exit codes", `{"command": "echo ran >> log; exit 3", "returns": [0, 3]}`, nil, StatusChanged, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			env.Exec = OSRunner{}
			if tt.setup != nil {
				tt.setup(env.Root)
			}
			for _, dry := range []bool{true, false} {
				env.DryRun = dry
				rep := run(t, env, decodeJSON(t, `[{"exec": `+tt.res+`}]`))
				r := rep.Resources[0]
				if r.Status != tt.status || r.Note != tt.note {
					t.Errorf("dry=%v: %s %q (%s), want %s %q", dry, r.Status, r.Note, r.Error, tt.status, tt.note)
				}
				b, _ := os.ReadFile(filepath.Join(env.Root, "log"))
				want := ""
				if tt.ran && !dry {
					want = "ran\n"
				}
				if string(b) != want {
					t.Errorf("dry=%v: log %q, want %q", dry, b, want)
				}
			}
		})
	}
}

func TestExecFailure(t *testing.T) {
	env, _ := testEnv(t)
	env.Exec = OSRunner{}
	rep := run(t, env, decodeJSON(t, `[{"exec": {"command": "echo going; echo wrong >&2; exit 4"}}, {"file": {"path": "/after", "content": ""}}]`))
	if got := statuses(rep); got != "exec[echo going; echo wrong >&2; exit 4]=failed file[/after]=skipped" {
		t.Errorf("statuses %s", got)
	}
	if got := rep.Resources[0].Error; got != "exit status 4: going\nwrong" {
		t.Errorf("error %q", got)
	}
}

func TestCronLine(t *testing.T) {
	tests := []struct {
		checkin, command, want string
	}{
		{"", "/usr/local/bin/backup", "/usr/local/bin/backup"},
		{"", "date +%F >> /tmp/x", `date +\%F >> /tmp/x`},
		{"backup-ran", "/usr/local/bin/backup --full", "/c checkin backup-ran -- /usr/local/bin/backup --full"},
		{"backup-ran", "pg_dump db | gzip > /b/db.gz", `/c checkin backup-ran -- /bin/sh -c 'pg_dump db | gzip > /b/db.gz'`},
		{"backup-ran", "echo 'it''s' $(date +%s)", `/c checkin backup-ran -- /bin/sh -c 'echo '\''it'\'''\''s'\'' $(date +\%s)'`},
	}
	for _, tt := range tests {
		if got := CronLine("/c", tt.checkin, tt.command); got != tt.want {
			t.Errorf("CronLine(%q, %q)\n got %s\nwant %s", tt.checkin, tt.command, got, tt.want)
		}
	}
}

// TestCronLineRunsTheCommand runs a wrapped line through sh as cron would
// (after undoing cron's % escape), with a stand-in corral that prints its
// arguments and runs the command after --.
func TestCronLineRunsTheCommand(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh (Debian package dash)")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "corral")
	mustWrite(t, fake, "#!/bin/sh\necho \"args: $1 $2 $3\"\nshift 3\nexec \"$@\"\n")
	os.Chmod(fake, 0o755)
	line := CronLine(fake, "job", "echo 'a|b' | tr '|' - && echo 100%")
	line = strings.ReplaceAll(line, `\%`, "%")
	out, err := OSRunner{}.Run(t.Context(), Command{Path: "/bin/sh", Args: []string{"-c", line}})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("%v %+v", err, out)
	}
	if want := "args: checkin job --\na-b\n100%\n"; out.Output != want {
		t.Errorf("output %q, want %q", out.Output, want)
	}
}

func TestDownload(t *testing.T) {
	body := []byte("#!/bin/sh\necho tool v1\n")
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.URL.Path != "/tool" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	env, _ := testEnv(t)
	os.MkdirAll(filepath.Join(env.Root, "usr/local/bin"), 0o755)
	res := decodeJSON(t, `[{"download": {"url": "`+srv.URL+`/tool", "path": "/usr/local/bin/tool", "sha256": "`+hexSum+`", "mode": "0755"}}]`)
	p := filepath.Join(env.Root, "usr/local/bin/tool")

	env.DryRun = true
	if rep := run(t, env, res); rep.Totals.Changed != 1 || requests != 0 {
		t.Fatalf("dry run: %s, %d requests", statuses(rep), requests)
	}
	env.DryRun = false
	if rep := run(t, env, res); rep.Totals.Changed != 1 {
		t.Fatalf("first run: %s %s", statuses(rep), rep.Error)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o755 || readFile(t, p) != string(body) {
		t.Fatalf("downloaded file: %v %v", fi, err)
	}
	if rep := run(t, env, res); rep.Totals.UpToDate != 1 || requests != 1 {
		t.Fatalf("second run: %s, %d requests", statuses(rep), requests)
	}

	// A download that does not match its sha256 leaves the file as it was.
	mustWrite(t, p, "local\n")
	bad := decodeJSON(t, `[{"download": {"url": "`+srv.URL+`/tool", "path": "/usr/local/bin/tool", "sha256": "`+strings.Repeat("ab", 32)+`"}}]`)
	rep := run(t, env, bad)
	if rep.Totals.Failed != 1 || !strings.Contains(rep.Resources[0].Error, "sha256 is "+hexSum) {
		t.Fatalf("bad sum: %s %q", statuses(rep), rep.Resources[0].Error)
	}
	if readFile(t, p) != "local\n" {
		t.Error("file replaced by a bad download")
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestHostsBlockReplaced(t *testing.T) {
	block := HostsBlock([]NodeInfo{{Name: "a", PrivateIP: "10.0.0.1"}}, nil)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", block},
		{"no newline at end", "127.0.0.1 localhost", "127.0.0.1 localhost\n" + block},
		{"block in the middle", "1.1.1.1 x\n" + hostsBegin + "\n10.9.9.9\told\n" + hostsEnd + "\n2.2.2.2 y\n", "1.1.1.1 x\n" + block + "2.2.2.2 y\n"},
		{"unterminated block", hostsBegin + "\nx\n", hostsBegin + "\nx\n" + block},
	}
	for _, tt := range tests {
		if got := replaceBlock(tt.in, block); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestOSRunnerAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a command as another user needs root")
	}
	uid := uint32(65534)
	res, err := OSRunner{}.Run(t.Context(), Command{Path: "sh", Args: []string{"-c", "id -u; id -G"}, UID: &uid, GID: &uid, Dir: "/"})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%v %+v", err, res)
	}
	if res.Output != "65534\n65534\n" {
		t.Errorf("id says %q: want only uid and group 65534", res.Output)
	}
}

func TestNodeInfoFrom(t *testing.T) {
	n := api.Node{Name: "web-1", Labels: map[string]string{"role": "web", "aliases": "www, web.example"},
		Facts: api.Facts{Hostname: "web-1.internal", PrivateIP: "10.0.0.5"}}
	got := NodeInfoFrom(n)
	if got.Name != "web-1" || got.Hostname != "web-1.internal" || got.PrivateIP != "10.0.0.5" ||
		strings.Join(got.Aliases, "|") != "www|web.example" || got.Labels["role"] != "web" {
		t.Errorf("%+v", got)
	}
	if block := HostsBlock([]NodeInfo{got}, nil); !strings.Contains(block, "\n10.0.0.5\tweb-1.internal web-1 www web.example\n") {
		t.Errorf("hosts line: %q", block)
	}
}

func TestExecTimeout(t *testing.T) {
	env, _ := testEnv(t)
	env.Exec = OSRunner{WaitDelay: 100 * time.Millisecond}
	rep := run(t, env, decodeJSON(t, `[{"exec": {"command": "sleep 30", "timeout": "200ms"}}]`))
	if r := rep.Resources[0]; r.Status != StatusFailed || !strings.Contains(r.Error, "context deadline exceeded") {
		t.Errorf("%s %q", r.Status, r.Error)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/x.tgz", "https://example.com/x.tgz"},
		{"https://bob:pa55@example.com/x.tgz", "https://bob:xxxxx@example.com/x.tgz"},
		{"https://token@example.com/x", "https://token@example.com/x"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
