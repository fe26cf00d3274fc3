package converge

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dpkgFake answers dpkg-query from a map of installed versions.
func dpkgFake(installed map[string]string) *fakeRunner {
	return &fakeRunner{respond: func(c Command) CommandResult {
		if c.Path != "dpkg-query" {
			return CommandResult{}
		}
		var out strings.Builder
		exit := 0
		for _, n := range c.Args[3:] {
			if v, ok := installed[n]; ok {
				fmt.Fprintf(&out, "%s\tii \t%s\n", n, v)
			} else {
				fmt.Fprintf(&out, "dpkg-query: no packages found matching %s\n", n)
				exit = 1
			}
		}
		return CommandResult{ExitCode: exit, Output: out.String()}
	}}
}

func TestPackageCommands(t *testing.T) {
	installed := map[string]string{"curl": "7.88.1-10", "nginx": "1.22.1-9", "vim": "2:9.0"}
	tests := []struct {
		name, res string
		diff      string
		apply     string // the command the real run runs, "" for none
	}{
		{"several at once", `{"name": ["curl", "htop", "jq"]}`, "install htop\ninstall jq\n",
			"apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold htop jq"},
		{"installed", `{"name": "curl"}`, "", ""},
		{"pinned version differs", `{"name": "nginx", "version": "1.22.1-9+deb12u1"}`, "install nginx 1.22.1-9+deb12u1 (was 1.22.1-9)\n",
			"apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --allow-downgrades nginx=1.22.1-9+deb12u1"},
		{"pinned version installed", `{"name": "vim", "version": "2:9.0"}`, "", ""},
		{"remove", `{"name": ["vim", "htop"], "ensure": "absent"}`, "remove vim (2:9.0)\n", "apt-get remove -y -q vim"},
		{"purge", `{"name": "vim", "ensure": "absent", "purge": true}`, "remove vim (2:9.0)\n", "apt-get purge -y -q vim"},
		{"deb file", `{"name": "tool", "source": "/tmp/tool_1.0_all.deb"}`, "install tool\n", "dpkg --force-confdef --force-confold --install /tmp/tool_1.0_all.deb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			env.Root = "/"
			fake := dpkgFake(installed)
			env.Exec = fake
			rep := run(t, env, decodeJSON(t, `[{"package": `+tt.res+`}]`))
			if rep.Failed() || rep.Resources[0].Diff != tt.diff {
				t.Fatalf("diff %q (error %q), want %q", rep.Resources[0].Diff, rep.Error, tt.diff)
			}
			cmds := fake.commands()
			if !strings.HasPrefix(cmds[0], "dpkg-query -W -f") {
				t.Errorf("first command %q", cmds[0])
			}
			var applied string
			if len(cmds) > 1 {
				applied = strings.Join(cmds[1:], "; ")
			}
			if applied != tt.apply {
				t.Errorf("applied\n got %q\nwant %q", applied, tt.apply)
			}
		})
	}
}

func TestPackageFailure(t *testing.T) {
	env, _ := testEnv(t)
	env.Root = "/"
	fake := dpkgFake(nil)
	fake.respond = func(c Command) CommandResult {
		if c.Path == "apt-get" {
			return CommandResult{ExitCode: 100, Output: "E: Unable to locate package nosuch"}
		}
		return CommandResult{ExitCode: 1}
	}
	env.Exec = fake
	rep := run(t, env, decodeJSON(t, `[{"package": {"name": "nosuch"}}]`))
	want := "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nosuch: exit status 100: E: Unable to locate package nosuch"
	if rep.Resources[0].Error != want {
		t.Errorf("error\n got %q\nwant %q", rep.Resources[0].Error, want)
	}
}

// buildDeb builds a .deb of an "all" package installing /usr/share/NAME/version.
func buildDeb(t *testing.T, dir, name, version string) string {
	t.Helper()
	tree := filepath.Join(dir, name+"-"+version)
	mustWrite(t, filepath.Join(tree, "DEBIAN/control"), fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: Corral tests <tests@example.com>\nDescription: corral converge test package\n", name, version))
	mustWrite(t, filepath.Join(tree, "usr/share", name, "version"), version+"\n")
	deb := filepath.Join(dir, name+"_"+version+"_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// TestPackageWithDpkg installs, upgrades and removes a package built here,
// with the machine's dpkg.
func TestPackageWithDpkg(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing packages with dpkg needs root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package dpkg)", tool)
		}
	}
	name := fmt.Sprintf("corral-converge-test-%d", time.Now().UnixNano()%1e9)
	dir := t.TempDir()
	v1, v2 := buildDeb(t, dir, name, "1.0"), buildDeb(t, dir, name, "2.0")
	t.Cleanup(func() { exec.Command("dpkg", "--purge", name).Run() })
	version := func() string {
		out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", name).Output()
		return strings.TrimSpace(string(out))
	}
	env := Env{Root: "/", Exec: OSRunner{}}
	steps := []struct {
		res, status, version string
	}{
		{`{"name": "` + name + `", "source": "` + v1 + `"}`, "changed", "ii 1.0"},
		{`{"name": "` + name + `", "source": "` + v1 + `"}`, "up-to-date", "ii 1.0"},
		{`{"name": "` + name + `", "source": "` + v2 + `", "version": "2.0"}`, "changed", "ii 2.0"},
		{`{"name": "` + name + `", "source": "` + v2 + `", "version": "2.0"}`, "up-to-date", "ii 2.0"},
		{`{"name": "` + name + `", "source": "` + v2 + `", "ensure": "absent", "purge": true}`, "changed", ""},
		{`{"name": "` + name + `", "source": "` + v2 + `", "ensure": "absent", "purge": true}`, "up-to-date", ""},
	}
	for i, s := range steps {
		rep, err := NewRunner().Run(context.Background(), env, decodeJSON(t, `[{"package": `+s.res+`}]`))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(rep.Resources[0].Status); got != s.status {
			t.Fatalf("step %d: %s, want %s (%s)", i, got, s.status, rep.Error)
		}
		if got := version(); got != s.version {
			t.Fatalf("step %d: dpkg says %q, want %q", i, got, s.version)
		}
	}
}
