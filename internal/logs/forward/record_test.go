package forward

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"corral/internal/api"
)

func TestEntryRecordRoundTrip(t *testing.T) {
	in := []api.LogEntry{
		testEntry(),
		{Time: time.Unix(0, 0).UTC(), Message: ""},
		{Time: time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), Node: "n", Message: "esc \"\\/\b\f\n\r\t\x01 ✓ 𝄞",
			Fields: map[string]string{"": "empty key", "k\"": "v\\"}},
		{Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), Node: "n", Message: "same node as before shares it"},
	}
	b := []byte{'['}
	for i := range in {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendEntry(b, &in[i]); err != nil {
			t.Fatal(err)
		}
	}
	b = append(b, ']')
	if !json.Valid(b) {
		t.Fatalf("record is not JSON: %s", b)
	}
	got, err := decodeEntries(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	for i := range in {
		in[i].Time = in[i].Time.UTC()
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, in)
	}
	if _, err := appendEntry(nil, &api.LogEntry{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a time in 2300 was encoded")
	}
}

func TestDecodeEntries(t *testing.T) {
	tests := []struct {
		name, in string
		want     []api.LogEntry
		wantErr  bool
	}{
		{"empty", ` [ ] `, nil, false},
		{"spaces and escapes", ` [ [ 5 , "a" ,"","","","","","\u00e9\ud834\udd1e\u0041" , "k" , "\/v" ] ] `,
			[]api.LogEntry{{Time: time.Unix(0, 5).UTC(), Node: "a", Message: "é𝄞A", Fields: map[string]string{"k": "/v"}}}, false},
		{"lone surrogate", `[[0,"","","","","","","\ud800x"]]`, []api.LogEntry{{Time: time.Unix(0, 0).UTC(), Message: "\uFFFDx"}}, false},
		{"negative time", `[[-1,"","","","","","","m"]]`, []api.LogEntry{{Time: time.Unix(0, -1).UTC(), Message: "m"}}, false},
		{"too few strings", `[[0,"","",""]]`, nil, true},
		{"field without value", `[[0,"","","","","","","m","k"]]`, nil, true},
		{"not an array", `{"a":1}`, nil, true},
		{"trailing garbage", `[[0,"","","","","","","m"]]x`, nil, true},
		{"unterminated string", `[[0,"","","","","","","m`, nil, true},
		{"control character", "[[0,\"\",\"\",\"\",\"\",\"\",\"\",\"a\x01\"]]", nil, true},
		{"bad escape", `[[0,"","","","","","","\q"]]`, nil, true},
		{"no time", `[["","","","","","","",""]]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEntries([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzEntryRecord checks that an entry comes back as encoding/json would
// bring back its strings, and that the decoder takes what encoding/json
// takes for the same shape.
func FuzzEntryRecord(f *testing.F) {
	f.Add(int64(1764093600123456789), "web1", "GET /a \"x\"", "status", "500")
	f.Add(int64(-5), "\xff", "\u2028", "", "\\")
	f.Fuzz(func(t *testing.T, ns int64, node, msg, k, v string) {
		e := api.LogEntry{Time: time.Unix(0, ns), Node: node, Message: msg, Fields: map[string]string{k: v}}
		b, err := appendEntry([]byte{'['}, &e)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, ']')
		got, err := decodeEntries(b)
		if err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		var std [][]any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(&std); err != nil {
			t.Fatalf("encoding/json cannot read %q: %v", b, err)
		}
		want := api.LogEntry{Time: time.Unix(0, ns).UTC(), Node: std[0][1].(string), Message: std[0][7].(string),
			Fields: map[string]string{std[0][8].(string): std[0][9].(string)}}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	})
}
