package converge

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUserAndGroupCommands(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\ndeploy:x:1001:1001:Deploy:/home/deploy:/bin/sh\n"
	group := "root:x:0:\ndeploy:x:1001:\nadm:x:4:deploy\nsudo:x:27:\n"
	tests := []struct {
		name, res, diff, cmd string
	}{
		{"create user", `{"user": {"name": "app", "uid": 2000, "group": "adm", "groups": ["sudo"], "home": "/srv/app", "shell": "/bin/bash", "system": true, "manage_home": true}}`,
			"create user app\nuid 2000\ngroup adm\nhome /srv/app\nshell /bin/bash\ngroups sudo\n",
			"useradd --root ROOT --uid 2000 --gid adm --home /srv/app --shell /bin/bash --groups sudo --system --create-home app"},
		{"change shell and groups", `{"user": {"name": "deploy", "shell": "/bin/bash", "groups": ["adm", "sudo"], "home": "/home/deploy"}}`,
			"change user deploy\nshell /bin/sh -> /bin/bash\ngroups adm -> adm,sudo\n",
			"usermod --root ROOT --shell /bin/bash --groups adm,sudo deploy"},
		{"user up to date", `{"user": {"name": "deploy", "uid": 1001, "group": "deploy", "groups": ["adm"], "comment": "Deploy"}}`, "", ""},
		{"remove user", `{"user": {"name": "deploy", "ensure": "absent", "manage_home": true}}`, "remove user deploy\n", "userdel --root ROOT --remove deploy"},
		{"remove missing user", `{"user": {"name": "nobody2", "ensure": "absent"}}`, "", ""},
		{"create group", `{"group": {"name": "web", "gid": 3000, "members": ["deploy"]}}`, "create group web\ngid 3000\nmembers deploy\n",
			"groupadd --root ROOT --gid 3000 web; gpasswd --root ROOT --members deploy web"},
		{"group members", `{"group": {"name": "sudo", "members": ["deploy"]}}`, "change group sudo\nmembers (none) -> deploy\n",
			"gpasswd --root ROOT --members deploy sudo"},
		{"group gid", `{"group": {"name": "adm", "gid": 5, "members": ["deploy"]}}`, "change group adm\ngid 4 -> 5\n", "groupmod --root ROOT --gid 5 adm"},
		{"group up to date", `{"group": {"name": "adm", "gid": 4}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			mustWrite(t, filepath.Join(env.Root, "etc/passwd"), passwd)
			mustWrite(t, filepath.Join(env.Root, "etc/group"), group)
			fake := &fakeRunner{}
			env.Exec = fake
			rep := run(t, env, decodeJSON(t, "["+tt.res+"]"))
			if rep.Failed() || rep.Resources[0].Diff != tt.diff {
				t.Fatalf("diff\n got %q (%s)\nwant %q", rep.Resources[0].Diff, rep.Error, tt.diff)
			}
			got := strings.ReplaceAll(strings.Join(fake.commands(), "; "), env.Root, "ROOT")
			if got != tt.cmd {
				t.Errorf("commands\n got %q\nwant %q", got, tt.cmd)
			}
		})
	}
}

// TestUserAndGroupForReal creates, changes and removes a uniquely named
// user and group on the machine with the shadow tools.
func TestUserAndGroupForReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating users needs root")
	}
	for _, tool := range []string{"useradd", "usermod", "userdel", "groupadd", "groupdel", "gpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package passwd)", tool)
		}
	}
	suffix := time.Now().UnixNano() % 1e8
	name, grp := fmt.Sprintf("ctu%d", suffix), fmt.Sprintf("ctg%d", suffix)
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", grp).Run()
	})
	env := Env{Root: "/", Exec: OSRunner{}}
	converge := func(res string, want Status) {
		t.Helper()
		rep, err := NewRunner().Run(context.Background(), env, decodeJSON(t, res))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Resources {
			if r.Status != want {
				t.Fatalf("%s[%s] %s, want %s: %s %s", r.Type, r.Name, r.Status, want, r.Error, r.Diff)
			}
		}
	}
	present := fmt.Sprintf(`[{"group": {"name": %q}}, {"user": {"name": %q, "shell": "/bin/sh", "home": "/nonexistent", "comment": "corral test", "groups": [%q]}}]`, grp, name, grp)
	converge(present, StatusChanged)
	converge(present, StatusUpToDate)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if u.HomeDir != "/nonexistent" || u.Name != "corral test" {
		t.Errorf("user %+v", u)
	}
	g, err := user.LookupGroup(grp)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := u.GroupIds()
	if !contains(ids, g.Gid) {
		t.Errorf("%s not in %s: %v", name, grp, ids)
	}
	converge(fmt.Sprintf(`[{"user": {"name": %q, "shell": "/bin/bash"}}]`, name), StatusChanged)
	if line := passwdLine(t, name); !strings.HasSuffix(line, ":/bin/bash") {
		t.Errorf("shell not changed: %s", line)
	}
	absent := fmt.Sprintf(`[{"user": {"name": %q, "ensure": "absent"}}, {"group": {"name": %q, "ensure": "absent"}}]`, name, grp)
	converge(absent, StatusChanged)
	converge(absent, StatusUpToDate)
	if _, err := user.Lookup(name); err == nil {
		t.Error("user still there")
	}
	if _, err := user.LookupGroup(grp); err == nil {
		t.Error("group still there")
	}
}

func passwdLine(t *testing.T, name string) string {
	for _, l := range strings.Split(readFile(t, "/etc/passwd"), "\n") {
		if strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}
