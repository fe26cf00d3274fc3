package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/internal/api"
	"corral/internal/client"
)

// convergeTimeout bounds the wait for an agent's converge run to be
// reported after what should cause it (an apply, a node leaving, a drift).
const convergeTimeout = 60 * time.Second

// configAgent is an agent converging its own root directory.
type configAgent struct {
	*Agent
	Root string
}

// startConfigAgent starts an agent of srv converging root ("" for a new
// temporary directory), with its own port range and no checks, and waits
// until its node is ready. It has no interval runs, so that the runs a
// test sees are the ones it caused.
func startConfigAgent(t *testing.T, srv *Server, name, root string, labels ...string) *configAgent {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	ports := portRange(t)
	a := StartAgent(t, srv, AgentOptions{Name: name, Labels: labels, Args: []string{
		"--root", root, "--converge-interval", "0",
		"--port-range", fmt.Sprintf("%d-%d", ports, ports+99), "--checks=false", "--host-metrics-interval", "0", "--statsd-addr", ""}})
	t.Cleanup(func() {
		a.Kill()
		if root != "/" {
			killUnder(root) // daemons the agent's services started
		}
	})
	a.WaitReady()
	return &configAgent{Agent: a, Root: root}
}

// path is a path on the agent's root.
func (a *configAgent) path(p string) string { return filepath.Join(a.Root, p) }

// read returns the content of a file on the agent's root ("" when it does
// not exist).
func (a *configAgent) read(p string) string {
	b, _ := os.ReadFile(a.path(p))
	return string(b)
}

// waitFile waits until the file p on the agent's root has content want.
func (a *configAgent) waitFile(t *testing.T, p, want string) {
	t.Helper()
	eventually(t, convergeTimeout, func() error {
		if got := a.read(p); got != want {
			return fmt.Errorf("%s on %s's root is %q, want %q", p, a.Name, got, want)
		}
		return nil
	})
}

func writeConfigFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// applyDir runs `corral apply -f dir` and fails the test when it fails.
func applyDir(t *testing.T, srv *Server, dir string) string {
	t.Helper()
	out, errOut, code := RunCLI(t, CLIEnv{Home: srv.Home}, append([]string{"apply", "-f", dir}, srv.CLIFlags(srv.AdminToken())...)...)
	if code != 0 {
		t.Fatalf("corral apply -f %s: exit %d\n%s%s", dir, code, out, errOut)
	}
	return out
}

// adminCLI runs the corral CLI as admin against srv.
func adminCLI(t *testing.T, srv *Server, args ...string) (string, string, int) {
	t.Helper()
	return RunCLI(t, CLIEnv{Home: srv.Home}, append(args, srv.CLIFlags(srv.AdminToken())...)...)
}

// reportWaiter finds the converge reports of a node, fetching each in full
// once (reports do not change).
type reportWaiter struct {
	t    *testing.T
	c    *client.Client
	full map[string]api.ConvergeReport
}

func newReportWaiter(t *testing.T, srv *Server) *reportWaiter {
	return &reportWaiter{t: t, c: srv.Admin(t), full: map[string]api.ConvergeReport{}}
}

// since returns the node's reports of runs started at or after since,
// oldest first, in full.
func (w *reportWaiter) since(node string, since time.Time) ([]api.ConvergeReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := w.c.Reports(ctx, client.ReportQuery{Node: node, Limit: 200})
	if err != nil {
		return nil, err
	}
	var out []api.ConvergeReport
	for _, r := range rs {
		if r.Node != node {
			return nil, fmt.Errorf("reports?node=%s answered a report of %s", node, r.Node)
		}
		if r.Started.Before(since) {
			continue
		}
		full, ok := w.full[r.ID]
		if !ok {
			if full, err = w.c.Report(ctx, r.ID); err != nil {
				return nil, err
			}
			w.full[r.ID] = full
		}
		out = append(out, full)
	}
	slices.Reverse(out)
	return out, nil
}

// wait waits for the first report of node since since that ok accepts.
func (w *reportWaiter) wait(node string, since time.Time, ok func(api.ConvergeReport) error) api.ConvergeReport {
	w.t.Helper()
	var got api.ConvergeReport
	eventually(w.t, convergeTimeout, func() error {
		rs, err := w.since(node, since)
		if err != nil {
			return err
		}
		last := fmt.Errorf("no report of %s since %s", node, since.Format(time.RFC3339Nano))
		for _, r := range rs {
			if err := ok(r); err != nil {
				last = fmt.Errorf("report %s (trigger %s): %w", r.ID, r.Trigger, err)
				continue
			}
			got = r
			return nil
		}
		return last
	})
	return got
}

