package spool

import (
	"bytes"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name, typ, data string
	}{
		{"object", "check", `{"status":2,"output":"CRITICAL"}`},
		{"empty data", "heartbeat", ""},
		{"empty type", "", `[1,2,3]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Unix(1700000000, 123).UTC()
			b := encodeRecord(nil, 42, at, tt.typ, []byte(tt.data))
			if int64(len(b)) != recordSize(tt.typ, []byte(tt.data)) {
				t.Fatalf("len %d, recordSize %d", len(b), recordSize(tt.typ, []byte(tt.data)))
			}
			r, n, err := readRecord(bytes.NewReader(b), int64(len(b)))
			if err != nil || n != int64(len(b)) {
				t.Fatalf("readRecord = %d, %v", n, err)
			}
			if r.Seq != 42 || r.Type != tt.typ || string(r.Data) != tt.data || !r.Time.Equal(at) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

// FuzzReadRecord feeds arbitrary segment contents to the reader recovery
// uses: it must stop at the first bad record, never panic, and never claim
// more bytes than it was given.
func FuzzReadRecord(f *testing.F) {
	good := encodeRecord(nil, 1, time.Unix(0, 0), "check", []byte(`{"a":1}`))
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:5]...))
	f.Add(good[:len(good)-1])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		var off int64
		for {
			_, n, err := readRecord(r, int64(len(b))-off)
			if err != nil {
				break
			}
			if n <= 0 || off+n > int64(len(b)) {
				t.Fatalf("record of %d bytes at %d in %d", n, off, len(b))
			}
			off += n
		}
	})
}
