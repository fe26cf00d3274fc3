package converge

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// machineFake plays apt, dpkg, useradd, an nginx init script and a cache
// warmer against files under root.
type machineFake struct {
	root      string
	mu        sync.Mutex
	installed map[string]bool
	running   bool
	changes   []string // commands that changed something
}

func (m *machineFake) respond(c Command) CommandResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case c.Path == "dpkg-query":
		var out strings.Builder
		for _, n := range c.Args[3:] {
			if m.installed[n] {
				out.WriteString(n + "\tii \t1.0\n")
			}
		}
		return CommandResult{Output: out.String()}
	case c.Path == "apt-get":
		for _, n := range c.Args {
			if !strings.HasPrefix(n, "-") && n != "install" && !strings.HasPrefix(n, "Dpkg::") {
				m.installed[n] = true
			}
		}
	case c.Path == "useradd":
		name := c.Args[len(c.Args)-1]
		f, _ := os.OpenFile(filepath.Join(m.root, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(name + ":x:1001:1001::/home/deploy:/bin/bash\n")
		f.Close()
	case strings.HasSuffix(c.Path, "/etc/init.d/nginx"):
		switch c.Args[0] {
		case "status":
			if !m.running {
				return CommandResult{ExitCode: 3}
			}
			return CommandResult{}
		case "start", "restart":
			m.running = true
		}
	case c.Path == "/bin/sh" && c.Args[1] == "/usr/local/bin/warm-cache":
		os.WriteFile(filepath.Join(m.root, "var/cache/warm.done"), nil, 0o644)
	}
	m.changes = append(m.changes, strings.ReplaceAll(c.String(), m.root, "ROOT"))
	return CommandResult{}
}

// TestExampleRole converges the role of the configuration-management
// issue: a dry run changes nothing, the first run converges everything and
// restarts nginx once, the second finds everything up to date.
func TestExampleRole(t *testing.T) {
	env, _ := testEnv(t)
	root := env.Root
	for _, d := range []string{"etc/nginx/conf.d", "etc/cron.d", "etc/init.d", "var/cache"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	mustWrite(t, filepath.Join(root, "etc/hosts"), "127.0.0.1\tlocalhost\n")
	mustWrite(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n")
	mustWrite(t, filepath.Join(root, "etc/group"), "root:x:0:\n")
	mustWrite(t, filepath.Join(root, "etc/init.d/nginx"), "#!/bin/sh\n")
	fake := &machineFake{root: root, installed: map[string]bool{}}
	env.Exec = &fakeRunner{respond: fake.respond}
	env.CorralPath = "/usr/bin/corral"
	env.Sources = map[string][]byte{"upstream.conf.tmpl": []byte(
		"upstream api {\n{{ range nodes \"role=api\" }}  server {{ .PrivateIP }}:8080;\n{{ end }}}\n")}
	env.Nodes = NodesFrom([]NodeInfo{
		{Name: "api-1", PrivateIP: "10.0.0.1", Labels: map[string]string{"role": "api"}},
		{Name: "web-1", PrivateIP: "10.0.0.5", Aliases: []string{"www"}, Labels: map[string]string{"role": "web"}},
	})
	res := decodeJSON(t, `[
		{"hosts": {}},
		{"package": {"name": ["curl", "htop"]}},
		{"user": {"name": "deploy", "shell": "/bin/bash", "home": "/home/deploy"}},
		{"file": {"path": "/etc/motd", "content": "Managed by corral\n", "mode": "0644"}},
		{"cron": {"name": "backup", "schedule": "0 3 * * *", "user": "root", "command": "/usr/local/bin/backup", "checkin": "backup-ran"}},
		{"template": {"path": "/etc/nginx/conf.d/upstream.conf", "source": "upstream.conf.tmpl", "notify": ["restart service nginx"]}},
		{"service": {"name": "nginx", "enabled": true, "running": true}},
		{"exec": {"command": "/usr/local/bin/warm-cache", "creates": "/var/cache/warm.done"}}
	]`)
	snapshot := func() string {
		var b strings.Builder
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			b.WriteString(strings.TrimPrefix(p, root) + " " + fi.Mode().String() + "\n")
			if fi.Mode().IsRegular() {
				c, _ := os.ReadFile(p)
				b.Write(c)
			}
			return nil
		})
		return b.String()
	}

	before := snapshot()
	env.DryRun = true
	rep := run(t, env, res)
	if rep.Totals.Changed != 8 || len(rep.Notifications) != 1 || rep.Failed() {
		t.Fatalf("dry run: %s; %+v; %s", statuses(rep), rep.Notifications, rep.Error)
	}
	if after := snapshot(); after != before || len(fake.changes) != 0 {
		t.Fatalf("the dry run changed things: %v\n%s", fake.changes, after)
	}

	env.DryRun = false
	rep = run(t, env, res)
	if rep.Totals.Changed != 8 || rep.Failed() {
		t.Fatalf("first run: %s; %s", statuses(rep), rep.Error)
	}
	wantChanges := []string{
		"apt-get -o RootDir=ROOT -o DPkg::Chroot-Directory=ROOT install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold curl htop",
		"useradd --root ROOT --home /home/deploy --shell /bin/bash deploy",
		"ROOT/etc/init.d/nginx start",
		"/bin/sh -c /usr/local/bin/warm-cache",
		"ROOT/etc/init.d/nginx restart",
	}
	if strings.Join(fake.changes, "\n") != strings.Join(wantChanges, "\n") {
		t.Errorf("commands\n got %q\nwant %q", fake.changes, wantChanges)
	}
	files := map[string]string{
		"etc/hosts":                      "127.0.0.1\tlocalhost\n" + hostsBegin + "\n10.0.0.1\tapi-1\n10.0.0.5\tweb-1 www\n" + hostsEnd + "\n",
		"etc/motd":                       "Managed by corral\n",
		"etc/cron.d/backup":              "# Managed by corral: cron backup. Local changes are overwritten.\n0 3 * * * root /usr/bin/corral checkin backup-ran -- /usr/local/bin/backup\n",
		"etc/nginx/conf.d/upstream.conf": "upstream api {\n  server 10.0.0.1:8080;\n}\n",
	}
	for p, want := range files {
		if got := readFile(t, filepath.Join(root, p)); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", p, got, want)
		}
	}
	for _, lvl := range []string{"2", "3", "4", "5"} {
		if _, err := os.Readlink(filepath.Join(root, "etc/rc"+lvl+".d/S01nginx")); err != nil {
			t.Errorf("nginx not enabled in runlevel %s: %v", lvl, err)
		}
	}

	fake.changes = nil
	rep = run(t, env, res)
	if rep.Totals.UpToDate != 8 || len(rep.Notifications) != 0 || len(fake.changes) != 0 {
		t.Fatalf("second run: %s; notifications %+v; commands %q", statuses(rep), rep.Notifications, fake.changes)
	}
}
