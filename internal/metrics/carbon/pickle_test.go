package carbon

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "regenerate testdata/pickle_golden.txt with python3")

// pickleCase is a Python value as carbon clients send it and the points it means.
type pickleCase struct {
	name   string
	expr   string // Python expression
	protos []int  // protocols to pickle it with
	want   []Point
	bad    int  // entries expected to be skipped
	golden bool // kept in testdata so the test runs without python
}

var strProtos = []int{0, 1, 2, 3, 4, 5}

func manyPoints(n int) []Point {
	ps := make([]Point, n)
	for i := range ps {
		ps[i] = Point{"m" + strconv.Itoa(i), float64(i) * 0.5, int64(i)}
	}
	return ps
}

var pickleCases = []pickleCase{
	{name: "basic", expr: `[("a.b", (1700000000, 1.5)), ("c", (1700000001, -2.0))]`, protos: strProtos, golden: true,
		want: []Point{{"a.b", 1.5, 1700000000}, {"c", -2, 1700000001}}},
	{name: "lists-and-strings", expr: `[("a", [1700000000, "3.25"]), ("b", ("1700000000.7", 4, "extra"))]`, protos: strProtos, golden: true,
		want: []Point{{"a", 3.25, 1700000000}, {"b", 4, 1700000000}}},
	{name: "unicode", expr: `[("\u00fcn\u00ef.c\u00f8d\u00e9", (1, 2.0)), ("\u4e2d\u6587;z=1;a=2", (3, 4))]`, protos: strProtos, golden: true,
		want: []Point{{"ünï.cødé", 2, 1}, {"中文;a=2;z=1", 4, 3}}},
	{name: "bad-entries", expr: `[("ok", (1, 2)), ("nan", (1, float("nan"))), ("short", (1,)), (None, (1, 2)), ("x", (-1, 2)), ("ok2", (2, 3))]`,
		protos: strProtos, golden: true, bad: 4, want: []Point{{"ok", 2, 1}, {"ok2", 3, 2}}},
	{name: "big-ints-and-bools", expr: `[("big", (2**40, 2**70)), ("neg", (1, -2**63)), ("t", (1, True)), ("h", (2**31, -(2**100)))]`, protos: strProtos, golden: true,
		want: []Point{{"big", 0x1p70, 1 << 40}, {"neg", -0x1p63, 1}, {"t", 1, 1}, {"h", -0x1p100, 1 << 31}}},
	{name: "memo-shared", expr: `(lambda x: [x, x, x])(("s", (1, 2)))`, protos: strProtos, golden: true,
		want: []Point{{"s", 2, 1}, {"s", 2, 1}, {"s", 2, 1}}},
	{name: "tuple-top-level", expr: `(("a", (1, 2)),)`, protos: strProtos, golden: true, want: []Point{{"a", 2, 1}}},
	{name: "empty", expr: `[]`, protos: strProtos, golden: true, want: []Point{}},
	{name: "bytes-name", expr: `[(b"a.b", (1, 2)), (b"t;b=1;a=2", (3, 4.5))]`, protos: []int{3, 4, 5}, golden: true,
		want: []Point{{"a.b", 2, 1}, {"t;a=2;b=1", 4.5, 3}}},
	{name: "many", expr: `[("m%d" % i, (i, i * 0.5)) for i in range(2500)]`, protos: strProtos, want: manyPoints(2500)},
}

func checkPickle(t *testing.T, c pickleCase, frame []byte) {
	t.Helper()
	got, err := ParsePickle(frame)
	var bad *BadEntriesError
	switch {
	case c.bad == 0 && err != nil:
		t.Fatalf("ParsePickle: %v", err)
	case c.bad > 0 && (!errors.As(err, &bad) || bad.Count != c.bad):
		t.Fatalf("ParsePickle error = %v, want %d bad entries", err, c.bad)
	}
	if len(got) != len(c.want) {
		t.Fatalf("got %d points %+v, want %d", len(got), got, len(c.want))
	}
	for i := range got {
		if got[i] != c.want[i] {
			t.Fatalf("point %d = %+v, want %+v", i, got[i], c.want[i])
		}
	}
}

