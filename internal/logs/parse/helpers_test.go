package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

func TestTruncate(t *testing.T) {
	tenMB := bytes.Repeat([]byte("x"), 10<<20)
	for _, tc := range []struct {
		name    string
		line    []byte
		max     int
		want    string
		wantCut bool
	}{
		{"short", []byte("hello"), 10, "hello", false},
		{"exact", []byte("hello"), 5, "hello", false},
		{"cut", []byte("hello world"), 5, "hello …[truncated 6 bytes]", true},
		{"cut before a split rune", []byte("héllo"), 2, "h …[truncated 5 bytes]", true},
		{"no limit", []byte("hello"), 0, "hello", false},
		{"invalid UTF-8 repaired", []byte("a\xffb"), 0, "a\uFFFDb", false},
		{"cut and repaired", []byte("\xff\xfeabcdef"), 4, "\uFFFDab …[truncated 4 bytes]", true},
		{"10 MB line", tenMB, 1 << 20, strings.Repeat("x", 1<<20) + " …[truncated 9437184 bytes]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := Truncate(tc.line, tc.max)
			if string(got) != tc.want || cut != tc.wantCut {
				g := string(got)
				if len(g) > 80 {
					g = g[:20] + "..." + g[len(g)-40:]
				}
				t.Errorf("Truncate = %q (len %d), %v; want len %d, %v", g, len(got), cut, len(tc.want), tc.wantCut)
			}
		})
	}
}

func TestMultiline(t *testing.T) {
	lines := []string{
		"2024-01-02 03:04:05 ERROR request failed",
		"java.lang.IllegalStateException: boom",
		"\tat com.example.Foo.bar(Foo.java:42)",
		"\tat com.example.Main.main(Main.java:7)",
		"2024-01-02 03:04:06 INFO next",
		"2024-01-02 03:04:07 INFO last",
	}
	m := &Multiline{Start: regexp.MustCompile(`^\d{4}-`)}
	var got []string
	for _, l := range lines {
		for _, ev := range m.Feed([]byte(l)) {
			got = append(got, string(ev))
		}
	}
	if !m.Pending() {
		t.Fatal("Pending() = false with the last line open")
	}
	got = append(got, string(m.Flush()))
	want := []string{
		"2024-01-02 03:04:05 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat com.example.Foo.bar(Foo.java:42)\n\tat com.example.Main.main(Main.java:7)",
		"2024-01-02 03:04:06 INFO next",
		"2024-01-02 03:04:07 INFO last",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%q\nwant\n%q", got, want)
	}
	if m.Pending() || m.Flush() != nil {
		t.Error("Flush after Flush returned an event")
	}

	// Bounds complete an event early; the line that would pass them starts the next.
	for _, tc := range []struct {
		name     string
		maxLines int
		maxBytes int
		want     []string
	}{
		{"max lines", 2, 0, []string{"a\n b", " c\n d", " e"}},
		{"max bytes", 0, 6, []string{"a\n b", " c\n d", " e"}},
		{"unbounded", 0, 0, []string{"a\n b\n c\n d\n e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Multiline{Start: regexp.MustCompile(`^\S`), MaxLines: tc.maxLines, MaxBytes: tc.maxBytes}
			var got []string
			for _, l := range []string{"a", " b", " c", " d", " e"} {
				for _, ev := range m.Feed([]byte(l)) {
					got = append(got, string(ev))
				}
			}
			got = append(got, string(m.Flush()))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewMultiline(t *testing.T) {
	m, err := NewMultiline(`^\S`, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.TimeoutOrDefault() != DefaultMultilineTimeout {
		t.Errorf("timeout %v, want the default", m.TimeoutOrDefault())
	}
	if got := m.Feed([]byte("a")); len(got) != 0 {
		t.Errorf("first line completed %q", got)
	}
	if got := m.Feed([]byte("  b")); len(got) != 0 {
		t.Errorf("continuation completed %q", got)
	}
	if m.OpenLines() != 2 {
		t.Errorf("OpenLines() = %d, want 2", m.OpenLines())
	}
	if got := m.Feed([]byte("c")); len(got) != 1 || string(got[0]) != "a\n  b" {
		t.Errorf("next start completed %q, want [\"a\\n  b\"]", got)
	}
	if m.OpenLines() != 1 {
		t.Errorf("OpenLines() = %d after a new start, want 1", m.OpenLines())
	}
	for _, bad := range []string{"", "(", "["} {
		if _, err := NewMultiline(bad, 0, 0, 0); err == nil {
			t.Errorf("NewMultiline(%q) succeeded", bad)
		}
	}
	if _, err := NewMultiline("x", -1, 0, 0); err == nil {
		t.Error("negative MaxLines accepted")
	}
}

// splitAll scans r with SplitSyslog(max).
func splitAll(t *testing.T, r interface{ Read([]byte) (int, error) }, max int) []string {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64), max+16)
	sc.Split(SplitSyslog(max))
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	return got
}

func TestSplitSyslog(t *testing.T) {
	octet := func(m string) string { return fmt.Sprintf("%d %s", len(m), m) }
	for _, tc := range []struct {
		name   string
		stream string
		max    int
		want   []string
	}{
		{
			name: "octet-counted and newline frames mixed",
			stream: octet("<13>1 2024-05-06T07:08:09Z h a - - - one\nwith a newline") + octet("<14>two") +
				"<34>Oct 11 22:14:15 h su: three\r\n\n\n" + octet("<15>four") + "<13>five\n" + "<13>six at EOF",
			max: 1024,
			want: []string{"<13>1 2024-05-06T07:08:09Z h a - - - one\nwith a newline", "<14>two",
				"<34>Oct 11 22:14:15 h su: three", "<15>four", "<13>five", "<13>six at EOF"},
		},
		{
			name:   "a line starting with digits is newline-framed",
			stream: "12 apples\n3 <13>x",
			max:    1024,
			want:   []string{"12 apples", "<13", ">x"},
		},
		{
			name:   "over-long newline frame cut, rest skipped",
			stream: "0123456789abcdefghij\nshort\n0123456789ab",
			max:    10,
			want:   []string{"0123456789 …[truncated 10 bytes]", "short", "0123456789 …[truncated 2 bytes]"},
		},
		{
			name:   "over-long octet frame cut, rest skipped",
			stream: octet("<13>aaaaaaaaaaaaaaaaaaaaa") + octet("<13>b"),
			max:    10,
			want:   []string{"<13>aaaaaa …[truncated 15 bytes]", "<13>b"},
		},
		{
			name:   "peer closes mid-frame",
			stream: "40 <13>only part",
			max:    1024,
			want:   []string{"<13>only part"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitAll(t, strings.NewReader(tc.stream), tc.max); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
			if got := splitAll(t, iotest.OneByteReader(strings.NewReader(tc.stream)), tc.max); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("one byte at a time: frames %q, want %q", got, tc.want)
			}
		})
	}
}
