package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConvergeTwice converges each resource on an empty root: the first
// run changes it to what is checked on disk, the second finds it up to date.
func TestConvergeTwice(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		res   string
		check func(t *testing.T, root string)
	}{
		{
			name: "file with content and mode",
			res:  `[{"file": {"path": "/etc/motd", "content": "Managed by corral\n", "mode": "0600"}}]`,
			check: func(t *testing.T, root string) {
				p := filepath.Join(root, "etc/motd")
				if got := readFile(t, p); got != "Managed by corral\n" {
					t.Errorf("content %q", got)
				}
				if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v", fi.Mode())
				}
			},
			setup: func(t *testing.T, root string) { os.MkdirAll(filepath.Join(root, "etc"), 0o755) },
		},
		{
			name:  "file from source replaces old content",
			setup: func(t *testing.T, root string) { mustWrite(t, filepath.Join(root, "etc/app.conf"), "old\n") },
			res:   `[{"file": {"path": "/etc/app.conf", "source": "app.conf"}}]`,
			check: func(t *testing.T, root string) {
				if got := readFile(t, filepath.Join(root, "etc/app.conf")); got != "port = 8080\n" {
					t.Errorf("content %q", got)
				}
			},
		},
		{
			name:  "file mode only",
			setup: func(t *testing.T, root string) { mustWrite(t, filepath.Join(root, "run.sh"), "#!/bin/sh\n") },
			res:   `[{"file": {"path": "/run.sh", "mode": "0755"}}]`,
			check: func(t *testing.T, root string) {
				fi, _ := os.Stat(filepath.Join(root, "run.sh"))
				if fi.Mode().Perm() != 0o755 || readFile(t, filepath.Join(root, "run.sh")) != "#!/bin/sh\n" {
					t.Errorf("mode %v", fi.Mode())
				}
			},
		},
		{
			name:  "file absent",
			setup: func(t *testing.T, root string) { mustWrite(t, filepath.Join(root, "etc/old.conf"), "x\n") },
			res:   `[{"file": {"path": "/etc/old.conf", "ensure": "absent"}}]`,
			check: func(t *testing.T, root string) {
				if _, err := os.Stat(filepath.Join(root, "etc/old.conf")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("still there: %v", err)
				}
			},
		},
		{
			name: "directory recursive",
			res:  `[{"directory": {"path": "/srv/app/releases", "mode": "0750", "recursive": true}}]`,
			check: func(t *testing.T, root string) {
				for d, mode := range map[string]fs.FileMode{"srv": 0o755, "srv/app": 0o755, "srv/app/releases": 0o750} {
					fi, err := os.Stat(filepath.Join(root, d))
					if err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
						t.Errorf("%s: %v %v, want mode %v", d, fi, err, mode)
					}
				}
			},
		},
		{
			name: "link",
			setup: func(t *testing.T, root string) {
				mustWrite(t, filepath.Join(root, "etc/nginx/sites-available/app"), "x")
			},
			res: `[{"directory": {"path": "/etc/nginx/sites-enabled"}}, {"link": {"path": "/etc/nginx/sites-enabled/app", "to": "../sites-available/app"}}]`,
			check: func(t *testing.T, root string) {
				to, err := os.Readlink(filepath.Join(root, "etc/nginx/sites-enabled/app"))
				if err != nil || to != "../sites-available/app" {
					t.Errorf("link -> %q, %v", to, err)
				}
				if got := readFile(t, filepath.Join(root, "etc/nginx/sites-enabled/app")); got != "x" {
					t.Errorf("through the link: %q", got)
				}
			},
		},
		{
			name: "template with facts, attributes, vars and nodes",
			res:  `[{"directory": {"path": "/etc/nginx/conf.d", "recursive": true}}, {"template": {"path": "/etc/nginx/conf.d/upstream.conf", "source": "upstream.conf.tmpl", "vars": {"port": 8080}}}]`,
			check: func(t *testing.T, root string) {
				want := "# web-1 (10.0.0.5) env=prod\nupstream api {\nserver 10.0.0.1:8080;server 10.0.0.2:8080;\n}\n"
				if got := readFile(t, filepath.Join(root, "etc/nginx/conf.d/upstream.conf")); got != want {
					t.Errorf("rendered\n%s\nwant\n%s", got, want)
				}
			},
		},
		{
			name: "hosts block",
			setup: func(t *testing.T, root string) {
				mustWrite(t, filepath.Join(root, "etc/hosts"), "127.0.0.1\tlocalhost\n")
			},
			res: `[{"hosts": {"extra": [{"ip": "10.0.0.9", "names": ["db.internal"]}]}}]`,
			check: func(t *testing.T, root string) {
				want := "127.0.0.1\tlocalhost\n" + hostsBegin + "\n10.0.0.1\tapi-1.example api-1 api\n10.0.0.2\tapi-2\n10.0.0.5\tweb-1\n10.0.0.9\tdb.internal\n" + hostsEnd + "\n"
				if got := readFile(t, filepath.Join(root, "etc/hosts")); got != want {
					t.Errorf("hosts\n%s\nwant\n%s", got, want)
				}
			},
		},
		{
			name: "sysctl",
			setup: func(t *testing.T, root string) {
				mustWrite(t, filepath.Join(root, "proc/sys/net/ipv4/ip_forward"), "0\n")
			},
			res: `[{"directory": {"path": "/etc/sysctl.d", "recursive": true}}, {"sysctl": {"name": "net.ipv4.ip_forward", "value": 1}}]`,
			check: func(t *testing.T, root string) {
				if got := readFile(t, filepath.Join(root, "proc/sys/net/ipv4/ip_forward")); got != "1\n" {
					t.Errorf("proc: %q", got)
				}
				if got := readFile(t, filepath.Join(root, "etc/sysctl.d/60-corral-net.ipv4.ip_forward.conf")); got != "# Managed by corral.\nnet.ipv4.ip_forward = 1\n" {
					t.Errorf("conf: %q", got)
				}
			},
		},
		{
			name: "cron with checkin",
			res:  `[{"directory": {"path": "/etc/cron.d", "recursive": true}}, {"cron": {"name": "backup", "schedule": "0 3 * * *", "command": "/usr/local/bin/backup --full", "checkin": "backup-ran", "env": {"MAILTO": ""}}}]`,
			check: func(t *testing.T, root string) {
				want := "# Managed by corral: cron backup. Local changes are overwritten.\nMAILTO=\n0 3 * * * root /opt/corral checkin backup-ran -- /usr/local/bin/backup --full\n"
				if got := readFile(t, filepath.Join(root, "etc/cron.d/backup")); got != want {
					t.Errorf("cron.d\n%q\nwant\n%q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			env.CorralPath = "/opt/corral"
			env.Node = NodeInfo{Name: "web-1", PrivateIP: "10.0.0.5"}
			env.Attributes = map[string]any{"env": "prod"}
			env.Sources = map[string][]byte{
				"app.conf":           []byte("port = 8080\n"),
				"upstream.conf.tmpl": []byte("# {{ .Node.Name }} ({{ .Node.PrivateIP }}) env={{ .Attributes.env }}\nupstream api {\n{{ range nodes \"role=api\" }}server {{ .PrivateIP }}:{{ $.Vars.port }};{{ end }}\n}\n"),
			}
			env.Nodes = NodesFrom([]NodeInfo{
				{Name: "web-1", PrivateIP: "10.0.0.5", Labels: map[string]string{"role": "web"}},
				{Name: "api-2", PrivateIP: "10.0.0.2", Labels: map[string]string{"role": "api"}},
				{Name: "api-1", Hostname: "api-1.example", PrivateIP: "10.0.0.1", Aliases: []string{"api"}, Labels: map[string]string{"role": "api"}},
				{Name: "new", Labels: map[string]string{"role": "db"}}, // no IP yet: not in hosts
			})
			if tt.setup != nil {
				tt.setup(t, env.Root)
			}
			res := decodeJSON(t, tt.res)
			first := run(t, env, res)
			if first.Failed() || first.Totals.Changed != len(res) {
				t.Fatalf("first run: %s; error %q; %+v", statuses(first), first.Error, first.Resources)
			}
			tt.check(t, env.Root)
			second := run(t, env, res)
			if second.Failed() || second.Totals.UpToDate != len(res) {
				t.Fatalf("second run: %s; error %q; %+v", statuses(second), second.Error, second.Resources)
			}
			tt.check(t, env.Root)
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	env, _ := testEnv(t)
	mustWrite(t, filepath.Join(env.Root, "etc/app.conf"), "a\nb\nc\n")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(filepath.Join(env.Root, "etc/app.conf"), old, old)
	res := decodeJSON(t, `[
		{"file": {"path": "/etc/app.conf", "content": "a\nB\nc\n", "mode": "0600"}},
		{"file": {"path": "/etc/new.conf", "content": "new\n"}},
		{"directory": {"path": "/srv/x/y", "recursive": true}},
		{"link": {"path": "/etc/l", "to": "/etc/app.conf"}}
	]`)
	env.DryRun = true
	rep := run(t, env, res)
	if got, want := statuses(rep), "file[/etc/app.conf]=changed file[/etc/new.conf]=changed directory[/srv/x/y]=changed link[/etc/l]=changed"; got != want {
		t.Fatalf("statuses\n got %s\nwant %s", got, want)
	}
	wantDiffs := []string{
		"mode 0644 -> 0600\n--- /etc/app.conf\n+++ /etc/app.conf\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
		"create /etc/new.conf\n--- /dev/null\n+++ /etc/new.conf\n@@ -0,0 +1 @@\n+new\n",
		"create directory /srv, /srv/x, /srv/x/y\n",
		"link /etc/l -> /etc/app.conf\n",
	}
	for i, want := range wantDiffs {
		if rep.Resources[i].Diff != want {
			t.Errorf("diff %d\n got %q\nwant %q", i, rep.Resources[i].Diff, want)
		}
	}
	if got := readFile(t, filepath.Join(env.Root, "etc/app.conf")); got != "a\nb\nc\n" {
		t.Errorf("app.conf changed: %q", got)
	}
	fi, _ := os.Stat(filepath.Join(env.Root, "etc/app.conf"))
	if fi.Mode().Perm() != 0o644 || !fi.ModTime().Equal(old) {
		t.Errorf("app.conf touched: %v %v", fi.Mode(), fi.ModTime())
	}
	var names []string
	filepath.WalkDir(env.Root, func(p string, d fs.DirEntry, err error) error {
		names = append(names, strings.TrimPrefix(p, env.Root))
		return nil
	})
	if got := strings.Join(names, " "); got != " /etc /etc/app.conf" {
		t.Errorf("files after the dry run: %s", got)
	}
	// The real run makes exactly the changes shown.
	env.DryRun = false
	rep = run(t, env, res)
	for i, want := range wantDiffs {
		if rep.Resources[i].Diff != want {
			t.Errorf("real run diff %d\n got %q\nwant %q", i, rep.Resources[i].Diff, want)
		}
	}
}

func TestTemplateErrorStopsTheRun(t *testing.T) {
	env, _ := testEnv(t)
	env.Sources = map[string][]byte{"bad.tmpl": []byte("line 1\nline 2\n{{ .Attributes.missing }}\n")}
	env.Attributes = map[string]any{"present": 1}
	res := decodeJSON(t, `[
		{"file": {"path": "/a", "content": "a\n"}},
		{"template": {"path": "/b", "source": "bad.tmpl"}},
		{"file": {"path": "/c", "content": "c\n"}}
	]`)
	rep := run(t, env, res)
	if got, want := statuses(rep), "file[/a]=changed template[/b]=failed file[/c]=skipped"; got != want {
		t.Fatalf("statuses\n got %s\nwant %s", got, want)
	}
	if e := rep.Resources[1].Error; !strings.Contains(e, "bad.tmpl:3:") || !strings.Contains(e, "missing") {
		t.Errorf("template error without its line: %q", e)
	}
	want := "template[/b] failed: " + rep.Resources[1].Error + "; the 1 resources before it are converged, the 1 after it were skipped"
	if rep.Error != want {
		t.Errorf("report error\n got %q\nwant %q", rep.Error, want)
	}
	if rep.Totals != (Totals{Changed: 1, Failed: 1, Skipped: 1}) {
		t.Errorf("totals %+v", rep.Totals)
	}
	if got := readFile(t, filepath.Join(env.Root, "a")); got != "a\n" {
		t.Errorf("/a = %q", got)
	}
	for _, p := range []string{"b", "c"} {
		if _, err := os.Stat(filepath.Join(env.Root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("/%s exists: %v", p, err)
		}
	}

	// A parse error names its line too.
	env.Sources["bad.tmpl"] = []byte("ok\n{{ if }}\n")
	rep = run(t, env, res)
	if e := rep.Resources[1].Error; !strings.Contains(e, "bad.tmpl:2:") {
		t.Errorf("parse error without its line: %q", e)
	}
}

func TestIgnoreFailure(t *testing.T) {
	env, _ := testEnv(t)
	res := decodeJSON(t, `[
		{"template": {"path": "/a", "content": "{{ nope }}", "ignore_failure": true}},
		{"file": {"path": "/b", "content": "b\n"}}
	]`)
	rep := run(t, env, res)
	if got, want := statuses(rep), "template[/a]=failed file[/b]=changed"; got != want {
		t.Fatalf("statuses\n got %s\nwant %s", got, want)
	}
	if rep.Failed() || !rep.Resources[0].Ignored {
		t.Errorf("ignored failure: error %q, ignored %v", rep.Error, rep.Resources[0].Ignored)
	}
}

func TestBackups(t *testing.T) {
	env, _ := testEnv(t)
	p := filepath.Join(env.Root, "etc/app.conf")
	mustWrite(t, p, "v0\n")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env.Now = func() time.Time { now = now.Add(time.Second); return now }
	for i := 1; i <= 4; i++ {
		content, _ := json.Marshal("v" + string(rune('0'+i)) + "\n")
		res := decodeJSON(t, `[{"file": {"path": "/etc/app.conf", "backup": 2, "content": `+string(content)+`}}]`)
		if rep := run(t, env, res); rep.Totals.Changed != 1 {
			t.Fatalf("run %d: %s %s", i, statuses(rep), rep.Error)
		}
	}
	backups, _ := filepath.Glob(filepath.Join(env.Root, "var/lib/corral/backup/etc/app.conf.*"))
	if len(backups) != 2 {
		t.Fatalf("backups %v, want 2", backups)
	}
	if a, b := readFile(t, backups[0]), readFile(t, backups[1]); a != "v2\n" || b != "v3\n" {
		t.Errorf("backups hold %q %q, want v2 v3", a, b)
	}
}

func TestWriteAtomicLeavesNoPart(t *testing.T) {
	dir := t.TempDir()
	// Renaming over a non-empty directory fails after the content is
	// written: the directory stays and no temporary file is left.
	target := filepath.Join(dir, "conf")
	mustWrite(t, filepath.Join(target, "keep"), "k")
	err := writeAtomic(target, []byte("new"), meta{uid: -1, gid: -1})
	if err == nil {
		t.Fatal("no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "conf" {
		t.Errorf("left in dir: %v", entries)
	}
}

func TestRunOneAtATime(t *testing.T) {
	env, _ := testEnv(t)
	started, release := make(chan bool), make(chan bool)
	env.Exec = &fakeRunner{respond: func(c Command) CommandResult {
		started <- true
		<-release
		return CommandResult{}
	}}
	res := decodeJSON(t, `[{"exec": {"command": "true"}}]`)
	r := NewRunner()
	done := make(chan Report)
	go func() {
		rep, _ := r.Run(context.Background(), env, res)
		done <- rep
	}()
	<-started
	if _, err := r.Run(context.Background(), env, res); !errors.Is(err, ErrBusy) {
		t.Errorf("second run: %v, want ErrBusy", err)
	}
	close(release)
	if rep := <-done; rep.Totals.Changed != 1 {
		t.Errorf("first run: %s %s", statuses(rep), rep.Error)
	}
	if _, err := r.Run(context.Background(), env, decodeJSON(t, `[]`)); err != nil {
		t.Errorf("run after the first ended: %v", err)
	}
}

func TestCanceledRunSkipsTheRest(t *testing.T) {
	env, _ := testEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	env.Exec = &fakeRunner{respond: func(c Command) CommandResult { cancel(); return CommandResult{} }}
	res := decodeJSON(t, `[{"exec": {"command": "x"}}, {"file": {"path": "/a", "content": ""}}]`)
	rep, err := NewRunner().Run(ctx, env, res)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statuses(rep), "exec[x]=changed file[/a]=skipped"; got != want || !strings.Contains(rep.Error, "context canceled") {
		t.Errorf("statuses %s, error %q", got, rep.Error)
	}
}

func TestRunLockFile(t *testing.T) {
	env, _ := testEnv(t)
	env.LockFile = "/var/lib/corral/converge.lock"
	res := decodeJSON(t, `[{"file": {"path": "/a", "content": "a"}}]`)
	if _, err := NewRunner().Run(context.Background(), env, res); err != nil {
		t.Fatal(err)
	}
	// Another process's lock (another open file description here).
	f, err := os.Open(filepath.Join(env.Root, "var/lib/corral/converge.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRunner().Run(context.Background(), env, res); !errors.Is(err, ErrBusy) {
		t.Errorf("run while locked: %v, want ErrBusy", err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := NewRunner().Run(context.Background(), env, res); err != nil {
		t.Errorf("run after unlock: %v", err)
	}
}

// TestDryRunWithUserToBeCreated: a file owned by a user that an earlier
// resource would create reports the owner instead of failing.
func TestDryRunWithUserToBeCreated(t *testing.T) {
	env, _ := testEnv(t)
	mustWrite(t, filepath.Join(env.Root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n")
	mustWrite(t, filepath.Join(env.Root, "etc/group"), "root:x:0:\n")
	env.Exec = &fakeRunner{}
	env.DryRun = true
	res := decodeJSON(t, `[
		{"user": {"name": "deploy"}},
		{"file": {"path": "/etc/app.conf", "content": "x\n", "owner": "deploy", "group": "deploy"}}
	]`)
	rep := run(t, env, res)
	if got := statuses(rep); got != "user[deploy]=changed file[/etc/app.conf]=changed" {
		t.Fatalf("%s %s", got, rep.Error)
	}
	if got, want := rep.Resources[1].Diff, "create /etc/app.conf\nowner deploy (not a user yet)\ngroup deploy (not a group yet)\n"; !strings.HasPrefix(got, want) {
		t.Errorf("diff %q, want prefix %q", got, want)
	}
	env.DryRun = false
	env.Exec = &fakeRunner{} // useradd does nothing here: the owner stays unknown
	rep = run(t, env, res)
	if got := rep.Resources[1].Error; got != `owner: user "deploy" not found` {
		t.Errorf("real run error %q", got)
	}
}

func TestReportText(t *testing.T) {
	rep := Report{
		Started:  time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC),
		Duration: 1234 * time.Millisecond,
		DryRun:   true,
		Resources: []ResourceResult{
			{Type: "file", Name: "/etc/motd", Status: StatusChanged, Diff: "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n", Duration: 3 * time.Millisecond},
			{Type: "package", Name: "curl", Status: StatusUpToDate},
			{Type: "exec", Name: "warm", Status: StatusUpToDate, Note: "not run: /done exists"},
			{Type: "template", Name: "/b", Status: StatusFailed, Error: "render template: b:3: boom"},
			{Type: "file", Name: "/c", Status: StatusSkipped},
		},
		Notifications: []ResourceResult{{Type: "service", Name: "nginx", Action: "restart", Status: StatusChanged, Diff: "restart nginx\n"}},
		Totals:        Totals{Changed: 1, UpToDate: 2, Failed: 1, Skipped: 1},
		Error:         "template[/b] failed",
	}
	var b strings.Builder
	if err := rep.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	want := `converge 2026-11-25T16:00:00Z, 1.234s (dry run: nothing was changed): 1 changed, 2 up to date, 1 failed, 1 skipped
  changed    file[/etc/motd] (3ms)
      --- a
      +++ b
      @@ -1 +1 @@
      -x
      +y
  failed     template[/b] (0s)
      error: render template: b:3: boom
  skipped    file[/c] (0s)
notifications:
  changed    restart service[nginx] (0s)
      restart nginx
error: template[/b] failed
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	rep.WriteText(&b, true)
	if !strings.Contains(b.String(), "  up-to-date exec[warm] (0s) not run: /done exists\n") {
		t.Errorf("verbose text without the up-to-date resources:\n%s", b.String())
	}
}

func TestFileWithoutItsDirectory(t *testing.T) {
	env, _ := testEnv(t)
	res := decodeJSON(t, `[{"file": {"path": "/srv/app/app.conf", "content": "x\n"}}]`)
	env.DryRun = true
	rep := run(t, env, res)
	if got := rep.Resources[0].Diff; rep.Failed() || !strings.HasPrefix(got, "create /srv/app/app.conf\n(directory /srv/app does not exist yet)\n") {
		t.Errorf("dry run: %q %s", got, rep.Error)
	}
	env.DryRun = false
	rep = run(t, env, res)
	if got := rep.Resources[0].Error; got != "directory /srv/app does not exist (a directory resource before this one makes it)" {
		t.Errorf("error %q", got)
	}
}

func TestDirectoryThroughALink(t *testing.T) {
	env, _ := testEnv(t)
	os.MkdirAll(filepath.Join(env.Root, "data/www"), 0o700)
	os.MkdirAll(filepath.Join(env.Root, "var"), 0o755)
	os.Symlink("../data/www", filepath.Join(env.Root, "var/www"))
	rep := run(t, env, decodeJSON(t, `[{"directory": {"path": "/var/www", "mode": "0755"}}]`))
	if rep.Failed() || rep.Resources[0].Diff != "mode 0700 -> 0755\n" {
		t.Fatalf("%s %q", rep.Error, rep.Resources[0].Diff)
	}
	if fi, _ := os.Stat(filepath.Join(env.Root, "data/www")); fi.Mode().Perm() != 0o755 {
		t.Errorf("target mode %v", fi.Mode())
	}
}

func TestLongDiffCut(t *testing.T) {
	env, _ := testEnv(t)
	line := strings.Repeat("x", 99) + "\n"
	content, _ := json.Marshal(strings.Repeat(line, 1000)) // 100,000 bytes
	rep := run(t, env, decodeJSON(t, `[{"file": {"path": "/big", "content": `+string(content)+`}}]`))
	d := rep.Resources[0].Diff
	head := "create /big\n--- /dev/null\n+++ /big\n@@ -0,0 +1,1000 @@\n"
	kept := (maxDiff - len(head)) / 101 // whole "+" lines that fit
	want := head + strings.Repeat("+"+line, kept) + fmt.Sprintf("(diff cut: %d more bytes)\n", len(head)+1000*101-len(head)-kept*101)
	if d != want {
		t.Errorf("diff of %d bytes ends %q", len(d), d[len(d)-60:])
	}
	if got := readFile(t, filepath.Join(env.Root, "big")); len(got) != 100000 {
		t.Errorf("file of %d bytes", len(got))
	}
}
