package carbon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Limits of the pickle decoder. They bound the memory one frame can use.
const (
	MaxPickleFrame = 16 << 20 // bytes in one frame
	maxPickleDepth = 64       // nested MARKs
	maxPickleVals  = 2 << 20  // values created while decoding one frame (~400k points)
)

// ErrPickle is wrapped by every error about a malformed or unsafe pickle.
var ErrPickle = errors.New("bad pickle")

// ReadPickleFrame reads one frame of carbon's pickle protocol: a 4-byte
// big-endian length and that many bytes. A frame longer than maxBytes (or
// MaxPickleFrame when maxBytes <= 0) is an error and the stream is unusable
// afterwards. io.EOF is returned only when the stream ends before a frame.
func ReadPickleFrame(r io.Reader, maxBytes int) ([]byte, error) {
	if maxBytes <= 0 || maxBytes > MaxPickleFrame {
		maxBytes = MaxPickleFrame
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("read pickle frame length: %w", err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(maxBytes) {
		return nil, fmt.Errorf("pickle frame of %d bytes exceeds the limit of %d: %w", n, maxBytes, ErrPickle)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read pickle frame of %d bytes: %w", n, err)
	}
	return frame, nil
}

type pkind uint8

const (
	pNone pkind = iota
	pBool
	pInt
	pBig // integer outside int64; f holds its nearest float64
	pFloat
	pStr // str or bytes
	pList
	pTuple
)

var kindNames = [...]string{"None", "bool", "int", "int", "float", "str", "list", "tuple"}

// pval is one decoded Python value. Lists and tuples share their items
// through seq, so a memoised list sees later APPENDs as in Python.
type pval struct {
	k   pkind
	n   int64
	f   float64
	s   string
	seq *[]pval
}

type unpickler struct {
	data  []byte
	pos   int
	stack []pval
	marks []int
	memo  map[uint64]pval
	vals  int
	slab  []pval   // backing store for small tuples and lists
	hdrs  [][]pval // backing store for seq headers
}

// alloc returns a zeroed slice of n values with capacity n, carved from a
// slab to save one allocation per tuple.
func (u *unpickler) alloc(n int) []pval {
	if n > 64 {
		return make([]pval, n)
	}
	if len(u.slab) < n {
		u.slab = make([]pval, 1024)
	}
	s := u.slab[:n:n]
	u.slab = u.slab[n:]
	return s
}

func perr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrPickle)
}

// decodePickle decodes a pickle that builds only None, bools, ints, floats,
// strings, bytes, lists and tuples. Any other opcode (GLOBAL, REDUCE, BUILD,
// INST, OBJ, ...) is rejected: nothing is ever looked up or called.
func decodePickle(data []byte) (pval, error) {
	u := &unpickler{data: data, stack: make([]pval, 0, 16)}
	for {
		if u.pos >= len(u.data) {
			return pval{}, perr("truncated: no STOP opcode")
		}
		op := u.data[u.pos]
		u.pos++
		if op == '.' { // STOP
			if len(u.stack) == 0 {
				return pval{}, perr("STOP with an empty stack")
			}
			return u.stack[len(u.stack)-1], nil
		}
		if err := u.step(op); err != nil {
			return pval{}, err
		}
	}
}

func (u *unpickler) push(v pval) error {
	u.vals++
	if u.vals > maxPickleVals {
		return perr("more than %d values", maxPickleVals)
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) read(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, perr("truncated at byte %d", u.pos)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) readLine() ([]byte, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			b := u.data[u.pos:i]
			u.pos = i + 1
			return b, nil
		}
	}
	return nil, perr("truncated line at byte %d", u.pos)
}

func (u *unpickler) readUint(n int) (uint64, error) {
	b, err := u.read(uint64(n))
	if err != nil {
		return 0, err
	}
	var x uint64
	for i := n - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x, nil
}

