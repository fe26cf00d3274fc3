package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestRestartRecovery(t *testing.T) {
	dir := t.TempDir()
	size := recordSize("check", []byte(`{"i":0}`))
	s := openTest(t, Options{Dir: dir, SegmentBytes: 4 * size})
	appendN(t, s, 10)
	if err := s.Ack(6); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, Options{Dir: dir, SegmentBytes: 4 * size})
	rs := readAll(t, s)
	wantSeqs(t, rs, span(7, 10))
	if string(rs[0].Data) != `{"i":6}` || !rs[0].Time.Equal(t0) {
		t.Errorf("record 7 = %+v", rs[0])
	}
	if st := s.Stats(); st.Records != 4 || st.FirstSeq != 7 || st.NextSeq != 11 {
		t.Errorf("Stats = %+v", st)
	}
	if seq, err := s.Append("x", nil); err != nil || seq != 11 {
		t.Fatalf("Append after reopen = %d, %v; want 11", seq, err)
	}
	// Everything acknowledged: no segment left after a restart, and seqs
	// still continue.
	if err := s.Ack(11); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, Options{Dir: dir})
	if files := segFiles(t, dir); len(files) != 0 {
		t.Errorf("segment files: %v", files)
	}
	if seq, err := s.Append("x", nil); err != nil || seq != 12 {
		t.Fatalf("Append after full ack and reopen = %d, %v; want 12", seq, err)
	}
}

func TestTornWrite(t *testing.T) {
	size := recordSize("check", []byte(`{"i":0}`))
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		want   []uint64
	}{
		{"last byte missing", func(b []byte) []byte { return b[:len(b)-1] }, span(1, 2)},
		{"half a record", func(b []byte) []byte { return b[:len(b)-int(size)/2] }, span(1, 2)},
		{"only a partial header", func(b []byte) []byte { return b[:len(b)-int(size)+3] }, span(1, 2)},
		{"checksum mismatch", func(b []byte) []byte { b[len(b)-2] ^= 0xff; return b }, span(1, 2)},
		{"garbage after", func(b []byte) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5) }, span(1, 3)},
		{"huge length", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0) }, span(1, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, Options{Dir: dir})
			appendN(t, s, 3)
			s.Close()
			files := segFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("segment files: %v", files)
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[0], tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}

			s = openTest(t, Options{Dir: dir})
			rs := readAll(t, s)
			wantSeqs(t, rs, tt.want)
			for i, r := range rs {
				if string(r.Data) != fmt.Sprintf(`{"i":%d}`, i) {
					t.Errorf("record %d data = %s", r.Seq, r.Data)
				}
			}
			fi, _ := os.Stat(files[0])
			if fi.Size() != int64(len(tt.want))*size {
				t.Errorf("segment size after recovery = %d, want %d", fi.Size(), int64(len(tt.want))*size)
			}
			seq, err := s.Append("x", nil)
			if err != nil || seq != uint64(len(tt.want))+1 {
				t.Errorf("Append after recovery = %d, %v", seq, err)
			}
			wantSeqs(t, readAll(t, s), span(1, uint64(len(tt.want))+1))
		})
	}
}

func TestBudgetDropsOldest(t *testing.T) {
	dir := t.TempDir()
	size := recordSize("check", []byte(`{"i":10}`))
	opts := Options{Dir: dir, MaxBytes: 20 * size, SegmentBytes: 4 * size}
	s := openTest(t, opts)
	appendN(t, s, 10)
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 100; i++ {
		if _, err := s.Append("check", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Bytes > opts.MaxBytes {
			t.Fatalf("after %d appends: %d bytes over the %d budget", i+1, st.Bytes, opts.MaxBytes)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 {
		t.Fatal("nothing dropped")
	}
	// Acknowledged records are not counted as dropped.
	if st.Records+int64(st.Dropped) != 98 {
		t.Errorf("records %d + dropped %d != 98 unacknowledged appended", st.Records, st.Dropped)
	}
	rs := readAll(t, s)
	wantSeqs(t, rs, span(st.FirstSeq, 100)) // the newest survive, in order
	if int64(len(rs)) != st.Records {
		t.Errorf("read %d, Stats.Records %d", len(rs), st.Records)
	}

	s.Close()
	s = openTest(t, opts)
	if got := s.Stats(); got.Dropped != st.Dropped || got.Records != st.Records || got.NextSeq != 101 {
		t.Errorf("Stats after reopen = %+v, before %+v", got, st)
	}
}

func TestBudgetDropsWhenServerAcksNothing(t *testing.T) {
	// A record larger than a segment sits alone in the active segment; the
	// next one must push it out.
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, MaxBytes: 1000, SegmentBytes: 100})
	big := json.RawMessage(fmt.Sprintf(`"%0600d"`, 0))
	if _, err := s.Append("big", big); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("big", big); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Dropped != 1 || st.Records != 1 || st.FirstSeq != 2 || st.Bytes > 1000 {
		t.Errorf("Stats = %+v", st)
	}
	if _, err := s.Append("huge", json.RawMessage(fmt.Sprintf(`"%01000d"`, 0))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append over budget: %v, want ErrTooLarge", err)
	}
	// Dropping everything must not let seqs be reused after a restart.
	s.Close()
	s = openTest(t, Options{Dir: dir, MaxBytes: 1000, SegmentBytes: 100})
	if seq, err := s.Append("x", nil); err != nil || seq != 3 {
		t.Errorf("Append after reopen = %d, %v; want 3", seq, err)
	}
}

func TestEmptySegmentKeepsSeqs(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	appendN(t, s, 2)
	s.Close()
	// A crash right after creating the segment for seq 7.
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf(segmentName, 7)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{Dir: dir})
	if seq, err := s.Append("x", nil); err != nil || seq != 7 {
		t.Errorf("Append = %d, %v; want 7", seq, err)
	}
	wantSeqs(t, readAll(t, s), []uint64{1, 2, 7})
}
