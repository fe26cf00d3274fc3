package api

// Redacted replaces every secret value in API output that is not an explicit
// admin reveal.
const Redacted = "(redacted)"

// SecretSpec is `kind: Secret`: a named value stored encrypted with the
// cluster key. `value_file: PATH` in a manifest is read by the CLI into value.
type SecretSpec struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Validate checks a SecretSpec.
func (s *SecretSpec) Validate() FieldErrors {
	var fe FieldErrors
	if !ValidName(s.Name) {
		fe.Add("name", "must be %s", NameRule)
	}
	if s.Value == "" {
		fe.Add("value", "is required (or value_file)")
	}
	if len(s.Value) > 512<<10 {
		fe.Add("value", "is larger than 512 KiB")
	}
	return fe
}

// Redact hides the value.
func (s *SecretSpec) Redact() { s.Value = Redacted }