// popMark pops the items above the topmost MARK.
func (u *unpickler) popMark() ([]pval, error) {
	if len(u.marks) == 0 {
		return nil, perr("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := u.alloc(len(u.stack) - m)
	copy(items, u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) seq(k pkind, items []pval) error {
	if len(u.hdrs) == 0 {
		u.hdrs = make([][]pval, 256)
	}
	h := &u.hdrs[0]
	u.hdrs = u.hdrs[1:]
	*h = items
	return u.push(pval{k: k, seq: h})
}

// popN pops the top n values.
func (u *unpickler) popN(n int) ([]pval, error) {
	base := len(u.stack) - n
	if base < u.floor() {
		return nil, perr("stack underflow")
	}
	items := u.alloc(n)
	copy(items, u.stack[base:])
	u.stack = u.stack[:base]
	return items, nil
}

// floor is the lowest stack index usable without popping a MARK.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) top() (*pval, error) {
	if len(u.stack) <= u.floor() {
		return nil, perr("stack underflow")
	}
	return &u.stack[len(u.stack)-1], nil
}

func (u *unpickler) memoPut(idx uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if u.memo == nil {
		u.memo = make(map[uint64]pval)
	}
	u.memo[idx] = *v
	return nil
}

func (u *unpickler) memoGet(idx uint64) error {
	v, ok := u.memo[idx]
	if !ok {
		return perr("memo key %d not found", idx)
	}
	return u.push(v)
}

func (u *unpickler) appendTo(items []pval) error {
	l, err := u.top()
	if err != nil {
		return err
	}
	if l.k != pList {
		return perr("APPEND to a %s", kindNames[l.k])
	}
	*l.seq = append(*l.seq, items...)
	return nil
}

func (u *unpickler) step(op byte) error {
	switch op {
	case '(': // MARK
		if len(u.marks) >= maxPickleDepth {
			return perr("nested deeper than %d", maxPickleDepth)
		}
		u.marks = append(u.marks, len(u.stack))
		return nil
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return perr("unsupported protocol %d", b[0])
		}
		return nil
	case 0x95: // FRAME: a hint, the data follows inline
		_, err := u.readUint(8)
		return err
	case 'N':
		return u.push(pval{k: pNone})
	case 0x88, 0x89: // NEWTRUE, NEWFALSE
		return u.push(pval{k: pBool, n: int64(0x89 - op)})
	case 'I', 'L': // INT, LONG (protocol 0 text)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		if op == 'I' && (string(line) == "00" || string(line) == "01") {
			return u.push(pval{k: pBool, n: int64(line[1] - '0')})
		}
		if op == 'L' && len(line) > 0 && line[len(line)-1] == 'L' {
			line = line[:len(line)-1]
		}
		return u.pushIntText(line)
	case 'J': // BININT
		x, err := u.readUint(4)
		if err != nil {
			return err
		}
		return u.push(pval{k: pInt, n: int64(int32(uint32(x)))})
	case 'K', 'M': // BININT1, BININT2
		width := 1
		if op == 'M' {
			width = 2
		}
		x, err := u.readUint(width)
		if err != nil {
			return err
		}
		return u.push(pval{k: pInt, n: int64(x)})
	case 0x8a, 0x8b: // LONG1, LONG4
		width := 1
		if op == 0x8b {
			width = 4
		}
		n, err := u.readUint(width)
		if err != nil {
			return err
		}
		b, err := u.read(n)
		if err != nil {
			return err
		}
		return u.push(longLE(b))
	case 'F': // FLOAT (text)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		f, ok := parseFloat(trimSpace(line))
		if !ok {
			return perr("FLOAT %q is not a number", line)
		}
		return u.push(pval{k: pFloat, f: f})
	case 'G': // BINFLOAT, big-endian
		b, err := u.read(8)
		if err != nil {
			return err
		}
		return u.push(pval{k: pFloat, f: math.Float64frombits(binary.BigEndian.Uint64(b))})
	case 'S': // STRING: a quoted Python 2 literal
		line, err := u.readLine()
		if err != nil {
			return err
		}
		s, err := unquoteString(line)
		if err != nil {
			return err
		}
		return u.push(pval{k: pStr, s: s})
	case 'V': // UNICODE: raw-unicode-escape
		line, err := u.readLine()
		if err != nil {
			return err
		}
		s, err := rawUnicodeEscape(line)
		if err != nil {
			return err
		}
		return u.push(pval{k: pStr, s: s})
	case 'T', 'U', 'B', 'C', 'X', 0x8c, 0x8d, 0x8e: // counted strings and bytes
		return u.counted(op)
	case 'p', 'g': // PUT, GET (text index)
		line, err := u.readLine()
		if err != nil {
			return err
		}
		idx, err := strconv.ParseUint(string(line), 10, 64)
		if err != nil {
			return perr("bad memo index %q", line)
		}
		if op == 'p' {
			return u.memoPut(idx)
		}
		return u.memoGet(idx)
	case 'q', 'r', 'h', 'j': // BINPUT, LONG_BINPUT, BINGET, LONG_BINGET
		width := 1
		if op == 'r' || op == 'j' {
			width = 4
		}
		idx, err := u.readUint(width)
		if err != nil {
			return err
		}
		if op == 'q' || op == 'r' {
			return u.memoPut(idx)
		}
		return u.memoGet(idx)
	case 0x94: // MEMOIZE
		return u.memoPut(uint64(len(u.memo)))
	case ']':
		return u.seq(pList, nil)
	case ')':
		return u.seq(pTuple, nil)
	case 'l', 't': // LIST, TUPLE from MARK
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if op == 'l' {
			return u.seq(pList, items)
		}
		return u.seq(pTuple, items)
	case 0x85, 0x86, 0x87: // TUPLE1..3
		items, err := u.popN(int(op-0x85) + 1)
		if err != nil {
			return err
		}
		return u.seq(pTuple, items)
	case 'a': // APPEND
		items, err := u.popN(1)
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	}
	if op >= 0x20 && op < 0x7f {
		return perr("opcode %q at byte %d not allowed", op, u.pos-1)
	}
	return perr("opcode 0x%02x at byte %d not allowed", op, u.pos-1)
}

