package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"corral/internal/api"
)

// jsonLinesEncoder writes Logstash json_lines: one document (document.go)
// per line.
type jsonLinesEncoder struct{ scratch []kv }

func (c *jsonLinesEncoder) encode(b []byte, entries []api.LogEntry) []byte {
	for i := range entries {
		b = appendDoc(b, &entries[i], &c.scratch)
		b = append(b, '\n')
	}
	return b
}

// SDID is the SD-ID of the structured data element that carries an entry's
// fields in syslog: 32473 is the private enterprise number RFC 5424 and
// RFC 5612 reserve for examples and documentation.
const SDID = "corral@32473"

// syslogEncoder writes RFC 5424 messages framed by octet counting
// (RFC 6587 3.4.1, "LEN SP MSG"):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [corral@32473 k="v" ...] MSG
//
// PRI is the facility * 8 + the severity of the entry's level (an unknown or
// missing level is info). HOSTNAME is the entry's node, APP-NAME the
// spec's app_name or the entry's app ("corral" when neither), PROCID the
// task, MSGID "-". The structured data element holds source, app, task and
// stream, the level when it is not one of the eight syslog severities, and
// the parsed fields (one named like those is written as fields.<name>);
// names are cut to 32 characters with '=', ' ', ']', '"' and non-ASCII
// replaced by '_', and '"', '\' and ']' in values are escaped. MSG is the
// message as it is, without a BOM (RFC 5424's MSG-ANY); octet counting lets
// it hold newlines.
type syslogEncoder struct {
	facility int
	appName  string
	hostname string
	msg      []byte
	names    []string
}

// severity returns the syslog severity of one of Corral's levels.
func severity(level string) (int, bool) {
	switch level {
	case "emerg":
		return 0, true
	case "alert":
		return 1, true
	case "crit":
		return 2, true
	case "error":
		return 3, true
	case "warn":
		return 4, true
	case "notice":
		return 5, true
	case "info":
		return 6, true
	case "debug":
		return 7, true
	}
	return 6, false
}

func (c *syslogEncoder) encode(b []byte, entries []api.LogEntry) []byte {
	for i := range entries {
		c.msg = c.appendMessage(c.msg[:0], &entries[i])
		b = strconv.AppendInt(b, int64(len(c.msg)), 10)
		b = append(b, ' ')
		b = append(b, c.msg...)
	}
	return b
}

// appendMessage appends the RFC 5424 message of e, without framing.
func (c *syslogEncoder) appendMessage(b []byte, e *api.LogEntry) []byte {
	sev, known := severity(e.Level)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(c.facility*8+sev), 10)
	b = append(b, ">1 "...)
	if e.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.999999Z07:00")
	}
	host := e.Node
	if host == "" {
		host = c.hostname
	}
	app := c.appName
	if app == "" {
		app = e.App
	}
	if app == "" {
		app = "corral"
	}
	b = append(b, ' ')
	b = appendHeaderField(b, host, 255)
	b = append(b, ' ')
	b = appendHeaderField(b, app, 48)
	b = append(b, ' ')
	b = appendHeaderField(b, e.Task, 128)
	b = append(b, " - "...) // MSGID
	start := len(b)
	b = append(b, '[')
	b = append(b, SDID...)
	empty := len(b)
	for _, f := range [...]struct{ k, v string }{{"source", e.Source}, {"app", e.App}, {"task", e.Task}, {"stream", e.Stream}} {
		if f.v != "" {
			b = appendSDParam(b, f.k, f.v)
		}
	}
	if e.Level != "" && !known {
		b = appendSDParam(b, "level", e.Level)
	}
	c.names = c.names[:0]
	for k := range e.Fields {
		c.names = append(c.names, k)
	}
	slices.Sort(c.names)
	for _, k := range c.names {
		name := k
		switch k {
		case "source", "app", "task", "stream", "level":
			name = "fields." + k
		}
		b = appendSDParam(b, name, e.Fields[k])
	}
	if len(b) == empty {
		b = append(b[:start], '-')
	} else {
		b = append(b, ']')
	}
	if e.Message != "" {
		b = append(b, ' ')
		b = append(b, e.Message...)
	}
	return b
}

// appendHeaderField appends a header field: "-" when empty, else at most
// max bytes of printable US-ASCII (others become '_').
func appendHeaderField(b []byte, s string, max int) []byte {
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s) && i < max; i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendSDParam appends ` name="value"` with the name made an SD-NAME and
// the value escaped.
func appendSDParam(b []byte, name, value string) []byte {
	b = append(b, ' ')
	for i := 0; i < len(name) && i < 32; i++ {
		c := name[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	b = append(b, '=', '"')
	value = strings.ToValidUTF8(value, "\uFFFD")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' || c == ']' {
			b = append(b, '\\')
		}
		b = append(b, value[i])
	}
	return append(b, '"')
}

// tcpOutput writes encoded batches to one TCP peer, reconnecting after an
// error. A batch counts as taken when its write returned: neither Logstash
// nor syslog answers, so what the kernel took just before the peer died
// can be lost (at-least-once holds up to that).
type tcpOutput struct {
	addr    string
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	timeout time.Duration
	encode  func(b []byte, entries []api.LogEntry) []byte
	conn    net.Conn
	buf     []byte
	probe   [1]byte
}

func newLogstash(spec api.LogOutputSpec, o Options) (sender, error) {
	enc := &jsonLinesEncoder{}
	return &tcpOutput{addr: spec.Address, dial: o.Dial, timeout: o.Timeout, encode: enc.encode}, nil
}

func newSyslog(spec api.LogOutputSpec, o Options) (sender, error) {
	fac := spec.Facility
	if fac == "" {
		fac = api.DefaultLogOutputFacility
	}
	code, ok := api.SyslogFacility(fac)
	if !ok {
		return nil, fmt.Errorf("log output %s: unknown facility %q", spec.Name, spec.Facility)
	}
	enc := &syslogEncoder{facility: code, appName: spec.AppName, hostname: o.Hostname}
	return &tcpOutput{addr: spec.Address, dial: o.Dial, timeout: o.Timeout, encode: enc.encode}, nil
}

func (s *tcpOutput) send(ctx context.Context, entries []api.LogEntry) (outcome, error) {
	s.buf = s.encode(s.buf[:0], entries)
	if s.conn != nil && !s.alive() {
		s.close()
	}
	if s.conn == nil {
		dctx, cancel := context.WithTimeout(ctx, s.timeout)
		conn, err := s.dial(dctx, "tcp", s.addr)
		cancel()
		if err != nil {
			return outcome{}, fmt.Errorf("connect: %w", err)
		}
		s.conn = conn
	}
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.conn.Write(s.buf); err != nil {
		s.close()
		return outcome{}, fmt.Errorf("write: %w", err)
	}
	return outcome{}, nil
}

// alive reports whether the peer has not closed the connection. The peers
// never send anything, so a read that does not time out at once means the
// connection is gone (EOF or reset), and a write now would be lost.
func (s *tcpOutput) alive() bool {
	s.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := s.conn.Read(s.probe[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return err == nil // the peer sent something: unexpected, but alive
}

func (s *tcpOutput) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
