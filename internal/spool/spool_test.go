package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"corral/internal/api"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)

func openTest(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t testing.TB, s *Spool, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := 0; i < n; i++ {
		seq, err := s.Append("check", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func seqsOf(rs []api.Report) []uint64 {
	out := []uint64{}
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func span(from, to uint64) []uint64 {
	out := []uint64{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func readAll(t testing.TB, s *Spool) []api.Report {
	t.Helper()
	rs, err := s.Read(0, 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return rs
}

func wantSeqs(t *testing.T, got []api.Report, want []uint64) {
	t.Helper()
	if fmt.Sprint(seqsOf(got)) != fmt.Sprint(want) {
		t.Fatalf("seqs = %v, want %v", seqsOf(got), want)
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestAppendReadAck(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	if got := appendN(t, s, 5); fmt.Sprint(got) != fmt.Sprint(span(1, 5)) {
		t.Fatalf("seqs = %v", got)
	}
	rs := readAll(t, s)
	wantSeqs(t, rs, span(1, 5))
	if r := rs[2]; r.Type != "check" || string(r.Data) != `{"i":2}` || !r.Time.Equal(t0) {
		t.Errorf("record 3 = %+v", r)
	}
	rs, _ = s.Read(2, 0)
	wantSeqs(t, rs, span(1, 2))
	if err := s.Ack(2); err != nil {
		t.Fatal(err)
	}
	rs, _ = s.Read(2, 0)
	wantSeqs(t, rs, span(3, 4))
	if st := s.Stats(); st.Records != 3 || st.FirstSeq != 3 || st.NextSeq != 6 || st.Dropped != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if err := s.Ack(1); err != nil { // going back is a no-op
		t.Fatal(err)
	}
	if err := s.Ack(100); err != nil { // beyond the end acks everything
		t.Fatal(err)
	}
	wantSeqs(t, readAll(t, s), []uint64{})
	if st := s.Stats(); st.Records != 0 || st.FirstSeq != 6 || st.NextSeq != 6 {
		t.Errorf("Stats = %+v", st)
	}
	if seq, _ := s.Append("x", nil); seq != 6 {
		t.Errorf("seq after ack beyond end = %d, want 6", seq)
	}
}

func TestReadMaxBytes(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	appendN(t, s, 10)
	size := int(recordSize("check", []byte(`{"i":0}`)))
	tests := []struct {
		name          string
		max, maxBytes int
		want          []uint64
	}{
		{"bytes for three", 0, 3 * size, span(1, 3)},
		{"bytes for three and a half", 0, 3*size + size/2, span(1, 3)},
		{"one even when too big", 0, 1, span(1, 1)},
		{"count wins", 2, 100 * size, span(1, 2)},
		{"bytes win", 5, 2 * size, span(1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := s.Read(tt.max, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			wantSeqs(t, rs, tt.want)
		})
	}
}

func TestReadAcrossSegmentsWithCursor(t *testing.T) {
	dir := t.TempDir()
	size := recordSize("check", []byte(`{"i":0}`))
	s := openTest(t, Options{Dir: dir, SegmentBytes: 3 * size})
	appendN(t, s, 20)
	if n := len(segFiles(t, dir)); n < 5 {
		t.Fatalf("%d segment files, want several", n)
	}
	var got []uint64
	for {
		rs, err := s.Read(4, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		got = append(got, seqsOf(rs)...)
		if err := s.Ack(rs[len(rs)-1].Seq); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(span(1, 20)) {
		t.Fatalf("shipped %v", got)
	}
	// Only the segment being written is left.
	if files := segFiles(t, dir); len(files) != 1 {
		t.Errorf("segment files after acking all: %v", files)
	}
}

func TestAppendRejects(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	if _, err := s.Append("x", json.RawMessage(`{"broken`)); err == nil {
		t.Error("invalid JSON accepted")
	}
	if _, err := s.Append(string(make([]byte, maxTypeLen+1)), nil); err == nil {
		t.Error("overlong type accepted")
	}
	if st := s.Stats(); st.NextSeq != 1 {
		t.Errorf("rejected appends used seqs: %+v", st)
	}
}

func TestNullData(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	if _, err := s.Append("x", nil); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(readAll(t, s))
	if err != nil {
		t.Fatalf("marshal reports: %v", err)
	}
	want := `[{"seq":1,"type":"x","time":"2026-03-04T05:06:07.000000008Z","data":null}]`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestLockAndClose(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir})
	if s2, err := Open(Options{Dir: dir}); err == nil {
		s2.Close()
		t.Fatal("second Open of the same dir succeeded")
	}
	ch := s.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Error("Close did not wake waiters")
	}
	if _, err := s.Append("x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := s.Read(1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWait(t *testing.T) {
	s := openTest(t, Options{Dir: t.TempDir()})
	ch := s.Wait()
	select {
	case <-ch:
		t.Fatal("Wait fired before any Append")
	default:
	}
	appendN(t, s, 1)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not fire after Append")
	}
	select {
	case <-s.Wait():
		t.Fatal("a fresh Wait fired without a new Append")
	default:
	}
}

func TestConcurrentAppenders(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{Dir: dir, SegmentBytes: 4 << 10})
	const goroutines, each = 20, 50
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq, err := s.Append("metric", json.RawMessage(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[seq] {
					t.Errorf("seq %d handed out twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		}()
	}
	// A shipper reads and acks beside the appenders.
	done := make(chan struct{})
	shipped := 0
	go func() {
		defer close(done)
		for shipped < goroutines*each {
			ch := s.Wait()
			rs, err := s.Read(100, 0)
			if err != nil {
				t.Error(err)
				return
			}
			if len(rs) == 0 {
				<-ch
				continue
			}
			shipped += len(rs)
			if err := s.Ack(rs[len(rs)-1].Seq); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("shipper did not get every record")
	}
	if shipped != goroutines*each || len(seen) != goroutines*each {
		t.Errorf("shipped %d, seqs %d, want %d", shipped, len(seen), goroutines*each)
	}
	if st := s.Stats(); st.Records != 0 || st.NextSeq != goroutines*each+1 {
		t.Errorf("Stats = %+v", st)
	}
}

func BenchmarkAppend(b *testing.B) {
	data := json.RawMessage(fmt.Sprintf(`{"check":"disk","status":0,"output":%q}`, fmt.Sprintf("%0200d", 0)))
	b.Run("serial", func(b *testing.B) {
		s := openTest(b, Options{Dir: b.TempDir(), MaxBytes: 1 << 30})
		b.SetBytes(recordSize("check", data))
		for b.Loop() {
			if _, err := s.Append("check", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s := openTest(b, Options{Dir: b.TempDir(), MaxBytes: 1 << 30})
		b.SetBytes(recordSize("check", data))
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append("check", data); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
