// Package forward sends the server's log entries on to the log store a
// company already runs: Elasticsearch or OpenSearch (_bulk), Grafana Loki
// (push API v1), Logstash (tcp input, json_lines codec) and syslog (RFC 5424
// over TCP, octet-counted). Each LogOutput gets a Forwarder with its own
// on-disk spool (internal/spool): Offer keeps the entries that match the
// output's query, Run sends them in batches, retrying with capped,
// jittered exponential backoff until the output takes them, and only then
// acknowledges them in the spool. Delivery is at-least-once and survives
// restarts; when the spool's disk budget is full the oldest entries are
// dropped and counted.
//
//	Offer ──match──▶ spool (on disk, budget) ──Read──▶ Run ──send──▶ output
//	                   ▲                                │  2xx / write done;
//	                   └───────────── Ack ◀─────────────┘  else backoff, again
//
// The encoders (document.go, elastic.go, loki.go, tcp.go) and the spool
// record codec (record.go) are pure functions of the entries; the senders
// around them do the I/O. The server's
// composition root imports this package; it imports only api, logs/query,
// spool and the standard library.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"corral/internal/api"
	"corral/internal/logs/query"
	"corral/internal/spool"
)

// Defaults of Options.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultBackoffInitial = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// Options are what a Forwarder gets from its composition root.
type Options struct {
	Logger *slog.Logger     // default: discards
	Now    func() time.Time // default time.Now; stamps spool records (flush_interval is measured from it)
	// HTTPClient sends elasticsearch and loki requests; default a client
	// with Timeout that honours the spec's tls_skip_verify.
	HTTPClient *http.Client
	// Dial connects logstash and syslog outputs; default a net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds one request, connect or write; default DefaultTimeout.
	Timeout time.Duration
	// BackoffInitial and BackoffMax bound the wait between attempts to
	// send a batch; defaults DefaultBackoffInitial and DefaultBackoffMax.
	BackoffInitial, BackoffMax time.Duration
	// Rand returns a number in [0, 1) for the backoff's jitter; default
	// math/rand/v2.
	Rand func() float64
	// Hostname is the syslog HOSTNAME of entries without a node; "-" when
	// empty.
	Hostname string
}

// sender sends one batch to an output. It is used by one goroutine.
type sender interface {
	// send returns an error when the output did not take the batch
	// (nothing is known to be taken: all of it is sent again), else what
	// it refused: entries to send again and entries refused for good.
	send(ctx context.Context, entries []api.LogEntry) (outcome, error)
	close() error
}

// outcome is what became of a batch the output answered.
type outcome struct {
	retry    []api.LogEntry // refused for now (Elasticsearch item 429 or 5xx)
	rejected int            // refused for good (4xx)
	reason   string         // why, for the log
}

// builtins are the output types, by LogOutputSpec.Type.
func builtins() map[string]func(api.LogOutputSpec, Options) (sender, error) {
	return map[string]func(api.LogOutputSpec, Options) (sender, error){
		api.LogOutputElasticsearch: newElastic,
		api.LogOutputLoki:          newLoki,
		api.LogOutputLogstash:      newLogstash,
		api.LogOutputSyslog:        newSyslog,
	}
}

// ValidateSpec checks a LogOutputSpec like its Validate, and also parses
// its match query, which api cannot.
func ValidateSpec(spec api.LogOutputSpec) api.FieldErrors {
	fe := spec.Validate()
	if _, err := query.Parse(spec.Match); err != nil {
		fe.Add("match", "%v", err)
	}
	return fe
}

