package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the length in bytes of the cluster key.
const KeySize = 32

const (
	sealVersion = 1
	nonceSize   = 12
)

// LoadOrCreateKey reads the cluster key from path, which holds the
// standard base64 encoding of KeySize bytes (surrounding white space is
// ignored). If the file does not exist, it creates a random key and
// writes it with mode 0600, creating the directory with mode 0700 if
// needed, and reports created.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create key directory: %w", err)
	}
	key = make([]byte, KeySize)
	rand.Read(key) // never fails; see crypto/rand.Read
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		key, err = readKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	data := base64.StdEncoding.EncodeToString(key) + "\n"
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("write key file %s: %w", path, err)
	}
	return key, true, nil
}

func readKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: not base64: %w", path, err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key file %s: key is %d bytes, want %d", path, len(key), KeySize)
	}
	return key, nil
}

// Sealer encrypts and authenticates secrets at rest with the cluster key
// (AES-256-GCM). It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("new sealer: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext. The result is a version byte (1), a random
// 12-byte nonce and the GCM ciphertext with its tag. The version byte is
// authenticated too.
func (s *Sealer) Seal(plaintext []byte) []byte {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails; see crypto/rand.Read
	return s.aead.Seal(out, out[1:], plaintext, out[:1])
}

// Open decrypts data produced by Seal with the same key.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, errors.New("open sealed data: empty")
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("open sealed data: unknown format version %d", sealed[0])
	}
	if len(sealed) < 1+nonceSize+s.aead.Overhead() {
		return nil, fmt.Errorf("open sealed data: truncated (%d bytes)", len(sealed))
	}
	plain, err := s.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], sealed[:1])
	if err != nil {
		return nil, errors.New("open sealed data: wrong cluster key or corrupted data")
	}
	return plain, nil
}
