package converge

import (
	"fmt"
	"strings"

	"corral/internal/api"
)

// Report types are the API's: agents send reports as they are.
type (
	Status         = api.ResourceStatus
	ResourceResult = api.ResourceResult
	Totals         = api.ConvergeTotals
	Report         = api.ConvergeReport
)

// Statuses of a resource in a report.
const (
	StatusUpToDate = api.StatusUpToDate
	StatusChanged  = api.StatusChanged
	StatusFailed   = api.StatusFailed
	StatusSkipped  = api.StatusSkipped
)

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