// statuses is what a report must say: "type[name]" → status; a
// notification is "action type[name]".
type statuses map[string]api.ResourceStatus

// runReport accepts a report of a run (dry or not, with trigger unless "") that
// did not fail and whose resources have the statuses of want.
func runReport(dry bool, trigger string, want statuses) func(api.ConvergeReport) error {
	return func(r api.ConvergeReport) error {
		if r.DryRun != dry || (trigger != "" && r.Trigger != trigger) {
			return fmt.Errorf("dry run %v, trigger %q; want %v, %q", r.DryRun, r.Trigger, dry, trigger)
		}
		if r.Failed() {
			return fmt.Errorf("failed: %s", r.Error)
		}
		return hasStatuses(r, want)
	}
}

func hasStatuses(r api.ConvergeReport, want statuses) error {
	got := statuses{}
	for _, rr := range r.Resources {
		got[rr.Type+"["+rr.Name+"]"] = rr.Status
	}
	for _, rr := range r.Notifications {
		got[rr.Action+" "+rr.Type+"["+rr.Name+"]"] = rr.Status
	}
	for k, st := range want {
		if got[k] != st {
			return fmt.Errorf("%s is %q, want %q (all: %v)", k, got[k], st, got)
		}
	}
	return nil
}

// reportResource returns the resource typ[name] of a report.
func reportResource(t *testing.T, r api.ConvergeReport, typ, name string) api.ResourceResult {
	t.Helper()
	for _, rr := range r.Resources {
		if rr.Type == typ && rr.Name == name {
			return rr
		}
	}
	t.Fatalf("report %s has no %s[%s]: %+v", r.ID, typ, name, r.Resources)
	return api.ResourceResult{}
}

// hostsBlock is the managed block of /etc/hosts for nodes: a line "IP
// hostname name aliases..." for each, in name order, without repeats.
func hostsBlock(nodes []api.Node) string {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	b := "# BEGIN corral managed hosts (changes here are overwritten)\n"
	for _, n := range nodes {
		var names []string
		for _, x := range []string{n.Facts.Hostname, n.Name, n.Labels["aliases"]} {
			if x != "" && !slices.Contains(names, x) {
				names = append(names, x)
			}
		}
		b += n.Facts.PrivateIP + "\t" + strings.Join(names, " ") + "\n"
	}
	return b + "# END corral managed hosts\n"
}

// TestConfigHosts: three agents join with a role holding `hosts: {}`, and
// every root's /etc/hosts gets a managed block listing all three (the rest
// of the file kept); one node stops and is removed, and the next converge
// of each other node removes it from the block.
func TestConfigHosts(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	reports := newReportWaiter(t, srv)
	applyYAML(t, srv, `kind: Role
name: hosts
resources:
  - hosts: {}
---
kind: NodeRoles
selector: {cfg: hosts}
roles: [hosts]
`)
	const head = "127.0.0.1\tlocalhost\n"
	names := []string{"hosts-1", "hosts-2", "hosts-3"}
	agents := map[string]*configAgent{}
	for _, name := range names {
		root := t.TempDir()
		writeConfigFile(t, filepath.Join(root, "etc/hosts"), head, 0o644)
		agents[name] = startConfigAgent(t, srv, name, root, "cfg=hosts", "aliases="+name+"-alias")
	}
	var nodes []api.Node
	for _, name := range names {
		n, err := srv.Node(t, name)
		if err != nil {
			t.Fatal(err)
		}
		if n.Facts.PrivateIP == "" {
			t.Skipf("node %s has no private IP (facts %+v): no hosts line to expect", name, n.Facts)
		}
		nodes = append(nodes, n)
	}
	all := head + hostsBlock(nodes)
	for _, name := range names {
		agents[name].waitFile(t, "/etc/hosts", all)
	}

	agents["hosts-3"].Kill()
	srv.WaitNodeStatus(t, "hosts-3", api.NodeDown, 30*time.Second)
	removed := time.Now()
	if out, errOut, code := adminCLI(t, srv, "node", "rm", "hosts-3"); code != 0 {
		t.Fatalf("corral node rm hosts-3: exit %d\n%s%s", code, out, errOut)
	}
	two := head + hostsBlock(nodes[:2])
	for _, name := range names[:2] {
		a := agents[name]
		a.waitFile(t, "/etc/hosts", two)
		// The first run after the removal made the change, and no other did.
		rs, err := reports.since(name, removed)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			want := api.StatusUpToDate
			if i == 0 {
				want = api.StatusChanged
			}
			if r.DryRun || r.Failed() || reportResource(t, r, "hosts", "/etc/hosts").Status != want {
				t.Errorf("%s: run %d since the removal (%s, trigger %s): hosts %s, want %s; error %q",
					name, i, r.ID, r.Trigger, reportResource(t, r, "hosts", "/etc/hosts").Status, want, r.Error)
			}
		}
	}
	if _, err := admin.NodeRoles(testCtx(t), "hosts-3"); api.StatusOf(err) != 404 {
		t.Errorf("roles of the removed node: %v, want 404", err)
	}
}