// pythonFrames pickles every (case, protocol) of cases with one python3 run
// and returns the length-prefixed frames in order.
func pythonFrames(t *testing.T, py string, cases []pickleCase) [][]byte {
	t.Helper()
	const script = `import pickle,sys,struct
for line in sys.stdin:
    expr, proto = line.rstrip("\n").rsplit(" ", 1)
    d = pickle.dumps(eval(expr), protocol=int(proto))
    sys.stdout.write((struct.pack("!L", len(d)) + d).hex() + "\n")`
	var in strings.Builder
	n := 0
	for _, c := range cases {
		for _, proto := range c.protos {
			fmt.Fprintf(&in, "%s %d\n", c.expr, proto)
			n++
		}
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != n {
		t.Fatalf("python3 wrote %d frames, want %d", len(lines), n)
	}
	frames := make([][]byte, n)
	for i, l := range lines {
		if frames[i], err = hex.DecodeString(l); err != nil {
			t.Fatal(err)
		}
	}
	return frames
}

// TestPicklePython decodes frames made by the real Python pickle module.
func TestPicklePython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; TestPickleGolden covers the stored frames")
	}
	frames := pythonFrames(t, py, pickleCases)
	i := 0
	for _, c := range pickleCases {
		for _, proto := range c.protos {
			out := frames[i]
			i++
			t.Run(fmt.Sprintf("%s/proto%d", c.name, proto), func(t *testing.T) {
				r := bytes.NewReader(out)
				frame, err := ReadPickleFrame(r, 0)
				if err != nil {
					t.Fatalf("ReadPickleFrame: %v", err)
				}
				if _, err := ReadPickleFrame(r, 0); err != io.EOF {
					t.Fatalf("second ReadPickleFrame = %v, want io.EOF", err)
				}
				checkPickle(t, c, frame)
			})
		}
	}
}

const goldenFile = "testdata/pickle_golden.txt"

// TestPickleGolden decodes stored frames: Python 3 output (regenerate with
// -update) and hand-written Python 2 style frames.
func TestPickleGolden(t *testing.T) {
	if *updateGolden {
		writeGolden(t)
	}
	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := map[string]pickleCase{}
	for _, c := range pickleCases {
		cases[c.name] = c
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		c, ok := cases[fields[0]]
		if !ok {
			t.Fatalf("golden case %q unknown", fields[0])
		}
		frame, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fields[0]+"/proto"+fields[1], func(t *testing.T) { checkPickle(t, c, frame) })
		n++
	}
	if n == 0 {
		t.Fatal("no golden frames")
	}
}

