package carbon

import "strings"

// Component makes s safe as one Graphite path component: '.', '/', '\\',
// spaces, tabs and control characters become '_', and "" becomes "_". The
// host collector and check perfdata name their series with it.
func Component(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '/' || r == '\\' || r == ' ' || r == '\t':
			return '_'
		case r < 0x20 || r == 0x7f:
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "_"
	}
	return s
}
