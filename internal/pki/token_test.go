package pki

import (
	"strings"
	"testing"
)

const (
	testID     = "0123456789abcdef"
	testSecret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde" // 43 chars
	testFP     = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func TestTokenRoundTrip(t *testing.T) {
	for i := 0; i < 20; i++ {
		tok := NewTokenSecret()
		if len(tok.ID) != 16 || !isLowerHex(tok.ID) || len(tok.Secret) != 43 {
			t.Fatalf("NewTokenSecret = %+v", tok)
		}
		s := tok.String()
		if !strings.HasPrefix(s, "crl_"+tok.ID+".") {
			t.Fatalf("String = %q", s)
		}
		got, err := ParseToken(" \t" + s + "\n")
		if err != nil || got != tok {
			t.Fatalf("ParseToken(%q) = %+v, %v; want %+v", s, got, err, tok)
		}
	}
	if a, b := NewTokenSecret(), NewTokenSecret(); a == b {
		t.Error("two new tokens are equal")
	}
}

func TestParseTokenRejects(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		wantErrSubstr string
	}{
		{"empty", "", `does not start with "crl_"`},
		{"wrong prefix", "crx_" + testID + "." + testSecret, `does not start with "crl_"`},
		{"upper case prefix", "CRL_" + testID + "." + testSecret, `does not start with "crl_"`},
		{"no dot", "crl_" + testID + testSecret, `missing "."`},
		{"short id", "crl_0123." + testSecret, "id must be 16 lowercase hex"},
		{"long id", "crl_" + testID + "0." + testSecret, "id must be 16 lowercase hex"},
		{"upper case id", "crl_0123456789ABCDEF." + testSecret, "id must be 16 lowercase hex"},
		{"non-hex id", "crl_0123456789abcdeg." + testSecret, "id must be 16 lowercase hex"},
		{"short secret", "crl_" + testID + "." + testSecret[:42], "secret is 42 characters, want 43"},
		{"long secret", "crl_" + testID + "." + testSecret + "A", "secret is 44 characters, want 43"},
		{"padded secret", "crl_" + testID + "." + testSecret[:42] + "=", "outside the base64url alphabet at position 43"},
		{"standard base64", "crl_" + testID + "." + "+" + testSecret[1:], "outside the base64url alphabet at position 1"},
		{"second dot", "crl_" + testID + "." + testSecret[:20] + "." + testSecret[21:], "outside the base64url alphabet"},
		{"inner space", "crl_" + testID + ". " + testSecret[1:], "outside the base64url alphabet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Fatalf("ParseToken = %+v, %v; want error containing %q", got, err, tt.wantErrSubstr)
			}
			if !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("error %q does not start with \"token: \"", err)
			}
			if strings.Contains(err.Error(), testSecret[:10]) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestCheckSecret(t *testing.T) {
	tok := NewTokenSecret()
	h := HashSecret(tok.Secret)
	if len(h) != 64 || !isLowerHex(h) {
		t.Fatalf("HashSecret = %q, want 64 lowercase hex chars", h)
	}
	tests := []struct {
		name   string
		hash   string
		secret string
		want   bool
	}{
		{"right secret", h, tok.Secret, true},
		{"wrong secret", h, NewTokenSecret().Secret, false},
		{"empty secret", h, "", false},
		{"empty hash", "", tok.Secret, false},
		{"truncated hash", h[:63], tok.Secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckSecret(tt.hash, tt.secret); got != tt.want {
				t.Errorf("CheckSecret = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinTokenRoundTrip(t *testing.T) {
	ca := newTestCA(t, "ca", testNow)
	j := JoinToken{CAFingerprint: ca.Fingerprint(), Token: NewTokenSecret()}
	s := j.String()
	if want := "K1" + ca.Fingerprint() + "::crl_" + j.Token.ID + "." + j.Token.Secret; s != want {
		t.Fatalf("String = %q, want %q", s, want)
	}
	got, err := ParseJoinToken("\n" + s + "  ")
	if err != nil || got != j {
		t.Errorf("ParseJoinToken = %+v, %v; want %+v", got, err, j)
	}
}

func TestParseJoinTokenRejects(t *testing.T) {
	tok := "crl_" + testID + "." + testSecret
	tests := []struct {
		name          string
		in            string
		wantErrSubstr string
	}{
		{"empty", "", `does not start with "K1"`},
		{"bare API token", tok, `does not start with "K1"`},
		{"wrong version", "K2" + testFP + "::" + tok, `does not start with "K1"`},
		{"no separator", "K1" + testFP + tok, `missing "::"`},
		{"single colon", "K1" + testFP + ":" + tok, `missing "::"`},
		{"short fingerprint", "K1" + testFP[:63] + "::" + tok, "CA fingerprint must be 64 lowercase hex"},
		{"long fingerprint", "K1" + testFP + "0::" + tok, "CA fingerprint must be 64 lowercase hex"},
		{"upper case fingerprint", "K1" + strings.ToUpper(testFP) + "::" + tok, "CA fingerprint must be 64 lowercase hex"},
		{"empty token", "K1" + testFP + "::", `token part: does not start with "crl_"`},
		{"bad token id", "K1" + testFP + "::crl_xyz." + testSecret, "token part: id must be 16"},
		{"short secret", "K1" + testFP + "::" + tok[:len(tok)-1], "token part: secret is 42 characters"},
		{"inner space", "K1" + testFP + ":: " + tok, `token part: does not start with "crl_"`},
		{"trailing separator", "K1" + testFP + "::" + tok + "::", "token part: secret is 45 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJoinToken(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Fatalf("ParseJoinToken = %+v, %v; want error containing %q", got, err, tt.wantErrSubstr)
			}
			if !strings.HasPrefix(err.Error(), "join token: ") {
				t.Errorf("error %q does not start with \"join token: \"", err)
			}
			if strings.Contains(err.Error(), testSecret[:10]) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$2a$10$") {
		t.Errorf("hash %q is not bcrypt cost 10", h)
	}
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{"right password", h, "correct horse battery staple", true},
		{"wrong password", h, "correct horse battery stapler", false},
		{"empty password", h, "", false},
		{"not a hash", "plaintext", "plaintext", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckPassword(tt.hash, tt.pw); got != tt.want {
				t.Errorf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("HashPassword accepted a 73-byte password")
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("crl_" + testID + "." + testSecret)
	f.Add(" crl_" + testID + "." + testSecret + "\n")
	f.Add("crl_" + testID + ".")
	f.Add("crl_.")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("ParseToken(%q) = %+v, but ParseToken(String()) = %+v, %v", s, tok, again, err)
		}
		if !CheckSecret(HashSecret(tok.Secret), tok.Secret) {
			t.Fatal("CheckSecret rejected a parsed secret")
		}
	})
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add("K1" + testFP + "::crl_" + testID + "." + testSecret)
	f.Add("\tK1" + testFP + "::crl_" + testID + "." + testSecret + " ")
	f.Add("K1" + testFP + "::")
	f.Add("K1::crl_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(j.String())
		if err != nil || again != j {
			t.Fatalf("ParseJoinToken(%q) = %+v, but ParseJoinToken(String()) = %+v, %v", s, j, again, err)
		}
	})
}