func writeGolden(t *testing.T) {
	var golden []pickleCase
	for _, c := range pickleCases {
		if c.golden {
			golden = append(golden, c)
		}
	}
	frames := pythonFrames(t, "python3", golden)
	var b strings.Builder
	b.WriteString("# case protocol hex(pickle); written by: go test -run TestPickleGolden -args -update (needs python3)\n")
	i := 0
	for _, c := range golden {
		for _, proto := range c.protos {
			fmt.Fprintf(&b, "%s %d %x\n", c.name, proto, frames[i][4:])
			i++
		}
	}
	if err := os.WriteFile(filepath.FromSlash(goldenFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPicklePython2 decodes frames as Python 2 clients (cPickle) write them.
func TestPicklePython2(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  []Point
	}{
		{"proto0", "(lp0\n(S'a.b'\np1\n(I1700000000\nF1.5\ntp2\ntp3\na(S'c\\x41\\101\\n'\np4\n(L1700000001L\nS'2.5'\np5\ntp6\ntp7\na.",
			[]Point{{"a.b", 1.5, 1700000000}, {"cAA\n", 2.5, 1700000001}}},
		{"proto0-double-quoted", "(lp0\n(S\"it's\"\n(I5\nI01\ntta.", []Point{{"it's", 1, 5}}},
		{"proto2-short-binstring", "\x80\x02]q\x00U\x03a.bq\x01J\x00\xf1SeG?\xf8\x00\x00\x00\x00\x00\x00\x86q\x02\x86q\x03a.",
			[]Point{{"a.b", 1.5, 1700000000}}},
		{"proto1-binstring", "]q\x00((T\x01\x00\x00\x00xq\x01(K\x07M\x00\x01tq\x02tq\x03e.", []Point{{"x", 256, 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPickle(t, pickleCase{want: tt.want}, []byte(tt.frame))
		})
	}
}

func TestPickleRejects(t *testing.T) {
	tests := []struct{ name, frame, want string }{
		{"GLOBAL os.system", "cos\nsystem\n(S'echo hi'\ntR.", `opcode 'c'`},
		{"GLOBAL builtins.eval proto2", "\x80\x02c__builtin__\neval\nq\x00X\x03\x00\x00\x001+1\x85R.", `opcode 'c'`},
		{"STACK_GLOBAL", "\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.", "opcode 0x93"},
		{"REDUCE", "]N\x85R.", `opcode 'R'`},
		{"BUILD", "]}b.", `opcode '}'`},
		{"INST", "(i__main__\nX\n.", `opcode 'i'`},
		{"OBJ", "(]o.", `opcode 'o'`},
		{"NEWOBJ", "])\x81.", "opcode 0x81"},
		{"EXT1", "\x82\x01.", "opcode 0x82"},
		{"PERSID", "P1\n.", `opcode 'P'`},
		{"dict", "}.", `opcode '}'`},
		{"no STOP", "]", "no STOP"},
		{"empty", "", "no STOP"},
		{"STOP on empty stack", ".", "empty stack"},
		{"truncated BINUNICODE", "X\xff\x00\x00\x00ab.", "truncated"},
		{"huge BINUNICODE8", "\x8d\xff\xff\xff\xff\xff\xff\xff\xffab.", "truncated"},
		{"missing memo", "g5\n.", "memo key 5"},
		{"APPEND to tuple", ")K\x01a.", "APPEND to a tuple"},
		{"APPEND without list", "K\x01a.", "underflow"},
		{"TUPLE2 underflow", "K\x01\x86.", "underflow"},
		{"TUPLE2 across MARK", "K\x01(K\x02\x86.", "underflow"},
		{"deep marks", strings.Repeat("(", 100) + ".", "nested deeper"},
		{"list without mark", "l.", "no MARK"},
		{"top level int", "K\x01.", "top level is a int"},
		{"top level None", "N.", "top level is a None"},
		{"bad protocol", "\x80\x09].", "unsupported protocol"},
		{"bad utf8", "X\x01\x00\x00\x00\xff\x85.", "invalid UTF-8"},
		{"unquoted STRING", "Sabc\n.", "must be quoted"},
		{"bad INT", "Iabc\n.", "not a number"},
		{"bad FLOAT", "Fabc\n.", "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := ParsePickle([]byte(tt.frame))
			if !errors.Is(err, ErrPickle) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParsePickle = %+v, %v; want ErrPickle containing %q", pts, err, tt.want)
			}
			if pts != nil {
				t.Fatalf("points %+v returned with a bad pickle", pts)
			}
		})
	}
}

func TestPickleLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 2M values")
	}
	// More values than allowed: a list of many None.
	var b bytes.Buffer
	b.WriteString("](")
	for i := 0; i < maxPickleVals+1; i++ {
		b.WriteByte('N')
	}
	b.WriteString("e.")
	if _, err := ParsePickle(b.Bytes()); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("ParsePickle of %d values = %v", maxPickleVals+1, err)
	}
	if _, err := ParsePickle(make([]byte, MaxPickleFrame+1)); !errors.Is(err, ErrPickle) {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestReadPickleFrame(t *testing.T) {
	frame := func(n uint32, body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(b, body...)
	}
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    string
		wantErr string
	}{
		{name: "ok", in: frame(3, "abcrest"), want: "abc"},
		{name: "empty frame", in: frame(0, ""), want: ""},
		{name: "eof", in: nil, wantErr: "EOF"},
		{name: "short header", in: []byte{0, 0}, wantErr: "frame length: unexpected EOF"},
		{name: "short body", in: frame(10, "abc"), wantErr: "unexpected EOF"},
		{name: "over limit", in: frame(101, ""), max: 100, wantErr: "exceeds the limit of 100"},
		{name: "over hard limit", in: frame(MaxPickleFrame+1, ""), max: math.MaxInt32, wantErr: "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPickleFrame(bytes.NewReader(tt.in), tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadPickleFrame = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadPickleFrame = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
