package pki

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "secrets")
	path := filepath.Join(dir, "cluster.key")
	key, created, err := LoadOrCreateKey(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first LoadOrCreateKey = %d bytes, created %v, %v; want %d bytes, created", len(key), created, err, KeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode = %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if want := base64.StdEncoding.EncodeToString(key) + "\n"; string(data) != want {
		t.Errorf("key file = %q, want %q", data, want)
	}
	again, created, err := LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Errorf("second LoadOrCreateKey = created %v, %v, same key %v; want the same key, not created", created, err, bytes.Equal(again, key))
	}
}

func TestLoadKeyFile(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeySize))
	tests := []struct {
		name          string
		content       string
		wantErrSubstr string // "" means success
	}{
		{"exact", good + "\n", ""},
		{"surrounding white space", "  \n" + good + " \r\n\n", ""},
		{"no newline", good, ""},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n", "key is 16 bytes, want 32"},
		{"too long", base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n", "key is 33 bytes, want 32"},
		{"empty", "", "key is 0 bytes"},
		{"not base64", "this is not a key!\n", "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, created, err := LoadOrCreateKey(path)
			if created {
				t.Error("created a key although the file exists")
			}
			if tt.wantErrSubstr == "" {
				if err != nil || len(key) != KeySize {
					t.Errorf("LoadOrCreateKey = %d bytes, %v", len(key), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error = %v, want one naming %s and containing %q", err, path, tt.wantErrSubstr)
			}
		})
	}
}

func newTestSealer(t *testing.T, b byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := newTestSealer(t, 1)
	for _, tt := range []struct {
		name  string
		plain []byte
	}{
		{"empty", nil},
		{"short", []byte("hunter2")},
		{"large", bytes.Repeat([]byte("secret "), 100000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sealed := s.Seal(tt.plain)
			if sealed[0] != 1 || len(sealed) != 1+12+len(tt.plain)+16 {
				t.Errorf("sealed: version %d, %d bytes", sealed[0], len(sealed))
			}
			if len(tt.plain) > 0 && bytes.Contains(sealed, tt.plain) {
				t.Error("sealed data contains the plaintext")
			}
			if bytes.Equal(sealed, s.Seal(tt.plain)) {
				t.Error("sealing twice gave the same output; nonce not random")
			}
			got, err := s.Open(sealed)
			if err != nil || !bytes.Equal(got, tt.plain) {
				t.Errorf("Open = %d bytes, %v; want the plaintext back", len(got), err)
			}
		})
	}
}

func TestSealerRejects(t *testing.T) {
	s := newTestSealer(t, 1)
	sealed := s.Seal([]byte("the cluster's deepest secret"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name          string
		sealer        *Sealer
		data          []byte
		wantErrSubstr string
	}{
		{"wrong key", newTestSealer(t, 2), sealed, "wrong cluster key or corrupted data"},
		{"flipped nonce bit", s, flip(5), "wrong cluster key or corrupted data"},
		{"flipped ciphertext bit", s, flip(20), "wrong cluster key or corrupted data"},
		{"flipped tag bit", s, flip(len(sealed) - 1), "wrong cluster key or corrupted data"},
		{"unknown version", s, flip(0), "unknown format version 0"},
		{"truncated", s, sealed[:20], "truncated"},
		{"version only", s, sealed[:1], "truncated"},
		{"empty", s, nil, "empty"},
		{"appended byte", s, append(bytes.Clone(sealed), 0), "wrong cluster key or corrupted data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Errorf("Open = %q, %v; want error containing %q", got, err, tt.wantErrSubstr)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer with a %d-byte key succeeded", n)
		}
	}
}
