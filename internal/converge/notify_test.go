package converge

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// systemdFake answers systemctl as a machine where the named units are
// active and enabled.
func systemdFake(active map[string]bool) *fakeRunner {
	return &fakeRunner{respond: func(c Command) CommandResult {
		if c.Path == "systemctl" && len(c.Args) == 3 && (c.Args[0] == "is-active" || c.Args[0] == "is-enabled") {
			if active[c.Args[2]] {
				return CommandResult{}
			}
			return CommandResult{ExitCode: 3}
		}
		return CommandResult{}
	}}
}

func TestNotificationsDelayedAndDeduplicated(t *testing.T) {
	env, _ := testEnv(t)
	fake := systemdFake(map[string]bool{"nginx": true})
	env.Exec = fake
	res := decodeJSON(t, `[
		{"template": {"path": "/a.conf", "content": "a {{ .Vars.v }}\n", "vars": {"v": 1}, "notify": ["restart service nginx"]}},
		{"file": {"path": "/b.conf", "content": "b\n", "notify": ["restart service nginx", "reload service nginx", "run exec warm"]}},
		{"service": {"name": "nginx", "manager": "systemd", "running": true}},
		{"exec": {"name": "warm", "command": "warm-cache", "when_notified": true}},
		{"file": {"path": "/c.conf", "content": "c\n"}}
	]`)
	rep := run(t, env, res)
	if rep.Failed() {
		t.Fatal(rep.Error)
	}
	want := []string{
		"systemctl is-active --quiet nginx", // the service resource's check
		"systemctl is-active --quiet nginx", // restart or start?
		"systemctl restart nginx",           // after the last resource, once
		"systemctl reload nginx",
		"/bin/sh -c warm-cache",
	}
	if got := fake.commands(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
	var notes []string
	for _, n := range rep.Notifications {
		notes = append(notes, n.Action+" "+n.Type+" "+n.Name+"="+string(n.Status))
	}
	if got := strings.Join(notes, ", "); got != "restart service nginx=changed, reload service nginx=changed, run exec warm=changed" {
		t.Errorf("notifications %s", got)
	}
	if rep.Resources[3].Note != "runs when notified" || rep.Resources[3].Status != StatusUpToDate {
		t.Errorf("when_notified exec: %+v", rep.Resources[3])
	}

	// Nothing changed: nothing notified.
	fake.calls = nil
	rep = run(t, env, res)
	if got := fake.commands(); len(got) != 1 || len(rep.Notifications) != 0 {
		t.Errorf("second run commands %q, notifications %+v", got, rep.Notifications)
	}

	// A dry run reports the notification and runs nothing.
	fake.calls = nil
	env.DryRun = true
	env.Attributes = nil
	res[0].provider.(*templateSpec).Vars = map[string]any{"v": 2}
	rep = run(t, env, res)
	if len(rep.Notifications) != 1 || rep.Notifications[0].Diff != "restart nginx\n" || rep.Notifications[0].Status != StatusChanged {
		t.Errorf("dry notifications %+v", rep.Notifications)
	}
	for _, c := range fake.commands() {
		if !strings.Contains(c, "is-active") {
			t.Errorf("dry run ran %q", c)
		}
	}
}

func TestNotificationsRunAfterAFailure(t *testing.T) {
	env, _ := testEnv(t)
	fake := systemdFake(map[string]bool{"nginx": true})
	env.Exec = fake
	res := decodeJSON(t, `[
		{"file": {"path": "/a.conf", "content": "a\n", "notify": ["restart service nginx"]}},
		{"template": {"path": "/b.conf", "content": "{{ .Nope }}"}},
		{"service": {"name": "nginx", "manager": "systemd"}}
	]`)
	rep := run(t, env, res)
	if got := statuses(rep); got != "file[/a.conf]=changed template[/b.conf]=failed service[nginx]=skipped" {
		t.Errorf("statuses %s", got)
	}
	if got := fake.commands(); len(got) != 2 || got[1] != "systemctl restart nginx" || !strings.Contains(rep.Error, "template[/b.conf] failed") {
		t.Errorf("commands %q", got)
	}
}

func TestSecretsNeverReported(t *testing.T) {
	const secret = "hunter2-Tr0ub4dor"
	env, logs := testEnv(t)
	env.Secret = func(name string) (string, error) {
		if name == "db-password" {
			return secret, nil
		}
		return "", errors.New("no such secret")
	}
	env.Exec = &fakeRunner{respond: func(c Command) CommandResult {
		// A command that echoes what it was given, then fails.
		return CommandResult{ExitCode: 1, Output: "connecting with password " + secret + "\nfailed"}
	}}
	mustWrite(t, filepath.Join(env.Root, "etc/db.conf"), "user = app\npassword = old-password\n")
	res := decodeJSON(t, `[
		{"template": {"path": "/etc/db.conf", "content": "user = app\npassword = {{ secret \"db-password\" }}\n"}},
		{"file": {"path": "/etc/token", "content": "tok-123456\n", "sensitive": true}},
		{"exec": {"command": "psql -c 'select 1'", "ignore_failure": true}},
		{"template": {"path": "/etc/x", "content": "{{ secret \"db-password\" | printf \"%d\" }}\n{{ secret \"other\" }}"}}
	]`)
	for _, dry := range []bool{true, false} {
		env.DryRun = dry
		rep := run(t, env, res)
		b, _ := json.Marshal(rep)
		for _, leak := range []string{secret, "old-password", "tok-123456"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("dry=%v: report shows %q:\n%s", dry, leak, b)
			}
			if strings.Contains(logs.String(), leak) {
				t.Errorf("dry=%v: log shows %q:\n%s", dry, leak, logs)
			}
		}
		if got := rep.Resources[0].Diff; !strings.Contains(got, "(content diff redacted: sensitive)") || !strings.HasPrefix(got, "--- /etc/db.conf\n+++ /etc/db.conf\n") {
			t.Errorf("dry=%v: secret template diff %q", dry, got)
		}
		if got := rep.Resources[2].Error; !dry && got != "exit status 1: connecting with password (redacted)\nfailed" {
			t.Errorf("dry=%v: exec error %q", dry, got)
		}
		if got := rep.Resources[3].Error; !strings.Contains(got, "x:2:") || !strings.Contains(got, `secret "other": no such secret`) {
			t.Errorf("dry=%v: secret error %q", dry, got)
		}
	}
	if got := readFile(t, filepath.Join(env.Root, "etc/db.conf")); got != "user = app\npassword = "+secret+"\n" {
		t.Errorf("db.conf = %q", got)
	}
}

// TestOldSecretsNotShown: a template that stops using a secret does not
// show the secret in the diff of the file that held it.
func TestOldSecretsNotShown(t *testing.T) {
	const secret = "s3cret-from-before"
	env, _ := testEnv(t)
	env.Secret = func(string) (string, error) { return secret, nil }
	withSecret := decodeJSON(t, `[{"template": {"path": "/db.conf", "content": "password = {{ secret \"db\" }}\n"}}]`)
	without := decodeJSON(t, `[{"template": {"path": "/db.conf", "content": "password = changeme\n"}}]`)
	r := NewRunner()
	if _, err := r.Run(t.Context(), env, withSecret); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		runner *Runner
		redact []string
	}{{"same runner", r, nil}, {"new runner told the values", NewRunner(), []string{secret}}} {
		env.DryRun = true
		env.Redact = tc.redact
		rep, err := tc.runner.Run(t.Context(), env, without)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rep)
		if rep.Totals.Changed != 1 || strings.Contains(string(b), secret) || strings.Contains(string(b), "changeme") {
			t.Errorf("%s: %s", tc.name, b)
		}
	}
}
