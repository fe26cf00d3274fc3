package query

import (
	"unicode"
	"unicode/utf8"
)

// AppendWords appends the lower-cased words of s to dst and returns it. A
// word is a run of letters and digits; everything else separates words.
// Message full-text search, its index and Match all cut words with it.
func AppendWords(dst []string, s string) []string {
	start := -1
	ascii := true
	flush := func(end int) {
		w := s[start:end]
		if ascii {
			dst = append(dst, lowerASCII(w))
		} else {
			dst = append(dst, lowerUnicode(w))
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' {
				if start < 0 {
					start, ascii = i, true
				}
			} else if start >= 0 {
				flush(i)
				start = -1
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			if start < 0 {
				start = i
			}
			ascii = false
		} else if start >= 0 {
			flush(i)
			start = -1
		}
		i += n
	}
	if start >= 0 {
		flush(len(s))
	}
	return dst
}

// EachWord calls fn with each lower-cased word of s, as AppendWords cuts
// them, in a buffer (reused from buf, returned for reuse) that is only valid
// during the call. It does not allocate once buf is large enough.
func EachWord(s string, buf []byte, fn func(w []byte)) []byte {
	buf = buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: a table says word byte or not and lowers it.
			if l := asciiLower[c]; l != 0 {
				buf = append(buf, l)
			} else if len(buf) > 0 {
				fn(buf)
				buf = buf[:0]
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsNumber(r) {
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		} else if len(buf) > 0 {
			fn(buf)
			buf = buf[:0]
		}
		i += n
	}
	if len(buf) > 0 {
		fn(buf)
	}
	return buf
}

// asciiLower maps ASCII letters and digits to their lower case and every
// other byte to 0.
var asciiLower = func() (t [utf8.RuneSelf]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c] = c
		t[c-'a'+'A'] = c
	}
	return t
}()

func lowerASCII(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'A' && c <= 'Z' {
			b := []byte(w)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return w
}

func lowerUnicode(w string) string {
	b := make([]byte, 0, len(w))
	for _, r := range w {
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return string(b)
}

// Glob reports whether s matches pattern, where '*' matches any run of
// characters (including none) and every other character matches itself.
func Glob(pattern, s string) bool {
	// Iterative matcher with backtracking to the last star.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			mark++
			i = mark
			p = star + 1
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
