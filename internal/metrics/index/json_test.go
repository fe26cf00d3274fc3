package index

import "testing"

func TestTreeJSON(t *testing.T) {
	nodes := []Node{
		{Path: "a.b", Name: "b", Leaf: true, Branch: true},
		{Path: "a.bb", Name: "bb", Branch: true},
		{Path: "a.c", Name: "c", Leaf: true},
		{Path: "x.c", Name: "c", Leaf: true}, // same name: dropped, as in tree_json
		{Path: "a.é\"", Name: "é\"", Leaf: true},
	}
	want := `[{"text": "b", "id": "a.b", "allowChildren": 1, "expandable": 1, "leaf": 0}, ` +
		`{"text": "bb", "id": "a.bb", "allowChildren": 1, "expandable": 1, "leaf": 0}, ` +
		`{"text": "c", "id": "a.c", "allowChildren": 0, "expandable": 0, "leaf": 1}, ` +
		`{"text": "\u00e9\"", "id": "a.\u00e9\"", "allowChildren": 0, "expandable": 0, "leaf": 1}]`
	if got := string(TreeJSON(nodes)); got != want {
		t.Errorf("TreeJSON =\n%s\nwant\n%s", got, want)
	}
	if got := string(TreeJSON(nil)); got != "[]" {
		t.Errorf("TreeJSON(nil) = %s, want []", got)
	}
}

func TestCompleterJSON(t *testing.T) {
	nodes := []Node{
		{Path: "a.b", Name: "b", Leaf: true, Branch: true},
		{Path: "a.c", Name: "c", Leaf: true},
		{Path: "a.d", Name: "d", Branch: true},
	}
	want := `{"metrics": [{"path": "a.b.", "name": "b", "is_leaf": "0"}, ` +
		`{"path": "a.b", "name": "b", "is_leaf": "1"}, ` +
		`{"path": "a.c", "name": "c", "is_leaf": "1"}, ` +
		`{"path": "a.d.", "name": "d", "is_leaf": "0"}]}`
	if got := string(CompleterJSON(nodes)); got != want {
		t.Errorf("CompleterJSON =\n%s\nwant\n%s", got, want)
	}
	if got := string(CompleterJSON(nil)); got != `{"metrics": []}` {
		t.Errorf("CompleterJSON(nil) = %s", got)
	}
}

func TestAppendPyString(t *testing.T) {
	// Expected values produced by python3 -c 'import json; print(json.dumps(s))'.
	tests := []struct{ name, in, want string }{
		{"plain", "abc/<>&", `"abc/<>&"`},
		{"escapes", "\"\\\n\r\t\b\f", `"\"\\\n\r\t\b\f"`},
		{"controls and del", "\x01\x7f", `"\u0001\u007f"`},
		{"bmp", "é", `"\u00e9"`},
		{"astral", "😀", `"\ud83d\ude00"`},
		{"invalid utf8", "\xff", `"\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendPyString(nil, tt.in)); got != tt.want {
				t.Errorf("AppendPyString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
