package api

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Log output types.
const (
	LogOutputElasticsearch = "elasticsearch" // Elasticsearch or OpenSearch _bulk API
	LogOutputLoki          = "loki"          // Grafana Loki push API v1
	LogOutputLogstash      = "logstash"      // Logstash tcp input with the json_lines codec
	LogOutputSyslog        = "syslog"        // RFC 5424 over TCP, octet-counted (RFC 6587)
)

// LogOutputTypes are the types a LogOutput may have.
var LogOutputTypes = []string{LogOutputElasticsearch, LogOutputLoki, LogOutputLogstash, LogOutputSyslog}

// Defaults of LogOutputSpec.
const (
	DefaultLogOutputIndex         = "logs-%Y.%m.%d"
	DefaultLogOutputBatchSize     = 500
	DefaultLogOutputFlushInterval = Duration(time.Second)
	DefaultLogOutputSpoolBytes    = 256 << 20
	DefaultLogOutputFacility      = "user"
	MaxLogOutputBatchSize         = 50000
	MinLogOutputSpoolBytes        = 1 << 20
)

// DefaultLokiLabels are the entry fields that become Loki stream labels
// when a LogOutput names none.
var DefaultLokiLabels = []string{"node", "app", "source", "level"}

// SyslogFacilities are the facility names a syslog LogOutput accepts, by
// code (RFC 5424 table 1, with rsyslog's names). A number 0-23 is accepted
// too.
var SyslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// LogOutputSpec is `kind: LogOutput`: where the server forwards the log
// entries that match, kept in an on-disk spool of its own until the output
// acknowledges them. Fields beyond Name, Type, Match and the batching and
// spool settings belong to some types only.
type LogOutputSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// URL is the base URL of elasticsearch ("http://es:9200", the _bulk
	// path is added) and loki ("http://loki:3100", /loki/api/v1/push is
	// added). A URL that already ends in that path is used as it is.
	URL string `json:"url,omitempty"`
	// Address is host:port of logstash and syslog (TCP).
	Address string `json:"address,omitempty"`
	// Index names the elasticsearch index of an entry, by the entry's time
	// in UTC: %Y, %m, %d and %H are replaced, %% is a '%'. Default
	// DefaultLogOutputIndex.
	Index string `json:"index,omitempty"`
	// Labels are the entry fields that become loki stream labels (built-in
	// fields or parsed ones); default DefaultLokiLabels.
	Labels []string `json:"labels,omitempty"`
	// Match is a query in Corral's log query language; only matching
	// entries are forwarded. Empty forwards everything.
	Match string `json:"match,omitempty"`
	// BatchSize is the most entries sent in one request or write; default
	// DefaultLogOutputBatchSize.
	BatchSize int `json:"batch_size,omitempty"`
	// FlushInterval is how long a batch smaller than BatchSize waits for
	// more entries; default DefaultLogOutputFlushInterval.
	FlushInterval Duration `json:"flush_interval,omitempty"`
	// SpoolBytes is the disk budget of the output's spool; when it is
	// full, the oldest entries are dropped and counted. Default
	// DefaultLogOutputSpoolBytes.
	SpoolBytes int64 `json:"spool_bytes,omitempty"`
	// Headers are added to every request of elasticsearch and loki
	// ("Authorization", "X-Scope-OrgID").
	Headers map[string]string `json:"headers,omitempty"`
	// Username and Password are HTTP basic auth of elasticsearch and loki.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// TLSSkipVerify turns off the verification of an https URL's
	// certificate.
	TLSSkipVerify bool `json:"tls_skip_verify,omitempty"`
	// Gzip compresses request bodies of elasticsearch and loki.
	Gzip bool `json:"gzip,omitempty"`
	// Facility is the syslog facility, a name of SyslogFacilities or a
	// number 0-23; default DefaultLogOutputFacility.
	Facility string `json:"facility,omitempty"`
	// AppName is the syslog APP-NAME; default the entry's app, or "corral".
	AppName string `json:"app_name,omitempty"`
}

