package integration

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

// TestConfigTemplateError: a template failing at its line 3 fails that
// resource with the line, the resources before it stay converged and those
// after it are skipped; `corral report ls/show` say so and the failed run
// is a critical `converge` event, which the next good run resolves.
func TestConfigTemplateError(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	reports := newReportWaiter(t, srv)
	repo := t.TempDir()
	writeConfigFile(t, filepath.Join(repo, "app.conf.tmpl"), "a = 1\nb = 2\nc = {{ .Attributes.missing }}\n", 0o644)
	role := func(attrs string) {
		writeConfigFile(t, filepath.Join(repo, "app.yaml"), `kind: Role
name: app
attributes: `+attrs+`
resources:
  - directory: {path: /etc/app, recursive: true}
  - file: {path: /etc/app/first.conf, content: "first\n"}
  - template: {path: /etc/app/app.conf, source: app.conf.tmpl}
  - file: {path: /etc/app/last.conf, content: "last\n"}
---
kind: NodeRoles
node: tmpl-1
roles: [app]
`, 0o644)
		applyDir(t, srv, repo)
	}
	start := time.Now()
	role("{other: 1}")
	a := startConfigAgent(t, srv, "tmpl-1", "")
	r := reports.wait(a.Name, start, func(r api.ConvergeReport) error {
		if !r.Failed() {
			return fmt.Errorf("did not fail")
		}
		return hasStatuses(r, statuses{"file[/etc/app/first.conf]": api.StatusChanged,
			"template[/etc/app/app.conf]": api.StatusFailed, "file[/etc/app/last.conf]": api.StatusSkipped})
	})
	failed := reportResource(t, r, "template", "/etc/app/app.conf")
	if !strings.Contains(failed.Error, "app.conf.tmpl:3") || !strings.Contains(failed.Error, "missing") {
		t.Errorf("template error %q does not name app.conf.tmpl:3 and the missing key", failed.Error)
	}
	if r.Totals != (api.ConvergeTotals{Changed: 2, Failed: 1, Skipped: 1}) {
		t.Errorf("totals %+v", r.Totals)
	}
	if got := a.read("/etc/app/first.conf"); got != "first\n" {
		t.Errorf("first.conf = %q: the resource before the failure is not converged", got)
	}
	for _, p := range []string{"/etc/app/app.conf", "/etc/app/last.conf"} {
		if _, err := os.Stat(a.path(p)); !os.IsNotExist(err) {
			t.Errorf("%s exists after the failed run (%v)", p, err)
		}
	}
	out, _, code := adminCLI(t, srv, "report", "ls", "--node", a.Name, "--failed")
	if code != 0 || !strings.Contains(out, r.ID) {
		t.Errorf("report ls --failed: exit %d, no %s:\n%s", code, r.ID, out)
	}
	out, _, code = adminCLI(t, srv, "report", "show", r.ID)
	for _, want := range []string{"failed", "template[/etc/app/app.conf]", "app.conf.tmpl:3", "skipped", "file[/etc/app/last.conf]"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("report show %s: exit %d, no %q:\n%s", r.ID, code, want, out)
		}
	}
	ev := waitEvent(t, admin, a.Name, "converge", convergeTimeout, hasStatus(api.StatusCritical))
	if !strings.Contains(ev.Output, "app.conf.tmpl:3") {
		t.Errorf("converge event output %q does not name the template's line", ev.Output)
	}
	out, _, code = adminCLI(t, srv, "event", "ls", "--node", a.Name)
	if code != 0 || !strings.Contains(out, "converge") {
		t.Errorf("event ls --node %s: exit %d, no converge event:\n%s", a.Name, code, out)
	}

	// With the attribute the template works; the good run resolves the event.
	start = time.Now()
	role("{missing: fixed}")
	reports.wait(a.Name, start, runReport(false, "change", statuses{"file[/etc/app/first.conf]": api.StatusUpToDate,
		"template[/etc/app/app.conf]": api.StatusChanged, "file[/etc/app/last.conf]": api.StatusChanged}))
	if got := a.read("/etc/app/app.conf"); got != "a = 1\nb = 2\nc = fixed\n" {
		t.Errorf("app.conf = %q", got)
	}
	waitEvent(t, admin, a.Name, "converge", convergeTimeout, hasStatus(api.StatusOK))

	// A template that does not parse is refused at apply, naming its line.
	writeConfigFile(t, filepath.Join(repo, "app.conf.tmpl"), "a = 1\n{{ if }}\n", 0o644)
	out, errOut, code := adminCLI(t, srv, "apply", "-f", repo)
	if code == 0 || !strings.Contains(errOut, "app.conf.tmpl:2") {
		t.Errorf("apply of a template that does not parse: exit %d, stderr does not name app.conf.tmpl:2:\n%s%s", code, out, errOut)
	}
}

