package converge

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeResources(t *testing.T) {
	res := decodeJSON(t, `[
		{"hosts": {}},
		{"package": {"name": ["curl", "htop"]}},
		{"user": {"name": "deploy", "shell": "/bin/bash", "home": "/home/deploy"}},
		{"file": {"path": "/etc/motd", "content": "Managed by corral\n", "mode": "0644"}},
		{"cron": {"name": "backup", "schedule": "0 3 * * *", "user": "root", "command": "/usr/local/bin/backup", "checkin": "backup-ran"}},
		{"template": {"path": "/etc/nginx/conf.d/upstream.conf", "source": "upstream.conf.tmpl", "notify": ["restart service nginx"]}},
		{"service": {"name": "nginx", "enabled": true, "running": true}},
		{"exec": {"command": "/usr/local/bin/warm-cache", "creates": "/var/cache/warm.done", "ignore_failure": true}}
	]`)
	var got []string
	for _, r := range res {
		got = append(got, r.ID())
	}
	want := "hosts[/etc/hosts] package[curl,htop] user[deploy] file[/etc/motd] cron[backup] " +
		"template[/etc/nginx/conf.d/upstream.conf] service[nginx] exec[/usr/local/bin/warm-cache]"
	if strings.Join(got, " ") != want {
		t.Errorf("ids\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if n := res[5].Notify; len(n) != 1 || n[0] != (Notification{"restart", "service", "nginx"}) {
		t.Errorf("notify = %+v", n)
	}
	if !res[7].IgnoreFailure || res[6].IgnoreFailure {
		t.Errorf("ignore_failure: exec %v, service %v", res[7].IgnoreFailure, res[6].IgnoreFailure)
	}
}

func TestDecodeResourcesErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"two keys", `[{"file": {"path": "/a"}, "link": {}}]`, "resources[0]: want one key, the resource type, have 2 (file, link)"},
		{"unknown type", `[{"fiel": {}}]`, "resources[0].fiel: unknown resource type (known: cron, directory, download, exec, file, group, hosts, link, package, service, sysctl, template, user)"},
		{"bad mode", `[{"file": {"path": "/a"}}, {"file": {"path": "/b", "mode": "644x"}}]`, `resources[1].file.mode: must be an octal string such as "0644", not "644x"`},
		{"mode as number", `[{"file": {"path": "/a", "mode": 420}}]`, "resources[0].file.mode: must be a string, not number"},
		{"unknown property", `[{"file": {"path": "/a", "mdoe": "0644"}}]`, `resources[0].file: unknown property "mdoe"`},
		{"relative path", `[{"file": {"path": "etc/motd"}}]`, `resources[0].file.path: must be an absolute clean path, not "etc/motd"`},
		{"content and source", `[{"file": {"path": "/a", "content": "x", "source": "y"}}]`, "resources[0].file.source: give content or source, not both"},
		{"template without source", `[{"template": {"path": "/a"}}]`, "resources[0].template.source: is required (or content)"},
		{"bad package", `[{"package": {"name": ["curl", "Bad Name"]}}]`, `resources[0].package.name[1]: "Bad Name" is not a Debian package name`},
		{"version with two names", `[{"package": {"name": ["a1", "b1"], "version": "1"}}]`, "resources[0].package.version: version and source take one package name"},
		{"cron name with dot", `[{"cron": {"name": "back.up", "schedule": "@daily", "command": "x"}}]`, `resources[0].cron.name: must be letters, digits, - and _ (cron skips files with other names in /etc/cron.d), not "back.up"`},
		{"cron schedule", `[{"cron": {"name": "b", "schedule": "0 3 * *", "command": "x"}}]`, `resources[0].cron.schedule: want five fields`},
		{"bad ensure", `[{"directory": {"path": "/a", "ensure": "gone"}}]`, `resources[0].directory.ensure: must be present or absent, not "gone"`},
		{"notify missing target", `[{"file": {"path": "/a", "notify": ["restart service nginx"]}}]`, `resources[0].file.notify[0]: no service "nginx" in the resources`},
		{"notify bad action", `[{"file": {"path": "/a", "notify": ["explode service nginx"]}}, {"service": {"name": "nginx"}}]`, `resources[0].file.notify[0]: a service takes restart, reload, start, stop, not "explode"`},
		{"notify not notifiable", `[{"file": {"path": "/a", "notify": ["restart file /b"]}}, {"file": {"path": "/b"}}]`, `resources[0].file.notify[0]: a file cannot be notified`},
		{"notify syntax", `[{"file": {"path": "/a", "notify": ["restart nginx"]}}]`, `resources[0].file.notify[0]: "restart nginx": want "ACTION TYPE NAME"`},
		{"duplicate", `[{"file": {"path": "/a"}}, {"file": {"path": "/a"}}]`, "resources[1].file: file[/a] is already resources[0]"},
		{"bad sha256", `[{"download": {"url": "https://x/y", "path": "/y", "sha256": "abc"}}]`, "resources[0].download.sha256: must be 64 hex digits"},
		{"bad extra ip", `[{"hosts": {"extra": [{"ip": "10.0.0.300", "names": ["a"]}]}}]`, `resources[0].hosts.extra[0].ip: "10.0.0.300" is not an IP address`},
		{"bad checkin", `[{"cron": {"name": "b", "schedule": "@daily", "command": "x", "checkin": "Bad Name"}}]`, "resources[0].cron.checkin: must be a check name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeErr(t, tt.in)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got %v\nwant prefix %s", err, tt.want)
			}
		})
	}
}

func TestDecodeReportsEveryBadEntry(t *testing.T) {
	err := decodeErr(t, `[{"file": {"path": "a"}}, {"file": {"path": "/ok"}}, {"link": {"path": "/l"}}]`)
	want := "resources[0].file.path: must be an absolute clean path, not \"a\"\nresources[2].link.to: is required"
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

func TestParseNotification(t *testing.T) {
	tests := []struct {
		in   string
		want Notification
	}{
		{"restart service nginx", Notification{"restart", "service", "nginx"}},
		{"  run exec  warm the cache ", Notification{"run", "exec", "warm the cache"}},
		{"reload\nservice\tnginx", Notification{"reload", "service", "nginx"}},
	}
	for _, tt := range tests {
		got, err := ParseNotification(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseNotification(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(`[{"file": {"path": "/etc/motd", "content": "hi\n", "mode": "0644", "notify": ["restart service x"]}}, {"service": {"name": "x"}}]`)
	f.Add(`[{"package": {"name": ["curl", "htop"]}}, {"cron": {"name": "b", "schedule": "@daily", "command": "x", "checkin": "c"}}]`)
	f.Add(`[{"hosts": null}, {"sysctl": {"name": "vm.swappiness", "value": 10}}, {"exec": {"command": "x", "returns": [0, 2]}}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var list []map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &list) != nil {
			return
		}
		res, err := DecodeResources(list)
		if err != nil {
			return
		}
		for _, r := range res {
			if r.provider == nil || r.Name != r.provider.Name() {
				t.Fatalf("%s: provider %v", r.ID(), r.provider)
			}
		}
	})
}
