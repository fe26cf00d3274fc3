package converge

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeDrift(t *testing.T) {
	res := decodeJSON(t, `[
		{"file": {"path": "/etc/motd", "content": "hi\n"}},
		{"template": {"path": "/etc/app.conf", "content": "x\n", "drift": "report"}},
		{"link": {"path": "/etc/alt", "to": "/etc/motd", "drift": "ignore"}},
		{"hosts": {"drift": "repair"}},
		{"directory": {"path": "/srv/app", "drift": "report"}},
		{"package": {"name": "curl"}}
	]`)
	got := map[string]Drift{}
	paths := map[string]string{}
	for _, r := range res {
		got[r.ID()] = r.Drift
		paths[r.ID()] = r.Path()
	}
	wantDrift := map[string]Drift{
		"file[/etc/motd]": DriftRepair, "template[/etc/app.conf]": DriftReport, "link[/etc/alt]": DriftIgnore,
		"hosts[/etc/hosts]": DriftRepair, "directory[/srv/app]": DriftReport, "package[curl]": "",
	}
	if !reflect.DeepEqual(got, wantDrift) {
		t.Errorf("drift %v\nwant %v", got, wantDrift)
	}
	wantPaths := map[string]string{
		"file[/etc/motd]": "/etc/motd", "template[/etc/app.conf]": "/etc/app.conf", "link[/etc/alt]": "/etc/alt",
		"hosts[/etc/hosts]": "/etc/hosts", "directory[/srv/app]": "/srv/app", "package[curl]": "",
	}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("paths %v\nwant %v", paths, wantPaths)
	}
	want := []ManagedPath{
		{Path: "/etc/motd", Resource: "file[/etc/motd]", Drift: DriftRepair},
		{Path: "/etc/app.conf", Resource: "template[/etc/app.conf]", Drift: DriftReport},
		{Path: "/etc/hosts", Resource: "hosts[/etc/hosts]", Drift: DriftRepair},
		{Path: "/srv/app", Resource: "directory[/srv/app]", Drift: DriftReport},
	}
	if mp := ManagedPaths(res); !reflect.DeepEqual(mp, want) {
		t.Errorf("managed paths\n got %v\nwant %v", mp, want)
	}
}

func TestDecodeDriftErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bad value", `[{"file": {"path": "/a", "drift": "fix"}}]`, `resources[0].file.drift: must be repair, report or ignore, not "fix"`},
		{"not a string", `[{"file": {"path": "/a", "drift": true}}]`, `resources[0].file.drift: must be repair, report or ignore`},
		{"not watchable", `[{"package": {"name": "curl", "drift": "report"}}]`, `resources[0].package.drift: only file, template, directory, link and hosts resources are watched for drift`},
		{"still strict", `[{"file": {"path": "/a", "drift": "report", "dirft": 1}}]`, `resources[0].file: unknown property "dirft"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeErr(t, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestRunOnly runs a dry run of one resource: only it is checked and
// reported, and its notification of a resource outside the selection is
// still reported.
func TestRunOnly(t *testing.T) {
	env, _ := testEnv(t)
	fake := systemdFake(map[string]bool{"nginx": true})
	env.Exec = fake
	res := decodeJSON(t, `[
		{"file": {"path": "/a.conf", "content": "a\n"}},
		{"template": {"path": "/b.conf", "content": "b {{ .Vars.v }}\n", "vars": {"v": 2}, "notify": ["restart service nginx"]}},
		{"service": {"name": "nginx", "manager": "systemd", "running": true}},
		{"file": {"path": "/c.conf", "content": "c\n"}}
	]`)
	mustWrite(t, filepath.Join(env.Root, "b.conf"), "b 1\n")
	env.DryRun = true
	env.Only = []string{"template[/b.conf]"}
	rep := run(t, env, res)
	if rep.Failed() {
		t.Fatal(rep.Error)
	}
	if got := statuses(rep); got != "template[/b.conf]=changed" {
		t.Errorf("statuses %s", got)
	}
	if d := rep.Resources[0].Diff; !strings.Contains(d, "-b 1") || !strings.Contains(d, "+b 2") {
		t.Errorf("diff %q", d)
	}
	if rep.Totals != (Totals{Changed: 1}) {
		t.Errorf("totals %+v", rep.Totals)
	}
	if len(rep.Notifications) != 1 || rep.Notifications[0].Action != "restart" || rep.Notifications[0].Status != StatusChanged {
		t.Errorf("notifications %+v", rep.Notifications)
	}
	if got := readFile(t, filepath.Join(env.Root, "b.conf")); got != "b 1\n" {
		t.Errorf("dry run wrote b.conf: %q", got)
	}
	for _, p := range []string{"a.conf", "c.conf"} {
		if fileExists(filepath.Join(env.Root, p)) {
			t.Errorf("%s was written", p)
		}
	}
	for _, c := range fake.commands() {
		if strings.Contains(c, "restart") {
			t.Errorf("dry run ran %q", c)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
