package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Role is what a token or user may do. Roles are ordered: each includes the
// rights of the ones below it, except Agent, which may only use the agent
// channel (joining a node).
type Role string

// The roles.
const (
	RoleViewer   Role = "viewer"   // reads everything but secret values
	RoleOperator Role = "operator" // changes workloads and silences
	RoleAdmin    Role = "admin"    // does everything: tokens, users, secrets
	RoleAgent    Role = "agent"    // joins nodes; nothing on the HTTP API
)

// Roles lists the valid roles.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin, RoleAgent}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// rank orders the human roles; agent ranks below viewer on the HTTP API.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a caller with role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	if need == RoleAgent {
		return r == RoleAgent || r == RoleAdmin
	}
	return r.rank() >= need.rank() && r.rank() > 0
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62}[a-zA-Z0-9])?$`)

// ValidName reports whether s is a valid name for a node, token, user or most
// resources: 1–64 letters, digits, '.', '_' or '-', starting and ending with a
// letter or digit.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// NameRule is the human description of ValidName, for error messages.
const NameRule = "1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"

var labelKeyRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9./_-]{0,62}[a-zA-Z0-9])?$`)

// ParseLabel parses "key=value". An empty value is allowed; "key-" (used by
// `corral node label NAME key-`) is reported with remove=true.
func ParseLabel(s string) (key, value string, remove bool, err error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			key, value = s[:i], s[i+1:]
			if !labelKeyRE.MatchString(key) {
				return "", "", false, fmt.Errorf("label %q: key must be 1-64 letters, digits, '.', '/', '_' or '-', starting and ending with a letter or digit", s)
			}
			if len(value) > 256 {
				return "", "", false, fmt.Errorf("label %q: value longer than 256 bytes", s)
			}
			return key, value, false, nil
		}
	}
	if n := len(s); n > 1 && s[n-1] == '-' && labelKeyRE.MatchString(s[:n-1]) {
		return s[:n-1], "", true, nil
	}
	return "", "", false, fmt.Errorf("label %q: want key=value", s)
}

// Token is an API or join token as listed. The secret is never stored or shown
// after creation; only its hash is kept.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// User is set on tokens made by a password login: the caller is that user.
	User      string     `json:"user,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Expired reports whether t has expired at now.
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// TokenRequest asks for a new token.
type TokenRequest struct {
	Name string   `json:"name,omitempty"`
	Role Role     `json:"role"`
	TTL  Duration `json:"ttl,omitempty"`
}

// Validate checks a TokenRequest.
func (r TokenRequest) Validate() error {
	var fe FieldErrors
	if !r.Role.Valid() {
		fe.Add("role", "must be one of admin, operator, viewer, agent")
	}
	if r.Name != "" && !ValidName(r.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if r.TTL < 0 {
		fe.Add("ttl", "must not be negative")
	}
	return fe.Err("invalid token request")
}

// NewToken is the answer to creating a token: the only time its secret is
// shown. For agent tokens Secret is a join token carrying the CA fingerprint.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// User is a person who logs in to the web UI with a password.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// UserRequest creates or replaces a user.
type UserRequest struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Password string `json:"password"`
}

// Validate checks a UserRequest.
func (r UserRequest) Validate() error {
	var fe FieldErrors
	if !ValidName(r.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if !r.Role.Valid() || r.Role == RoleAgent {
		fe.Add("role", "must be one of admin, operator, viewer")
	}
	if len(r.Password) < 8 {
		fe.Add("password", "must be at least 8 characters")
	}
	if len(r.Password) > 72 {
		fe.Add("password", "must be at most 72 bytes")
	}
	return fe.Err("invalid user")
}

// Whoami describes the caller.
type Whoami struct {
	Subject string `json:"subject"`
	Role    Role   `json:"role"`
}

// AuditEntry is one mutating API call, as written to the history store.
type AuditEntry struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"` // "POST /api/v1/tokens"
	Target   string    `json:"target,omitempty"`
	Status   int       `json:"status"`
	Result   string    `json:"result"` // "ok" or the error message
	RemoteIP string    `json:"remote_ip,omitempty"`
}

// Duration is a time.Duration that reads and writes as "1h30m" in JSON and
// YAML, and also accepts a number of seconds.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "90s", "1h" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\" or a number of seconds")
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// ParseDuration parses Go durations and adds the unit "d" (24h).
func ParseDuration(s string) (time.Duration, error) {
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days float64
		if _, err := fmt.Sscanf(s[:n-1], "%g", &days); err == nil {
			return time.Duration(days * 24 * float64(time.Hour)), nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 30s, 15m, 24h, 7d)", s)
	}
	return v, nil
}

// LoginRequest exchanges a user's password for an API token of the user's
// role (POST /api/v1/login, the only call without a token).
type LoginRequest struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	TTL      Duration `json:"ttl,omitempty"` // default 24h
}
