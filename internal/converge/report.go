package converge

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is how a resource came out of a run.
type Status string

// Statuses of a resource in a report.
const (
	StatusUpToDate Status = "up-to-date" // nothing to change
	StatusChanged  Status = "changed"    // changed (or, dry, would change)
	StatusFailed   Status = "failed"
	StatusSkipped  Status = "skipped" // not looked at: an earlier resource failed
)

// ResourceResult is one resource (or one delayed notification) in a report.
type ResourceResult struct {
	Type string `json:"type"`
	Name string `json:"name"`
	// Action is the notification's action ("restart") for notifications.
	Action   string        `json:"action,omitempty"`
	Status   Status        `json:"status"`
	Diff     string        `json:"diff,omitempty"`
	Note     string        `json:"note,omitempty"`
	Error    string        `json:"error,omitempty"`
	Ignored  bool          `json:"ignored,omitempty"` // failed with ignore_failure
	Duration time.Duration `json:"duration"`
}

// Totals counts the resources of a report by status.
type Totals struct {
	UpToDate int `json:"up_to_date"`
	Changed  int `json:"changed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// Report is what one run did (or, dry, would do).
type Report struct {
	Started       time.Time        `json:"started"`
	Duration      time.Duration    `json:"duration"`
	DryRun        bool             `json:"dry_run,omitempty"`
	Resources     []ResourceResult `json:"resources"`
	Notifications []ResourceResult `json:"notifications,omitempty"`
	Totals        Totals           `json:"totals"`
	// Error says why the run stopped early or what failed at its end; "" when
	// every resource and notification converged (ignored failures aside).
	Error string `json:"error,omitempty"`
}

// Failed reports whether the run did not converge.
func (r *Report) Failed() bool { return r.Error != "" }

// WriteText writes the report for people: a summary line, then every
// resource that did not stay up to date (all of them when verbose) with
// its diff indented, the notifications and the error.
func (r *Report) WriteText(w io.Writer, verbose bool) error {
	var b strings.Builder
	dry := ""
	if r.DryRun {
		dry = " (dry run: nothing was changed)"
	}
	fmt.Fprintf(&b, "converge %s, %s%s: %d changed, %d up to date, %d failed, %d skipped\n",
		r.Started.UTC().Format(time.RFC3339), r.Duration.Round(time.Millisecond), dry,
		r.Totals.Changed, r.Totals.UpToDate, r.Totals.Failed, r.Totals.Skipped)
	line := func(rr ResourceResult) {
		name := rr.Type + "[" + rr.Name + "]"
		if rr.Action != "" {
			name = rr.Action + " " + name
		}
		fmt.Fprintf(&b, "  %-10s %s (%s)", rr.Status, name, rr.Duration.Round(time.Millisecond))
		if rr.Note != "" {
			fmt.Fprintf(&b, " %s", rr.Note)
		}
		if rr.Ignored {
			b.WriteString(" (failure ignored)")
		}
		b.WriteString("\n")
		if rr.Error != "" {
			b.WriteString(indent(rr.Error, "      error: ", "      "))
		}
		if rr.Diff != "" && rr.Status != StatusUpToDate {
			b.WriteString(indent(rr.Diff, "      ", "      "))
		}
	}
	for _, rr := range r.Resources {
		if verbose || rr.Status != StatusUpToDate {
			line(rr)
		}
	}
	if len(r.Notifications) > 0 {
		b.WriteString("notifications:\n")
		for _, rr := range r.Notifications {
			line(rr)
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// indent prefixes the first line of s with first and the others with rest.
func indent(s, first, rest string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == 0 {
			b.WriteString(first)
		} else {
			b.WriteString(rest)
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// maxDiff bounds a resource's diff in a report (a report goes to the
// server and its history store).
const maxDiff = 64 << 10

// cutDiff cuts a diff longer than maxDiff at a line end and says so.
func cutDiff(d string) string {
	if len(d) <= maxDiff {
		return d
	}
	cut := strings.LastIndexByte(d[:maxDiff], '\n') + 1
	return d[:cut] + fmt.Sprintf("(diff cut: %d more bytes)\n", len(d)-cut)
}

// redactedDiff keeps a diff's header lines and the metadata lines (those
// that do not start with space, + or -) and replaces the content lines.
func redactedDiff(d string) string {
	var sb strings.Builder
	content := false
	for _, line := range strings.SplitAfter(d, "\n") {
		switch {
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
			sb.WriteString(line)
		case strings.HasPrefix(line, "@@"), strings.HasPrefix(line, " "), strings.HasPrefix(line, "+"),
			strings.HasPrefix(line, "-"), strings.HasPrefix(line, `\`):
			content = true
		case line != "":
			sb.WriteString(line)
		}
	}
	if content {
		sb.WriteString("(content diff redacted: sensitive)\n")
	}
	return sb.String()
}
