package converge

import (
	"strings"
	"testing"
	"time"
)

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
