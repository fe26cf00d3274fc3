package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
)

// A sealed segment is two immutable files, memory-mapped for reading:
// <seq>.data holds the records sorted by (time, arrival), <seq>.idx the
// index:
//
//	header (96 bytes): "CORLIDX1", n, min time, max time, token count, and
//	  the offsets of the sections below
//	times   n × int64 (Unix ns, ascending)
//	arrival n × uint32 (ordinal in arrival order; ties on time keep it)
//	offsets (n+1) × uint64 into the data file
//	dict    tokens × (string offset u32, string length u32, postings offset
//	        u64, count u32), sorted by token
//	strings the tokens
//	postings per token: ascending positions, delta-coded uvarints
//
// A token is a lower-cased message word, or "name\x00value" for a field.
const (
	idxMagic   = "CORLIDX1"
	idxHeader  = 96
	dictRecLen = 20
)

func encodeIndex(toks []string, post func(int) []uint32, postings int, times []int64, arrival []uint32, offs []int64, minT, maxT int64) []byte {
	n := len(times)
	offTimes := uint64(idxHeader)
	offArr := offTimes + uint64(n)*8
	offOffs := offArr + uint64(n)*4
	offDict := offOffs + uint64(n+1)*8
	offStr := offDict + uint64(len(toks))*dictRecLen
	strLen := 0
	for _, t := range toks {
		strLen += len(t)
	}
	offPost := offStr + uint64(strLen)
	b := make([]byte, offPost, int(offPost)+postings*2)
	copy(b, idxMagic)
	le := binary.LittleEndian
	for i, v := range []uint64{uint64(n), uint64(minT), uint64(maxT), uint64(len(toks)), offTimes, offArr, offOffs, offDict, offStr, offPost} {
		le.PutUint64(b[8+8*i:], v)
	}
	for i, t := range times {
		le.PutUint64(b[offTimes+uint64(i)*8:], uint64(t))
	}
	for i, a := range arrival {
		le.PutUint32(b[offArr+uint64(i)*4:], a)
	}
	for i, o := range offs {
		le.PutUint64(b[offOffs+uint64(i)*8:], uint64(o))
	}
	so := offStr
	for i, t := range toks {
		d := b[offDict+uint64(i)*dictRecLen:]
		le.PutUint32(d, uint32(so-offStr))
		le.PutUint32(d[4:], uint32(len(t)))
		copy(b[so:], t)
		so += uint64(len(t))
		l := post(i)
		le.PutUint64(d[8:], uint64(len(b))-offPost)
		le.PutUint32(d[16:], uint32(len(l)))
		prev := uint32(0)
		for _, p := range l {
			b = binary.AppendUvarint(b, uint64(p-prev))
			prev = p
		}
	}
	le.PutUint64(b[88:], uint64(len(b)))
	return b
}

// sealed is an open sealed segment.
type sealed struct {
	seq        uint64
	n          int
	minT, maxT int64
	data, idx  []byte // mapped
	bytes      int64

	offTimes, offArr, offOffs, offDict, offStr, offPost, endPost uint64
	ntok                                                         int
}

func mmapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return []byte{}, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return b, nil
}

func munmap(b []byte) {
	if len(b) > 0 {
		_ = syscall.Munmap(b)
	}
}

func openSealed(seq uint64, dataPath, idxPath string) (*sealed, error) {
	idx, err := mmapFile(idxPath)
	if err != nil {
		return nil, err
	}
	if len(idx) < idxHeader || string(idx[:8]) != idxMagic {
		munmap(idx)
		return nil, fmt.Errorf("index %s: bad header", idxPath)
	}
	data, err := mmapFile(dataPath)
	if err != nil {
		munmap(idx)
		return nil, err
	}
	le := binary.LittleEndian
	h := func(i int) uint64 { return le.Uint64(idx[8+8*i:]) }
	s := &sealed{
		seq: seq, n: int(h(0)), minT: int64(h(1)), maxT: int64(h(2)), ntok: int(h(3)),
		offTimes: h(4), offArr: h(5), offOffs: h(6), offDict: h(7), offStr: h(8), offPost: h(9), endPost: h(10),
		data: data, idx: idx, bytes: int64(len(data) + len(idx)),
	}
	if s.endPost != uint64(len(idx)) || s.offPost > s.endPost || s.offOffs+uint64(s.n+1)*8 > uint64(len(idx)) ||
		le.Uint64(idx[s.offOffs+uint64(s.n)*8:]) != uint64(len(data)) {
		s.close()
		return nil, fmt.Errorf("index %s: sections do not fit (%d bytes of data)", idxPath, len(data))
	}
	return s, nil
}

func (s *sealed) close() {
	munmap(s.data)
	munmap(s.idx)
	s.data, s.idx = nil, nil
}

func (s *sealed) time(pos int) int64 {
	return int64(binary.LittleEndian.Uint64(s.idx[s.offTimes+uint64(pos)*8:]))
}

func (s *sealed) arrival(pos int) uint32 {
	return binary.LittleEndian.Uint32(s.idx[s.offArr+uint64(pos)*4:])
}

func (s *sealed) record(pos int) []byte {
	le := binary.LittleEndian
	start := le.Uint64(s.idx[s.offOffs+uint64(pos)*8:])
	p, _, err := frameAt(s.data, int64(start), false)
	if err != nil {
		return nil
	}
	return p
}

func (s *sealed) token(i int) string {
	d := s.idx[s.offDict+uint64(i)*dictRecLen:]
	le := binary.LittleEndian
	o, l := uint64(le.Uint32(d)), uint64(le.Uint32(d[4:]))
	return string(s.idx[s.offStr+o : s.offStr+o+l])
}

func (s *sealed) tokenBytes(i int) []byte {
	d := s.idx[s.offDict+uint64(i)*dictRecLen:]
	le := binary.LittleEndian
	o, l := uint64(le.Uint32(d)), uint64(le.Uint32(d[4:]))
	return s.idx[s.offStr+o : s.offStr+o+l]
}

// postings decodes the postings of token i.
func (s *sealed) postings(i int) []uint32 {
	d := s.idx[s.offDict+uint64(i)*dictRecLen:]
	le := binary.LittleEndian
	start := s.offPost + le.Uint64(d[8:])
	count := int(le.Uint32(d[16:]))
	out := make([]uint32, count)
	b := s.idx[start:s.endPost]
	prev := uint64(0)
	for j := range out {
		v, n := binary.Uvarint(b)
		b = b[n:]
		prev += v
		out[j] = uint32(prev)
	}
	return out
}

// count returns the number of postings of token i.
func (s *sealed) count(i int) int {
	return int(binary.LittleEndian.Uint32(s.idx[s.offDict+uint64(i)*dictRecLen+16:]))
}

// search returns the index of the first token >= tok.
func (s *sealed) search(tok string) int {
	return sort.Search(s.ntok, func(i int) bool { return string(s.tokenBytes(i)) >= tok })
}

func (s *sealed) lookup(tok string) []uint32 {
	i := s.search(tok)
	if i < s.ntok && string(s.tokenBytes(i)) == tok {
		return s.postings(i)
	}
	return nil
}

func (s *sealed) prefix(p string, accept func(tok string) bool, add func(post []uint32)) {
	for i := s.search(p); i < s.ntok; i++ {
		t := s.token(i)
		if !strings.HasPrefix(t, p) {
			return
		}
		if accept(t) {
			add(s.postings(i))
		}
	}
}

func (s *sealed) size() int { return s.n }