// buildDeb builds a .deb of an "all" package that installs
// /usr/share/NAME/version.
func buildDeb(t *testing.T, dir, name, version string) string {
	t.Helper()
	tree := filepath.Join(dir, name)
	writeConfigFile(t, filepath.Join(tree, "DEBIAN/control"), fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\n"+
		"Maintainer: Corral tests <tests@example.com>\nDescription: corral integration test package\n", name, version), 0o644)
	writeConfigFile(t, filepath.Join(tree, "usr/share", name, "version"), version+"\n", 0o644)
	deb := filepath.Join(dir, name+"_"+version+"_all.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	return deb
}

// TestConfigOnMachine converges the machine itself (--root /, as the
// package, user and group resources act through dpkg and the shadow tools):
// a .deb built here is installed, a uniquely named user and group are
// created, then all three are removed.
func TestConfigOnMachine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("converging packages, users and groups on the machine needs root")
	}
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel", "gpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian package passwd)", tool)
		}
	}
	withDeb := true
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("%s is not installed (Debian package dpkg): the package part is skipped", tool)
			withDeb = false
		}
	}
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e8, 10)
	pkg, usr, grp := "corral-it-"+suffix, "citu"+suffix, "citg"+suffix
	t.Cleanup(func() {
		exec.Command("userdel", usr).Run()
		exec.Command("groupdel", grp).Run()
		if withDeb {
			exec.Command("dpkg", "--purge", pkg).Run()
		}
	})
	var deb string
	if withDeb {
		deb = buildDeb(t, t.TempDir(), pkg, "1.0")
	}
	role := func(ensure string) string {
		s := fmt.Sprintf(`kind: Role
name: machine
resources:
  - group: {name: %s, ensure: %s}
  - user: {name: %s, shell: /bin/sh, home: /nonexistent, comment: corral test, groups: [%s], ensure: %s}
`, grp, ensure, usr, grp, ensure)
		if ensure == "absent" { // the user first: its group is in use until then
			s = fmt.Sprintf(`kind: Role
name: machine
resources:
  - user: {name: %s, ensure: absent}
  - group: {name: %s, ensure: absent}
`, usr, grp)
		}
		if withDeb {
			s += fmt.Sprintf("  - package: {name: %s, source: %s, ensure: %s}\n", pkg, deb, ensure)
		}
		return s + "---\nkind: NodeRoles\nnode: machine-1\nroles: [machine]\n"
	}
	srv := StartServer(t, ServerOptions{})
	reports := newReportWaiter(t, srv)
	want := statuses{"group[" + grp + "]": api.StatusChanged, "user[" + usr + "]": api.StatusChanged}
	if withDeb {
		want["package["+pkg+"]"] = api.StatusChanged
	}
	start := time.Now()
	applyYAML(t, srv, role("present"))
	a := startConfigAgent(t, srv, "machine-1", "/")
	reports.wait(a.Name, start, runReport(false, "", want))
	u, err := user.Lookup(usr)
	if err != nil {
		t.Fatalf("user %s: %v", usr, err)
	}
	if u.HomeDir != "/nonexistent" || u.Name != "corral test" {
		t.Errorf("user %s: home %q, comment %q", usr, u.HomeDir, u.Name)
	}
	g, err := user.LookupGroup(grp)
	if err != nil {
		t.Fatalf("group %s: %v", grp, err)
	}
	if ids, _ := u.GroupIds(); !slices.Contains(ids, g.Gid) {
		t.Errorf("user %s is not in group %s (%s): %v", usr, grp, g.Gid, ids)
	}
	dpkgStatus := func() string {
		out, _ := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", pkg).Output()
		return strings.TrimSpace(string(out))
	}
	if withDeb {
		if st := dpkgStatus(); st != "ii 1.0" {
			t.Errorf("dpkg-query %s: %q, want installed 1.0", pkg, st)
		}
		if b, err := os.ReadFile("/usr/share/" + pkg + "/version"); err != nil || string(b) != "1.0\n" {
			t.Errorf("the package's file: %q, %v", b, err)
		}
	}

	start = time.Now()
	applyYAML(t, srv, role("absent"))
	reports.wait(a.Name, start, runReport(false, "change", want))
	if _, err := user.Lookup(usr); err == nil {
		t.Errorf("user %s still exists", usr)
	}
	if _, err := user.LookupGroup(grp); err == nil {
		t.Errorf("group %s still exists", grp)
	}
	if withDeb {
		if st := dpkgStatus(); strings.HasPrefix(st, "ii") {
			t.Errorf("dpkg-query %s: %q, want removed", pkg, st)
		}
		if _, err := os.Stat("/usr/share/" + pkg + "/version"); !os.IsNotExist(err) {
			t.Errorf("the package's file is still there: %v", err)
		}
	}
}

