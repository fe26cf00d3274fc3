package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"time"

	"corral/internal/api"
)

// A record is one entry as stored: a frame of a 4-byte little-endian payload
// length, a 4-byte CRC-32C of the payload and the payload:
//
//	varint time (Unix ns), then node, source, app, task, stream, level and
//	message as uvarint length + bytes, uvarint field count, then each field
//	key and value (sorted by key) as uvarint length + bytes.
const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt record")

// appendRecord appends the framed record of e to dst.
func appendRecord(dst []byte, e *api.LogEntry, keys []string) ([]byte, []string) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendVarint(dst, e.Time.UnixNano())
	for _, s := range [...]string{e.Node, e.Source, e.App, e.Task, e.Stream, e.Level, e.Message} {
		dst = appendString(dst, s)
	}
	keys = keys[:0]
	for k := range e.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendString(dst, e.Fields[k])
	}
	payload := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst, keys
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// frameAt returns the payload of the frame at off in b and the offset of the
// next frame; check verifies the CRC.
func frameAt(b []byte, off int64, check bool) (payload []byte, next int64, err error) {
	if off+frameHeader > int64(len(b)) {
		return nil, 0, errCorrupt
	}
	n := int64(binary.LittleEndian.Uint32(b[off:]))
	end := off + frameHeader + n
	if end > int64(len(b)) {
		return nil, 0, errCorrupt
	}
	payload = b[off+frameHeader : end]
	if check && crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[off+4:]) {
		return nil, 0, errCorrupt
	}
	return payload, end, nil
}

// decodeRecord decodes a payload into e. Strings are copied out of p.
func decodeRecord(p []byte, e *api.LogEntry) error {
	t, n := binary.Varint(p)
	if n <= 0 {
		return errCorrupt
	}
	p = p[n:]
	e.Time = time.Unix(0, t).UTC()
	var strs [7]string
	for i := range strs {
		s, rest, ok := readString(p)
		if !ok {
			return errCorrupt
		}
		strs[i], p = s, rest
	}
	e.Node, e.Source, e.App, e.Task, e.Stream, e.Level, e.Message = strs[0], strs[1], strs[2], strs[3], strs[4], strs[5], strs[6]
	nf, n := binary.Uvarint(p)
	if n <= 0 || nf > uint64(len(p)) {
		return errCorrupt
	}
	p = p[n:]
	e.Fields = nil
	if nf > 0 {
		e.Fields = make(map[string]string, nf)
	}
	for range nf {
		k, rest, ok := readString(p)
		if !ok {
			return errCorrupt
		}
		v, rest, ok := readString(rest)
		if !ok {
			return errCorrupt
		}
		e.Fields[k], p = v, rest
	}
	return nil
}

func readString(p []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return "", nil, false
	}
	return string(p[n : n+int(l)]), p[n+int(l):], true
}

// recordTime returns the time of a payload without decoding the rest.
func recordTime(p []byte) int64 {
	t, _ := binary.Varint(p)
	return t
}
