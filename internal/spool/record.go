package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"corral/internal/api"
)

// A record on disk is a header and a payload, little endian:
//
//	header:  uint32 payload length | uint32 CRC-32C of the payload
//	payload: uint64 seq | int64 unix nanoseconds | uint16 len(type) | type | data
//
// A record whose header or payload is short, or whose checksum does not
// match, is torn (a crash mid-write) or corrupt; recovery cuts the segment
// there.
const (
	headerSize  = 8
	fixedSize   = 8 + 8 + 2
	maxTypeLen  = 1<<16 - 1
	maxRecord   = 16 << 20 // the largest record Append takes, header included
	segmentExt  = ".seg"
	segmentName = "%020d" + segmentExt
)

// castagnoli is read-only after initialization.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord says a record is torn or corrupt.
var errBadRecord = errors.New("torn or corrupt record")

// encodeRecord appends the encoding of one record to buf.
func encodeRecord(buf []byte, seq uint64, t time.Time, typ string, data []byte) []byte {
	n := fixedSize + len(typ) + len(data)
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // CRC, filled in below
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(t.UnixNano()))
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(typ)))
	buf = append(buf, typ...)
	buf = append(buf, data...)
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+headerSize:], castagnoli))
	return buf
}

// recordSize is the encoded size of a record of this type and data.
func recordSize(typ string, data []byte) int64 {
	return int64(headerSize + fixedSize + len(typ) + len(data))
}

// readRecord reads the record at the start of r, of which at most remaining
// bytes belong to the segment. It returns the record and its encoded size,
// io.EOF when remaining is 0, or errBadRecord.
func readRecord(r io.Reader, remaining int64) (api.Report, int64, error) {
	if remaining == 0 {
		return api.Report{}, 0, io.EOF
	}
	if remaining < headerSize {
		return api.Report{}, 0, errBadRecord
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return api.Report{}, 0, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
	if n < fixedSize || n > maxRecord || n > remaining-headerSize {
		return api.Report{}, 0, errBadRecord
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return api.Report{}, 0, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return api.Report{}, 0, errBadRecord
	}
	typLen := int64(binary.LittleEndian.Uint16(p[16:18]))
	if fixedSize+typLen > n {
		return api.Report{}, 0, errBadRecord
	}
	rep := api.Report{
		Seq:  binary.LittleEndian.Uint64(p[0:8]),
		Time: time.Unix(0, int64(binary.LittleEndian.Uint64(p[8:16]))).UTC(),
		Type: string(p[fixedSize : fixedSize+typLen]),
	}
	if data := p[fixedSize+typLen:]; len(data) > 0 {
		rep.Data = data // nil otherwise, which encodes as JSON null
	}
	return rep, headerSize + n, nil
}