// procAlive reports whether process pid exists and is not a zombie.
func procAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestConfigService runs a test daemon through a sysv init script the role
// installs: enabled and started, restarted (a delayed notification) when
// its template changes, then stopped.
func TestConfigService(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh (Debian package dash)")
	}
	srv := StartServer(t, ServerOptions{})
	reports := newReportWaiter(t, srv)
	root := t.TempDir()
	repo := t.TempDir()
	// A sysv init script of a test daemon (a shell loop that first copies
	// its config to run/itd.seen) keeping its pid file and a log of what
	// it was told under the root it is installed in.
	script, err := os.ReadFile("testdata/config/itd.init")
	if err != nil {
		t.Fatal(err)
	}
	writeConfigFile(t, filepath.Join(repo, "itd.init"), string(script), 0o644)
	role := func(port int, running bool) {
		writeConfigFile(t, filepath.Join(repo, "role.yaml"), fmt.Sprintf(`kind: Role
name: itd
attributes: {port: %d}
resources:
  - directory: {path: /etc/init.d, recursive: true}
  - file: {path: /etc/init.d/itd, source: itd.init, mode: "0755"}
  - template: {path: /etc/itd.conf, content: "port = {{ .Attributes.port }}\n", notify: [restart service itd]}
  - service: {name: itd, manager: sysv, enabled: true, running: %v}
---
kind: NodeRoles
node: svc-1
roles: [itd]
`, port, running), 0o644)
		applyDir(t, srv, repo)
	}
	pid := func() int {
		b, _ := os.ReadFile(filepath.Join(root, "run/itd.pid"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	t.Cleanup(func() {
		if p := pid(); p > 0 {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	start := time.Now()
	role(80, true)
	a := startConfigAgent(t, srv, "svc-1", root)
	reports.wait(a.Name, start, runReport(false, "", statuses{"file[/etc/init.d/itd]": api.StatusChanged,
		"template[/etc/itd.conf]": api.StatusChanged, "service[itd]": api.StatusChanged}))
	first := pid()
	if !procAlive(first) {
		t.Fatalf("the daemon is not running after the first converge (pid %d); log %q", first, a.read("/itd.log"))
	}
	a.waitFile(t, "/run/itd.seen", "port = 80\n")
	for _, lvl := range []string{"2", "3", "4", "5"} {
		if to, err := os.Readlink(a.path("/etc/rc" + lvl + ".d/S01itd")); err != nil || to != "../init.d/itd" {
			t.Errorf("rc%s.d/S01itd: %q, %v", lvl, to, err)
		}
	}

	// A template change notifies a restart: a new daemon reads the new file.
	start = time.Now()
	role(8080, true)
	r := reports.wait(a.Name, start, runReport(false, "change", statuses{"template[/etc/itd.conf]": api.StatusChanged,
		"service[itd]": api.StatusUpToDate, "restart service[itd]": api.StatusChanged}))
	if len(r.Notifications) != 1 {
		t.Errorf("notifications: %+v, want one restart", r.Notifications)
	}
	second := pid()
	if second == first || !procAlive(second) {
		t.Errorf("after the restart the daemon is pid %d (alive %v), before %d", second, procAlive(second), first)
	}
	if procAlive(first) {
		t.Errorf("the old daemon %d still runs", first)
	}
	a.waitFile(t, "/run/itd.seen", "port = 8080\n")
	if log := a.read("/itd.log"); !strings.HasSuffix(log, "start\nstop\nstart\n") {
		t.Errorf("init script log %q, want it to end with a restart", log)
	}

	// running: false stops it.
	start = time.Now()
	role(8080, false)
	reports.wait(a.Name, start, runReport(false, "change", statuses{"template[/etc/itd.conf]": api.StatusUpToDate,
		"service[itd]": api.StatusChanged}))
	if procAlive(second) || pid() != 0 {
		t.Errorf("after running: false the daemon %d is alive %v, pid file %d", second, procAlive(second), pid())
	}
	if log := a.read("/itd.log"); !strings.HasSuffix(log, "stop\n") {
		t.Errorf("init script log %q, want it to end with a stop", log)
	}
}