// Stats describe a Forwarder, for metrics and `corral get logoutput`.
type Stats struct {
	Output string `json:"output"`
	// Sent counts entries the output took since New.
	Sent uint64 `json:"sent"`
	// FailedAttempts counts sends that failed (no connection, an HTTP
	// error, entries refused for now) and were tried again.
	FailedAttempts uint64 `json:"failed_attempts"`
	// DroppedBudget counts spool records (batches of up to batch_size
	// entries) dropped because the spool's budget was full, ever (it is
	// kept in the spool). DroppedBudgetEntries counts the entries in them,
	// as far as known: records spooled before New are counted as records
	// only. Entries too large for the spool are counted here too.
	DroppedBudget        uint64 `json:"dropped_budget"`
	DroppedBudgetEntries uint64 `json:"dropped_budget_entries"`
	// Rejected counts entries the output refused for good (a 4xx).
	Rejected uint64 `json:"rejected"`
	// SpoolErrors counts entries Offer could not write to the spool.
	SpoolErrors uint64 `json:"spool_errors"`
	// QueuedRecords and QueuedBytes are what waits in the spool.
	QueuedRecords int64     `json:"queued_records"`
	QueuedBytes   int64     `json:"queued_bytes"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Forwarder forwards the entries of one LogOutput. Offer may be called
// from any goroutine, before and while Run runs; Close after Run returned.
type Forwarder struct {
	spec      api.LogOutputSpec
	match     *query.Query
	sp        *spool.Spool
	out       sender
	log       *slog.Logger
	now       func() time.Time
	rand      func() float64
	batchSize int
	flush     time.Duration
	chunk     int // bytes of JSON at which Offer starts a new record
	backoff   [2]time.Duration
	avgEntry  int // bytes of spooled JSON per entry, as Run last saw them
	// carry is the record decode decoded last but left for the next batch.
	carry struct {
		seq     uint64
		entries []api.LogEntry
	}

	mu      sync.Mutex // guards what follows
	counts  recordCounts
	dropped uint64 // the spool's drop counter last seen
	stats   Stats
}

// New opens the output's spool in dir (its own directory; created if
// missing) and makes its sender. Entries spooled before (unsent at a
// restart) are sent by Run.
func New(spec api.LogOutputSpec, dir string, opts Options) (*Forwarder, error) {
	if err := ValidateSpec(spec).Err("invalid log output"); err != nil {
		return nil, err
	}
	match, _ := query.Parse(spec.Match) // checked by ValidateSpec
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{}).DialContext
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = DefaultBackoffInitial
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	mk := builtins()[spec.Type]
	out, err := mk(spec, opts)
	if err != nil {
		return nil, err
	}
	budget := spec.SpoolBytes
	if budget == 0 {
		budget = api.DefaultLogOutputSpoolBytes
	}
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: budget, Now: opts.Now})
	if err != nil {
		out.close()
		return nil, fmt.Errorf("log output %s: %w", spec.Name, err)
	}
	f := &Forwarder{
		spec: spec, match: match, sp: sp, out: out,
		log: opts.Logger.With("component", "logforward", "output", spec.Name, "type", spec.Type),
		now: opts.Now, rand: opts.Rand,
		batchSize: spec.BatchSize, flush: time.Duration(spec.FlushInterval),
		chunk:    int(min(1<<20, budget/16)),
		backoff:  [2]time.Duration{opts.BackoffInitial, opts.BackoffMax},
		avgEntry: 512,
	}
	if f.batchSize == 0 {
		f.batchSize = api.DefaultLogOutputBatchSize
	}
	if spec.FlushInterval == 0 {
		f.flush = time.Duration(api.DefaultLogOutputFlushInterval)
	}
	f.dropped = sp.Stats().Dropped
	f.stats.Output = spec.Name
	return f, nil
}

// Offer spools the entries that match the output's query; they are durable
// when it returns (one fsync per call, shared by concurrent calls: offer
// whole batches). Entries are written in records of at most batch_size
// entries; one without a time gets the current time. When the spool's
// budget is full the oldest records are dropped and counted; entries that
// cannot be spooled are counted and logged.
func (f *Forwarder) Offer(entries []api.LogEntry) {
	var buf []byte
	n := 0
	for i := range entries {
		e := &entries[i]
		if !query.Match(f.match, e) {
			continue
		}
		if e.Time.IsZero() { // outputs index and order by time
			ec := *e
			ec.Time = f.now()
			e = &ec
		}
		mark := len(buf)
		if n == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendEntry(buf, e); err != nil {
			f.spoolFailed(1, err)
			buf = buf[:mark]
			continue
		}
		if n > 0 && (n == f.batchSize || len(buf)+1 > f.chunk) {
			// The entry starts the next record.
			next := append([]byte{'['}, buf[mark+1:]...)
			f.appendRecord(append(buf[:mark], ']'), n)
			buf, n = next, 0
		}
		n++
	}
	if n > 0 {
		f.appendRecord(append(buf, ']'), n)
	}
}

// appendRecord spools one record of n entries and counts what the spool
// dropped to make room.
func (f *Forwarder) appendRecord(data []byte, n int) {
	seq, err := f.sp.Append(recordType, data)
	if err != nil {
		f.spoolFailed(n, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts.add(seq, n)
	st := f.sp.Stats()
	if st.Dropped != f.dropped {
		lost := f.counts.dropBelow(st.FirstSeq)
		f.stats.DroppedBudgetEntries += uint64(lost)
		f.log.Warn("log output spool full: dropped the oldest entries", "records", st.Dropped-f.dropped, "entries", lost)
		f.dropped = st.Dropped
	}
}

func (f *Forwarder) spoolFailed(n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(err, spool.ErrTooLarge) {
		f.stats.DroppedBudgetEntries += uint64(n)
	} else {
		f.stats.SpoolErrors += uint64(n)
	}
	f.setErrLocked(err)
	f.log.Error("log output: entries not spooled", "entries", n, "err", err)
}

func (f *Forwarder) setErrLocked(err error) {
	f.stats.LastError = err.Error()
	f.stats.LastErrorTime = f.now()
}

// Stats returns the Forwarder's counters.
func (f *Forwarder) Stats() Stats {
	st := f.sp.Stats()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.DroppedBudget = st.Dropped
	s.QueuedRecords, s.QueuedBytes = st.Records, st.Bytes
	return s
}

// Close closes the sender and the spool. Call it after Run returned.
func (f *Forwarder) Close() error {
	return errors.Join(f.out.close(), f.sp.Close())
}

// Run sends the spooled entries until ctx ends: batches of up to
// batch_size entries, a smaller batch once its oldest record waited
// flush_interval. A batch is sent again, after a capped exponential backoff
// with jitter, until the output took it (HTTP 2xx; a completed TCP write);
// entries it refused for good (4xx) are counted and logged. Only then is it
// acknowledged in the spool. Run returns nil when ctx ends and an error
// only when the spool fails.
//
// When more is queued, Run reads up to readBatches batches at once and
// acknowledges them together: an ack costs two fsyncs.
func (f *Forwarder) Run(ctx context.Context) error {
	for {
		appended := f.sp.Wait() // before Read, so no Append is missed
		recs, err := f.sp.Read(readBatches*f.batchSize, min(readBatches*f.readBytes(), 32<<20))
		if errors.Is(err, spool.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log output %s: %w", f.spec.Name, err)
		}
		if len(recs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-appended:
			}
			continue
		}
		batch, k := f.decode(recs)
		if k == len(recs) && len(batch) < f.batchSize && int64(len(recs)) >= f.sp.Stats().Records {
			if wait := f.flush - f.now().Sub(recs[0].Time); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-appended: // read again: the batch may be full now
					t.Stop()
					continue
				case <-t.C: // flush what was read
				}
			}
		}
		var done uint64 // seq of the last record delivered
		for {
			if !f.deliver(ctx, batch) {
				break
			}
			done, recs = recs[k-1].Seq, recs[k:]
			if len(recs) == 0 {
				break
			}
			batch, k = f.decode(recs)
			if k == len(recs) && len(batch) < f.batchSize {
				break // a small tail waits for more, or for flush_interval
			}
		}
		if done > 0 {
			if err := f.ack(done); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// readBatches is how many batches Run reads, sends and acknowledges at
// once when that many are queued.
const readBatches = 8

// decode returns the entries of the first records, at most batchSize of
// them unless the first record alone has more, and how many records they
// are.
func (f *Forwarder) decode(recs []api.Report) (batch []api.LogEntry, k int) {
	size := 0
	for _, r := range recs {
		var es []api.LogEntry
		switch {
		case f.carry.seq == r.Seq && f.carry.entries != nil:
			es, f.carry.entries = f.carry.entries, nil
		case r.Type != recordType:
			f.skipRecord(r, fmt.Errorf("unknown record type %q", r.Type))
		default:
			var err error
			if es, err = decodeEntries(r.Data); err != nil {
				f.skipRecord(r, err)
			}
		}
		if k > 0 && len(batch)+len(es) > f.batchSize {
			f.carry.seq, f.carry.entries = r.Seq, es // decoded again at once otherwise
			break
		}
		batch = append(batch, es...)
		size += len(r.Data)
		k++
	}
	if len(batch) > 0 {
		f.avgEntry = max(64, size/len(batch))
	}
	return batch, k
}

// skipRecord logs a spool record that cannot be sent. The spool checks
// every record's CRC and only Offer writes records, so this is not
// expected; the record is skipped rather than block the output.
func (f *Forwarder) skipRecord(r api.Report, err error) {
	err = fmt.Errorf("spool record %d skipped: %w", r.Seq, err)
	f.mu.Lock()
	f.setErrLocked(err)
	f.mu.Unlock()
	f.log.Error("log output: undecodable spool record", "err", err)
}

// readBytes is about the bytes of spool records a batch needs.
func (f *Forwarder) readBytes() int {
	return min(max(2*f.batchSize*f.avgEntry, 64<<10), 16<<20)
}

// deliver sends batch until the output took or refused all of it. It
// returns false when ctx ended first.
func (f *Forwarder) deliver(ctx context.Context, batch []api.LogEntry) bool {
	pending := batch
	for attempt := 0; len(pending) > 0; attempt++ {
		out, err := f.out.send(ctx, pending)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			took := len(pending) - len(out.retry) - out.rejected
			f.mu.Lock()
			f.stats.Sent += uint64(took)
			f.stats.Rejected += uint64(out.rejected)
			f.mu.Unlock()
			if out.rejected > 0 {
				f.log.Warn("log output refused entries; dropped", "entries", out.rejected, "reason", out.reason)
			}
			if len(out.retry) == 0 {
				return true
			}
			err = fmt.Errorf("%d of %d entries refused for now (429 or 5xx)", len(out.retry), len(pending))
			pending = out.retry
		}
		f.mu.Lock()
		f.stats.FailedAttempts++
		f.setErrLocked(err)
		f.mu.Unlock()
		wait := backoffDelay(attempt, f.backoff[0], f.backoff[1], f.rand())
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelWarn
		}
		f.log.Log(ctx, level, "log output send failed; retrying", "entries", len(pending), "attempt", attempt+1, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	return true
}

// ack acknowledges the records up to seq.
func (f *Forwarder) ack(seq uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.sp.Ack(seq); err != nil {
		return fmt.Errorf("log output %s: %w", f.spec.Name, err)
	}
	f.counts.ack(seq)
	return nil
}

// backoffDelay is the wait before attempt+2 (attempt counts from 0):
// initial doubled per attempt, capped at max, of which a random half (by
// r in [0, 1)) is left out ("equal jitter"), so that outputs that failed
// together do not retry in step.
func backoffDelay(attempt int, initial, max time.Duration, r float64) time.Duration {
	d := initial
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(r*float64(d/2))
}

// recordCounts remembers how many entries the unacknowledged records this
// Forwarder spooled hold, to count entries when the spool drops records.
// Seqs are added in increasing order (almost: concurrent Offers may swap
// neighbours).
type recordCounts struct {
	seqs []uint64
	ns   []int
}

func (c *recordCounts) add(seq uint64, n int) {
	i := len(c.seqs)
	for i > 0 && c.seqs[i-1] > seq {
		i--
	}
	c.seqs = append(c.seqs, 0)
	c.ns = append(c.ns, 0)
	copy(c.seqs[i+1:], c.seqs[i:])
	copy(c.ns[i+1:], c.ns[i:])
	c.seqs[i], c.ns[i] = seq, n
}

// ack forgets the records up to seq.
func (c *recordCounts) ack(seq uint64) { c.dropBelow(seq + 1) }

// dropBelow forgets the records below seq and returns their entries.
func (c *recordCounts) dropBelow(seq uint64) int {
	k, n := 0, 0
	for k < len(c.seqs) && c.seqs[k] < seq {
		n += c.ns[k]
		k++
	}
	c.seqs = append(c.seqs[:0], c.seqs[k:]...)
	c.ns = append(c.ns[:0], c.ns[k:]...)
	return n
}
