package index

import "unicode/utf8"

// TreeJSON renders nodes the way graphite-web's find_view does for the default
// format=treejson, byte for byte as Python's json.dumps writes it:
//
//	[{"text": "cpu", "id": "servers.a.cpu", "allowChildren": 1, "expandable": 1, "leaf": 0}, ...]
//
// Branches come first, then leaves, each group in input order. A node that is
// both leaf and branch is rendered once, as a branch, because graphite's store
// yields the branch first and tree_json keeps the first node of each name.
// Nodes with an already rendered Name are skipped, as in tree_json.
// One difference: "id" is the node's real Path, where graphite-web writes the
// query's prefix (globs included) plus the name; they agree whenever the query
// has globs only in its last node.
func TreeJSON(nodes []Node) []byte {
	seen := make(map[string]bool, len(nodes))
	var branches, leaves []Node
	for _, n := range nodes {
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		if n.Branch {
			branches = append(branches, n)
		} else {
			leaves = append(leaves, n)
		}
	}
	b := make([]byte, 0, 2+len(nodes)*96)
	b = append(b, '[')
	for i, n := range append(branches, leaves...) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"text": `...)
		b = AppendPyString(b, n.Name)
		b = append(b, `, "id": `...)
		b = AppendPyString(b, n.Path)
		if n.Branch {
			b = append(b, `, "allowChildren": 1, "expandable": 1, "leaf": 0}`...)
		} else {
			b = append(b, `, "allowChildren": 0, "expandable": 0, "leaf": 1}`...)
		}
	}
	return append(b, ']')
}

// CompleterJSON renders nodes as graphite-web's format=completer:
//
//	{"metrics": [{"path": "servers.a.", "name": "a", "is_leaf": "0"}, ...]}
//
// Branch paths end in ".". A node that is both leaf and branch yields two
// entries, branch then leaf, as graphite-web's store does.
func CompleterJSON(nodes []Node) []byte {
	b := make([]byte, 0, 16+len(nodes)*80)
	b = append(b, `{"metrics": [`...)
	first := true
	entry := func(n Node, leaf bool) {
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, `{"path": `...)
		path := n.Path
		if !leaf {
			path += "."
		}
		b = AppendPyString(b, path)
		b = append(b, `, "name": `...)
		b = AppendPyString(b, n.Name)
		if leaf {
			b = append(b, `, "is_leaf": "1"}`...)
		} else {
			b = append(b, `, "is_leaf": "0"}`...)
		}
	}
	for _, n := range nodes {
		if n.Branch || !n.Leaf {
			entry(n, false)
		}
		if n.Leaf {
			entry(n, true)
		}
	}
	return append(b, "]}"...)
}

const hexDigits = "0123456789abcdef"

// AppendPyString quotes s like Python's json.dumps with ensure_ascii=True:
// non-ASCII runes become \uXXXX (surrogate pairs above U+FFFF), invalid UTF-8
// becomes \ufffd, and '/', '<', '>', '&' are left alone.
func AppendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s { // invalid bytes decode as utf8.RuneError (U+FFFD)
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r < 0x20 || r == 0x7f:
			b = appendU(b, r)
		case r < utf8.RuneSelf:
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = appendU(b, 0xd800+(r>>10))
			b = appendU(b, 0xdc00+(r&0x3ff))
		default:
			b = appendU(b, r)
		}
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