func (u *unpickler) counted(op byte) error {
	width := 4
	switch op {
	case 'U', 'C', 0x8c:
		width = 1
	case 0x8d, 0x8e:
		width = 8
	}
	n, err := u.readUint(width)
	if err != nil {
		return err
	}
	if op == 'T' && int32(uint32(n)) < 0 {
		return perr("negative BINSTRING length")
	}
	b, err := u.read(n)
	if err != nil {
		return err
	}
	if (op == 'X' || op == 0x8c || op == 0x8d) && !utf8.Valid(b) {
		return perr("invalid UTF-8 in unicode string at byte %d", u.pos-len(b))
	}
	return u.push(pval{k: pStr, s: string(b)})
}

func (u *unpickler) pushIntText(b []byte) error {
	b = trimSpace(b)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return u.push(pval{k: pInt, n: n})
	}
	var z big.Int
	if _, ok := z.SetString(string(b), 10); !ok {
		return perr("integer %q is not a number", b)
	}
	f, _ := new(big.Float).SetInt(&z).Float64()
	return u.push(pval{k: pBig, f: f})
}

// longLE decodes a little-endian two's complement integer (LONG1, LONG4).
func longLE(b []byte) pval {
	if len(b) == 0 {
		return pval{k: pInt}
	}
	if len(b) <= 8 {
		var x uint64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*len(b))
		return pval{k: pInt, n: int64(x<<shift) >> shift}
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	z := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		z.Sub(z, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	f, _ := new(big.Float).SetInt(z).Float64()
	return pval{k: pBig, f: f}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