// agentPost POSTs body to the agent channel of srv with the certificate of
// agent a and returns the status and the answer.
func agentPost(t *testing.T, srv *Server, a *configAgent, path, body string) (int, []byte) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(a.Dir, "agent.crt"), filepath.Join(a.Dir, "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(srv.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post("https://"+srv.AgentAddr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// grepSecret fails the test for every text that holds secret.
func grepSecret(t *testing.T, secret string, texts map[string]string) {
	t.Helper()
	for where, text := range texts {
		if i := strings.Index(text, secret); i >= 0 {
			lo, hi := max(0, i-200), min(len(text), i+len(secret)+100)
			t.Errorf("the secret's value is in %s: …%s…", where, text[lo:hi])
		}
	}
}

// grepSecretFiles fails the test for every file under dir that holds
// secret.
func grepSecretFiles(t *testing.T, secret, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // sockets, files gone meanwhile
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), secret) {
			t.Errorf("the secret's value is stored in plain text in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestConfigSecrets: a Secret used in a template reaches the file on the
// node's root, and its value is in no report (CLI and API), no dry-run
// diff, no server or agent log line, no API answer, no event and no file
// of the server's or agent's data dirs (secrets are encrypted at rest),
// even when a failing command prints the file.
func TestConfigSecrets(t *testing.T) {
	srv := StartServer(t, ServerOptions{Args: []string{"--log-level", "debug"}})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	reports := newReportWaiter(t, srv)
	var rnd [8]byte
	rand.Read(rnd[:])
	secret := "s3cret-" + hex.EncodeToString(rnd[:])
	root, repo := t.TempDir(), t.TempDir()
	writeConfigFile(t, filepath.Join(repo, "db.conf.tmpl"), "user = app\npassword = {{ secret \"db-password\" }}\n", 0o644)
	role := func(leak bool) {
		extra := ""
		if leak {
			extra = fmt.Sprintf("  - exec: {name: leak, command: 'cat %s/etc/app/db.conf; exit 3'}\n", root)
		}
		writeConfigFile(t, filepath.Join(repo, "app.yaml"), `kind: Secret
name: db-password
value: `+secret+`
---
kind: Secret
name: unused
value: other-`+secret+`
---
kind: Role
name: app
resources:
  - directory: {path: /etc/app, recursive: true}
  - template: {path: /etc/app/db.conf, source: db.conf.tmpl, mode: "0600", drift: ignore}
`+extra+`---
kind: NodeRoles
node: sec-1
roles: [app]
`, 0o600)
		applyDir(t, srv, repo)
	}
	start := time.Now()
	role(false)
	a := startConfigAgent(t, srv, "sec-1", root)
	reports.wait(a.Name, start, runReport(false, "", statuses{"template[/etc/app/db.conf]": api.StatusChanged}))
	const file = "/etc/app/db.conf"
	if got, want := a.read(file), "user = app\npassword = "+secret+"\n"; got != want {
		t.Fatalf("%s = %q, want %q", file, got, want)
	}
	texts := map[string]string{}

	// A dry run shows the change of a hand-edited file, redacted.
	writeConfigFile(t, a.path(file), "user = app\npassword = old\n", 0o600)
	out, errOut, code := adminCLI(t, srv, "converge", "--dry-run", "--node", a.Name)
	if code != 0 || !strings.Contains(out, file) || !strings.Contains(out, "dry run") {
		t.Errorf("converge --dry-run: exit %d, does not show %s:\n%s%s", code, file, out, errOut)
	}
	texts["converge --dry-run"] = out + errOut
	if got := a.read(file); got != "user = app\npassword = old\n" {
		t.Errorf("the dry run changed %s: %q", file, got)
	}
	out, errOut, code = adminCLI(t, srv, "converge", "--now", "--node", a.Name)
	if code != 0 {
		t.Errorf("converge --now: exit %d\n%s%s", code, out, errOut)
	}
	texts["converge --now"] = out + errOut
	a.waitFile(t, file, "user = app\npassword = "+secret+"\n")

	// A command printing the file fails the run: its output in the report
	// and the event is redacted.
	start = time.Now()
	role(true)
	r := reports.wait(a.Name, start, func(r api.ConvergeReport) error {
		if !r.Failed() {
			return fmt.Errorf("did not fail")
		}
		return hasStatuses(r, statuses{"exec[leak]": api.StatusFailed})
	})
	if e := reportResource(t, r, "exec", "leak").Error; !strings.Contains(e, api.Redacted) {
		t.Errorf("the failed command's error %q does not show its output redacted", e)
	}
	ev := waitEvent(t, admin, a.Name, "converge", convergeTimeout, hasStatus(api.StatusCritical))
	texts["converge event"] = ev.Output

	cat, err := admin.NodeCatalog(ctx, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Secrets["db-password"]; !ok || len(cat.Secrets) != 1 {
		t.Errorf("catalog secrets %v, want db-password alone", cat.Secrets)
	}
	// The agent channel hands out only the secrets of the node's catalog.
	code, body := agentPost(t, srv, a, "/agent/v1/secrets", `{"names": ["db-password", "unused"]}`)
	if code != 403 || !strings.Contains(string(body), "unused") || strings.Contains(string(body), secret) {
		t.Errorf("secrets db-password and unused for %s: %d %s, want 403 naming unused", a.Name, code, body)
	}
	code, body = agentPost(t, srv, a, "/agent/v1/secrets", `{"names": ["db-password"]}`)
	var sr api.SecretsResponse
	if err := json.Unmarshal(body, &sr); code != 200 || err != nil || sr.Values["db-password"] != secret || len(sr.Values) != 1 {
		t.Errorf("secret db-password for %s: %d, %v, want its value alone", a.Name, code, err)
	}
	all, err := reports.since(a.Name, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"report", "ls", "--node", a.Name}, {"report", "ls"}, {"event", "ls"},
		{"event", "show", a.Name, "converge"}, {"node", "roles", a.Name}, {"get", "secret"}, {"get", "secret", "db-password"},
		{"get", "role", "app"}, {"role", "history", "app"}} {
		out, errOut, _ := adminCLI(t, srv, args...)
		texts["corral "+strings.Join(args, " ")] = out + errOut
	}
	paths := []string{"/api/v1/reports", "/api/v1/reports?node=" + a.Name, "/api/v1/resources/Secret", "/api/v1/resources/Secret/db-password",
		"/api/v1/resources/Role/app", "/api/v1/resources/Role/app/versions", "/api/v1/resources/Role/app/versions/1",
		"/api/v1/resources/NodeRoles", "/api/v1/nodes/" + a.Name + "/catalog", "/api/v1/nodes/" + a.Name + "/roles",
		"/api/v1/nodes/" + a.Name, "/api/v1/events", "/api/v1/audit"}
	for _, r := range all {
		paths = append(paths, "/api/v1/reports/"+r.ID)
		out, errOut, _ := adminCLI(t, srv, "report", "show", r.ID, "-v")
		texts["corral report show -v "+r.ID] = out + errOut
	}
	for _, p := range paths {
		code, body := srv.HTTP(t, "GET", p, srv.AdminToken(), nil)
		if code != 200 && p != "/api/v1/audit" {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
		texts["GET "+p] = string(body)
	}
	if len(all) < 4 {
		t.Errorf("%d reports of %s, want at least 4 (start, dry run, now, failed)", len(all), a.Name)
	}

	// The good run resolves the event.
	start = time.Now()
	role(false)
	reports.wait(a.Name, start, runReport(false, "change", nil))
	waitEvent(t, admin, a.Name, "converge", convergeTimeout, hasStatus(api.StatusOK))

	texts["server stdout"], texts["server stderr"] = srv.proc.Stdout(), srv.proc.Stderr()
	texts["agent stdout"], texts["agent stderr"] = a.proc.Stdout(), a.proc.Stderr()
	if !strings.Contains(texts["agent stderr"], "converge") {
		t.Errorf("the agent's log (level debug) does not mention converge runs: is it the log?")
	}
	grepSecret(t, secret, texts)
	grepSecretFiles(t, secret, srv.Dir)
	grepSecretFiles(t, secret, a.Dir)
}

// TestConfigDriftAndDryRun: a managed file edited by hand is repaired (the
// default), only reported (drift: report) or left alone (drift: ignore);
// `corral converge --dry-run` shows what would change and changes
// nothing; `corral converge --now` converges.
func TestConfigDriftAndDryRun(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	reports := newReportWaiter(t, srv)
	start := time.Now()
	applyYAML(t, srv, `kind: Role
name: drift
resources:
  - directory: {path: /etc/drift, recursive: true}
  - file: {path: /etc/drift/repaired.conf, content: "repaired\n"}
  - file: {path: /etc/drift/reported.conf, content: "reported\n", drift: report}
  - file: {path: /etc/drift/ignored.conf, content: "ignored\n", drift: ignore}
---
kind: NodeRoles
selector: {cfg: drift}
roles: [drift]
`)
	a := startConfigAgent(t, srv, "drift-1", "", "cfg=drift")
	const repaired, reported, ignored = "/etc/drift/repaired.conf", "/etc/drift/reported.conf", "/etc/drift/ignored.conf"
	reports.wait(a.Name, start, runReport(false, "", statuses{"file[" + repaired + "]": api.StatusChanged,
		"file[" + reported + "]": api.StatusChanged, "file[" + ignored + "]": api.StatusChanged}))

	edited := time.Now()
	writeConfigFile(t, a.path(repaired), "hand edit\n", 0o644)
	a.waitFile(t, repaired, "repaired\n")
	reports.wait(a.Name, edited, runReport(false, "drift", statuses{"file[" + repaired + "]": api.StatusChanged}))

	edited = time.Now()
	writeConfigFile(t, a.path(reported), "hand edit\n", 0o644)
	r := reports.wait(a.Name, edited, runReport(true, "drift", statuses{"file[" + reported + "]": api.StatusChanged}))
	if d := reportResource(t, r, "file", reported).Diff; !strings.Contains(d, "-hand edit") || !strings.Contains(d, "+reported") {
		t.Errorf("drift report diff %q does not show the edit", d)
	}
	if got := a.read(reported); got != "hand edit\n" {
		t.Errorf("%s (drift: report) was changed: %q", reported, got)
	}

	writeConfigFile(t, a.path(ignored), "hand edit\n", 0o644)
	out, errOut, code := adminCLI(t, srv, "converge", "--dry-run", "--node", a.Name)
	for _, want := range []string{"dry run", reported, ignored, "+reported", "+ignored"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("converge --dry-run: exit %d, no %q:\n%s%s", code, want, out, errOut)
		}
	}
	if strings.Contains(out, "file["+repaired+"]") {
		t.Errorf("converge --dry-run shows the up-to-date %s:\n%s", repaired, out)
	}
	for p, want := range map[string]string{repaired: "repaired\n", reported: "hand edit\n", ignored: "hand edit\n"} {
		if got := a.read(p); got != want {
			t.Errorf("after the dry run %s = %q, want %q", p, got, want)
		}
	}

	out, errOut, code = adminCLI(t, srv, "converge", "--now", "--selector", "cfg=drift")
	if code != 0 || !strings.Contains(out, a.Name) {
		t.Errorf("converge --now --selector cfg=drift: exit %d\n%s%s", code, out, errOut)
	}
	for p, want := range map[string]string{repaired: "repaired\n", reported: "reported\n", ignored: "ignored\n"} {
		if got := a.read(p); got != want {
			t.Errorf("after converge --now %s = %q, want %q", p, got, want)
		}
	}
	if _, _, code := adminCLI(t, srv, "converge"); code == 0 {
		t.Error("corral converge without --now or --dry-run: exit 0")
	}
}

// TestConfigRepo applies a chef-repo-like directory (YAML with template and
// files next to it and in templates/), resolves the run list and the
// attributes with role < environment < node precedence (`corral node
// roles`), and versions the roles (`corral role history/diff/rollback`).
func TestConfigRepo(t *testing.T) {
	srv := StartServer(t, ServerOptions{})
	admin := srv.Admin(t)
	ctx := testCtx(t)
	repo := t.TempDir()
	writeConfigFile(t, filepath.Join(repo, "base.yaml"), `kind: Role
name: base
attributes: {a: base, b: base, c: base, d: base}
resources:
  - directory: {path: /etc/repo, recursive: true}
  - template: {path: /etc/repo/attrs.conf, source: attrs.conf.tmpl}
---
kind: Environment
name: production
attributes: {c: env, d: env}
---
kind: NodeRoles
selector: {cfg: repo}
roles: [base, web]
environment: production
attributes: {d: node}
`, 0o644)
	const tmpl = "a={{ .Attributes.a }}\nb={{ .Attributes.b }}\nc={{ .Attributes.c }}\nd={{ .Attributes.d }}\n"
	writeConfigFile(t, filepath.Join(repo, "templates/attrs.conf.tmpl"), tmpl, 0o644)
	writeConfigFile(t, filepath.Join(repo, "motd.txt"), "welcome\n", 0o644)
	web := func(b string) {
		writeConfigFile(t, filepath.Join(repo, "web.yaml"), `kind: Role
name: web
attributes: {b: `+b+`}
resources:
  - file: {path: /etc/repo/motd, source: motd.txt}
`, 0o644)
		applyDir(t, srv, repo)
	}
	web("web")
	for role, files := range map[string]map[string]string{"base": {"attrs.conf.tmpl": tmpl}, "web": {"motd.txt": "welcome\n"}} {
		res, err := admin.Resource(ctx, "Role", role, false)
		if err != nil {
			t.Fatal(err)
		}
		var spec api.RoleSpec
		if err := json.Unmarshal(res.Spec, &spec); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(spec.Files, files) {
			t.Errorf("role %s stores files %q, want %q", role, spec.Files, files)
		}
	}
	a := startConfigAgent(t, srv, "repo-1", "", "cfg=repo")
	a.waitFile(t, "/etc/repo/attrs.conf", "a=base\nb=web\nc=env\nd=node\n")
	a.waitFile(t, "/etc/repo/motd", "welcome\n")

	v, err := admin.NodeRoles(ctx, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]any{"a": "base", "b": "web", "c": "env", "d": "node"}
	if !slices.Equal(v.Roles, []string{"base", "web"}) || v.Environment != "production" || !reflect.DeepEqual(v.Attributes, wantAttrs) ||
		!slices.Contains(v.MatchedBy, "cfg.repo") || len(v.Errors) != 0 {
		t.Errorf("node roles %+v, want run list [base web], production, attributes %v, matched by cfg.repo", v, wantAttrs)
	}
	out, _, code := adminCLI(t, srv, "node", "roles", a.Name)
	for _, want := range []string{"base", "web", "production", "cfg.repo", "a: base", "b: web", "c: env", "d: node"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("node roles %s: exit %d, no %q:\n%s", a.Name, code, want, out)
		}
	}

	// A second version, its history and diff, and a rollback.
	web("web-v2")
	a.waitFile(t, "/etc/repo/attrs.conf", "a=base\nb=web-v2\nc=env\nd=node\n")
	out, _, code = adminCLI(t, srv, "role", "history", "web")
	if code != 0 || !strings.Contains(out, "2") {
		t.Errorf("role history web: exit %d:\n%s", code, out)
	}
	out, _, code = adminCLI(t, srv, "role", "diff", "web")
	var minus, plus bool
	for _, l := range strings.Split(out, "\n") {
		minus = minus || (strings.HasPrefix(l, "-") && strings.Contains(l, "b: web") && !strings.Contains(l, "web-v2"))
		plus = plus || (strings.HasPrefix(l, "+") && strings.Contains(l, "b: web-v2"))
	}
	if code != 0 || !minus || !plus {
		t.Errorf("role diff web: exit %d, want -b: web and +b: web-v2:\n%s", code, out)
	}
	out, errOut, code := adminCLI(t, srv, "role", "rollback", "web", "--to", "1")
	if code != 0 {
		t.Errorf("role rollback web --to 1: exit %d\n%s%s", code, out, errOut)
	}
	vs, err := admin.ResourceVersions(ctx, "Role", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || vs[0].Version != 3 || vs[0].Cause != "rollback to 1" {
		t.Errorf("versions of web after the rollback: %+v, want 3, the newest a rollback to 1", vs)
	}
	a.waitFile(t, "/etc/repo/attrs.conf", "a=base\nb=web\nc=env\nd=node\n")

	// A source found nowhere is an error naming the document and the file.
	bad := t.TempDir()
	writeConfigFile(t, filepath.Join(bad, "bad.yaml"), "kind: Role\nname: bad\nresources:\n  - template: {path: /etc/bad, source: nosuch.tmpl}\n", 0o644)
	out, errOut, code = adminCLI(t, srv, "apply", "-f", bad)
	if code == 0 || !strings.Contains(errOut, "nosuch.tmpl") || !strings.Contains(errOut, "bad.yaml") {
		t.Errorf("apply with a missing source: exit %d, stderr does not name bad.yaml and nosuch.tmpl:\n%s%s", code, out, errOut)
	}
	if _, err := admin.Resource(ctx, "Role", "bad", false); api.StatusOf(err) != 404 {
		t.Errorf("role bad after a refused apply: %v, want 404", err)
	}
}
