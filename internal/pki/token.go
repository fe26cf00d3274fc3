package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	tokenPrefix     = "crl_"
	tokenIDLen      = 16 // hex characters (8 bytes)
	tokenSecretLen  = 43 // base64url characters of 32 bytes, unpadded
	joinPrefix      = "K1"
	joinSeparator   = "::"
	fingerprintLen  = 64
	tokenSecretSize = 32
)

// TokenSecret is an API or join token: a public ID, by which the server
// looks the token up, and a secret, of which only the hash is stored.
type TokenSecret struct {
	ID, Secret string
}

// NewTokenSecret returns a random token: an ID of 16 lowercase hex
// characters and a secret of 32 random bytes in unpadded base64url.
func NewTokenSecret() TokenSecret {
	id := make([]byte, tokenIDLen/2)
	secret := make([]byte, tokenSecretSize)
	rand.Read(id) // never fails; see crypto/rand.Read
	rand.Read(secret)
	return TokenSecret{
		ID:     hex.EncodeToString(id),
		Secret: base64.RawURLEncoding.EncodeToString(secret),
	}
}

// String returns the token as users see it: "crl_<id>.<secret>".
func (t TokenSecret) String() string {
	return tokenPrefix + t.ID + "." + t.Secret
}

// ParseToken parses a token written by TokenSecret.String, ignoring
// surrounding white space. Errors never include the secret.
func ParseToken(s string) (TokenSecret, error) {
	t, err := parseToken(strings.TrimSpace(s))
	if err != nil {
		return TokenSecret{}, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// parseToken parses "crl_<id>.<secret>" exactly; its error messages
// carry no prefix and quote nothing from s.
func parseToken(s string) (TokenSecret, error) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return TokenSecret{}, fmt.Errorf("does not start with %q", tokenPrefix)
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok {
		return TokenSecret{}, fmt.Errorf("missing %q between id and secret", ".")
	}
	if len(id) != tokenIDLen || !isLowerHex(id) {
		return TokenSecret{}, fmt.Errorf("id must be %d lowercase hex characters", tokenIDLen)
	}
	if len(secret) != tokenSecretLen {
		return TokenSecret{}, fmt.Errorf("secret is %d characters, want %d", len(secret), tokenSecretLen)
	}
	for i := 0; i < len(secret); i++ {
		if !isBase64URL(secret[i]) {
			return TokenSecret{}, fmt.Errorf("secret has a character outside the base64url alphabet at position %d", i+1)
		}
	}
	return TokenSecret{ID: id, Secret: secret}, nil
}

// HashSecret returns the lowercase hex SHA-256 of a token secret, which is
// what the server stores.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CheckSecret reports whether secret hashes to hash, in constant time.
func CheckSecret(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

// JoinToken is what a node needs to join the cluster: the fingerprint of
// the cluster CA, to trust the server on first contact, and a token to
// authenticate itself.
type JoinToken struct {
	CAFingerprint string
	Token         TokenSecret
}

// String returns "K1<fingerprint>::crl_<id>.<secret>".
func (j JoinToken) String() string {
	return joinPrefix + j.CAFingerprint + joinSeparator + j.Token.String()
}

// ParseJoinToken parses a join token written by JoinToken.String,
// ignoring surrounding white space. Errors never include the secret.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, joinPrefix)
	if !ok {
		return JoinToken{}, fmt.Errorf("join token: does not start with %q", joinPrefix)
	}
	fp, tok, ok := strings.Cut(rest, joinSeparator)
	if !ok {
		return JoinToken{}, fmt.Errorf("join token: missing %q after the CA fingerprint", joinSeparator)
	}
	if len(fp) != fingerprintLen || !isLowerHex(fp) {
		return JoinToken{}, fmt.Errorf("join token: CA fingerprint must be %d lowercase hex characters", fingerprintLen)
	}
	t, err := parseToken(tok)
	if err != nil {
		return JoinToken{}, fmt.Errorf("join token: token part: %w", err)
	}
	return JoinToken{CAFingerprint: fp, Token: t}, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
