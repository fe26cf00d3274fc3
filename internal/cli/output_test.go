package cli

import (
	"strings"
	"testing"
	"time"
)

func TestSpan(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{45 * time.Second, "45s"},
		{12*time.Minute + 30*time.Second, "12m"},
		{time.Hour, "1h"},
		{time.Hour + 59*time.Minute + 59*time.Second, "1h59m"},
		{15*time.Hour + 5*time.Minute, "15h"},
		{50 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := span(tt.d); got != tt.want {
			t.Errorf("span(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWriteYAML(t *testing.T) {
	v := struct {
		Name   string         `json:"name"`
		Big    int64          `json:"big"`
		Ratio  float64        `json:"ratio"`
		Text   string         `json:"text"`
		Bool   string         `json:"bool_like"`
		Empty  []string       `json:"empty"`
		Nested map[string]any `json:"nested"`
	}{"a", 1 << 53, 0.5, "two\nlines\n", "true", []string{}, map[string]any{"z": nil, "a": true}}
	var b strings.Builder
	if err := writeYAML(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "name: a\nbig: 9007199254740992\nratio: 0.5\ntext: |\n  two\n  lines\nbool_like: \"true\"\nempty: []\nnested:\n  a: true\n  z: null\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