// Validate checks a LogOutputSpec on its own. Match is only checked for
// length here (api does not know the query language); the forwarder
// parses it.
func (o *LogOutputSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(o.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if !slices.Contains(LogOutputTypes, o.Type) {
		fe.Add("type", "must be one of %s", strings.Join(LogOutputTypes, ", "))
	}
	isHTTP := o.Type == LogOutputElasticsearch || o.Type == LogOutputLoki
	isTCP := o.Type == LogOutputLogstash || o.Type == LogOutputSyslog
	switch {
	case isHTTP && o.URL == "":
		fe.Add("url", "is required for %s", o.Type)
	case isHTTP:
		if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe.Add("url", "must be an http or https URL with a host")
		}
	case o.URL != "":
		fe.Add("url", "is only used by elasticsearch and loki (%s takes address)", o.Type)
	}
	switch {
	case isTCP && o.Address == "":
		fe.Add("address", "is required for %s (host:port)", o.Type)
	case isTCP:
		host, port, err := net.SplitHostPort(o.Address)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			fe.Add("address", "must be host:port")
		}
	case o.Address != "":
		fe.Add("address", "is only used by logstash and syslog (%s takes url)", o.Type)
	}
	if o.Index != "" {
		if o.Type != LogOutputElasticsearch {
			fe.Add("index", "is only used by elasticsearch")
		} else if msg := checkLogIndexPattern(o.Index); msg != "" {
			fe.Add("index", "%s", msg)
		}
	}
	if len(o.Labels) > 0 && o.Type != LogOutputLoki {
		fe.Add("labels", "are only used by loki")
	}
	for i, l := range o.Labels {
		switch {
		case l == "" || strings.ContainsAny(l, " :\"="):
			fe.Add(fmt.Sprintf("labels[%d]", i), "must be a field name (no spaces, ':', '=' or '\"')")
		case l == "message" || l == "time":
			fe.Add(fmt.Sprintf("labels[%d]", i), "%s would make a stream per entry; it stays in the line", l)
		case slices.Index(o.Labels, l) < i:
			fe.Add(fmt.Sprintf("labels[%d]", i), "%q is listed twice", l)
		}
	}
	if len(o.Match) > 4096 {
		fe.Add("match", "is longer than 4096 bytes")
	}
	if o.BatchSize < 0 || o.BatchSize > MaxLogOutputBatchSize {
		fe.Add("batch_size", "must be 0 (default %d) to %d", DefaultLogOutputBatchSize, MaxLogOutputBatchSize)
	}
	if o.FlushInterval < 0 {
		fe.Add("flush_interval", "must not be negative")
	}
	if o.SpoolBytes < 0 || (o.SpoolBytes > 0 && o.SpoolBytes < MinLogOutputSpoolBytes) {
		fe.Add("spool_bytes", "must be 0 (default %d) or at least %d", DefaultLogOutputSpoolBytes, MinLogOutputSpoolBytes)
	}
	if len(o.Headers) > 0 && !isHTTP {
		fe.Add("headers", "are only used by elasticsearch and loki")
	}
	for k, v := range o.Headers {
		if !isHTTPToken(k) {
			fe.Add("headers."+k, "is not a valid HTTP header name")
		} else if strings.ContainsAny(v, "\r\n\x00") {
			fe.Add("headers."+k, "value must not contain CR, LF or NUL")
		}
	}
	if (o.Username != "" || o.Password != "") && !isHTTP {
		fe.Add("username", "basic auth is only used by elasticsearch and loki")
	} else if o.Password != "" && o.Username == "" {
		fe.Add("username", "is required with password")
	}
	if o.TLSSkipVerify && !isHTTP {
		fe.Add("tls_skip_verify", "is only used by elasticsearch and loki")
	}
	if o.Gzip && !isHTTP {
		fe.Add("gzip", "is only used by elasticsearch and loki")
	}
	if o.Facility != "" {
		if o.Type != LogOutputSyslog {
			fe.Add("facility", "is only used by syslog")
		} else if _, ok := SyslogFacility(o.Facility); !ok {
			fe.Add("facility", "must be 0-23 or one of %s", strings.Join(SyslogFacilities, ", "))
		}
	}
	if o.AppName != "" {
		if o.Type != LogOutputSyslog {
			fe.Add("app_name", "is only used by syslog")
		} else if len(o.AppName) > 48 || !isPrintUSASCII(o.AppName) {
			fe.Add("app_name", "must be 1-48 printable ASCII characters without spaces")
		}
	}
	return fe
}

// Redact hides the password and the values of headers that carry
// credentials (Authorization, and any whose name has auth, token, key,
// secret, cookie or password in it).
func (o *LogOutputSpec) Redact() {
	if o.Password != "" {
		o.Password = Redacted
	}
	if len(o.Headers) == 0 {
		return
	}
	h := make(map[string]string, len(o.Headers))
	for k, v := range o.Headers {
		lk := strings.ToLower(k)
		for _, w := range []string{"auth", "token", "key", "secret", "cookie", "password"} {
			if strings.Contains(lk, w) {
				v = Redacted
				break
			}
		}
		h[k] = v
	}
	o.Headers = h
}

// SyslogFacility returns the code of a facility name of SyslogFacilities or
// of a number 0-23.
func SyslogFacility(s string) (int, bool) {
	if i := slices.Index(SyslogFacilities, s); i >= 0 {
		return i, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 23 {
		return 0, false
	}
	return n, true
}

// checkLogIndexPattern returns why an index pattern is not valid, or "". The
// rules are Elasticsearch's for index names, applied to the literal text.
func checkLogIndexPattern(p string) string {
	if len(p) > 200 {
		return "is longer than 200 bytes"
	}
	if p[0] == '-' || p[0] == '_' || p[0] == '+' {
		return "must not start with '-', '_' or '+'"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+1 >= len(p) || !strings.ContainsRune("YmdH%", rune(p[i+1])) {
				return "only %Y, %m, %d, %H and %% may follow '%'"
			}
			i++
		case c >= 'A' && c <= 'Z':
			return "must be lowercase"
		case strings.IndexByte(`\/*?"<>| ,#:`, c) >= 0 || c < ' ':
			return fmt.Sprintf("must not contain %q", c)
		}
	}
	return ""
}

// isHTTPToken reports whether s is an HTTP token (RFC 9110).
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// isPrintUSASCII reports whether s is non-empty printable US-ASCII without
// spaces (RFC 5424 PRINTUSASCII).
func isPrintUSASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
