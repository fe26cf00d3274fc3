package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"corral/internal/api"
)

// TokenRecord is a token as stored: its listing and the hash of its secret.
type TokenRecord struct {
	api.Token
	Hash string `json:"hash"`
}

// TokenKey is the etcd key of a token; TokensPrefix is their prefix.
func TokenKey(id string) string { return key("tokens", id) }

// TokensPrefix is the prefix of every token.
var TokensPrefix = key("tokens") + "/"

// CreateToken stores a new token.
func (s *Store) CreateToken(ctx context.Context, t TokenRecord) error {
	return s.putJSON(ctx, TokenKey(t.ID), t, 0)
}

// GetToken reads a token.
func (s *Store) GetToken(ctx context.Context, id string) (TokenRecord, error) {
	var t TokenRecord
	_, err := s.getJSON(ctx, TokenKey(id), &t)
	return t, err
}

// ListTokens reads every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]TokenRecord, error) {
	var out []TokenRecord
	err := s.listJSON(ctx, TokensPrefix, func(_, v []byte) error {
		var t TokenRecord
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// RevokeToken marks a token revoked; it stays listed.
func (s *Store) RevokeToken(ctx context.Context, id string) (TokenRecord, error) {
	return update(ctx, s, TokenKey(id), func(t *TokenRecord) error {
		if t.RevokedAt == nil {
			now := s.now().UTC()
			t.RevokedAt = &now
		}
		return nil
	})
}

// UserRecord is a user as stored.
type UserRecord struct {
	api.User
	PasswordHash string `json:"password_hash"`
}

// UserKey is the etcd key of a user.
func UserKey(name string) string { return key("users", name) }

// UsersPrefix is the prefix of every user.
var UsersPrefix = key("users") + "/"

// PutUser creates or replaces a user.
func (s *Store) PutUser(ctx context.Context, u UserRecord) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user: %w", err)
	}
	_, err = s.cli.Put(ctx, UserKey(u.Name), string(b))
	return err
}

// GetUser reads a user.
func (s *Store) GetUser(ctx context.Context, name string) (UserRecord, error) {
	var u UserRecord
	_, err := s.getJSON(ctx, UserKey(name), &u)
	return u, err
}

// ListUsers reads every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]UserRecord, error) {
	var out []UserRecord
	err := s.listJSON(ctx, UsersPrefix, func(_, v []byte) error {
		var u UserRecord
		if err := json.Unmarshal(v, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// DeleteUser removes a user.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	resp, err := s.cli.Delete(ctx, UserKey(name))
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if resp.Deleted == 0 {
		return ErrNotFound
	}
	return nil
}

// CARecord is the cluster CA; the key is sealed with the cluster key.
type CARecord struct {
	CertPEM   string    `json:"cert_pem"`
	SealedKey []byte    `json:"sealed_key"`
	CreatedAt time.Time `json:"created_at"`
}

// InitCA stores the CA made by create unless one exists, and returns the CA
// in force with the unsealed key. Several servers starting at once agree on
// one CA.
func (s *Store) InitCA(ctx context.Context, create func() (certPEM, keyPEM []byte, err error)) (certPEM, keyPEM []byte, created bool, err error) {
	k := key("pki", "ca")
	var rec CARecord
	if _, err := s.getJSON(ctx, k, &rec); err == nil {
		return s.openCA(rec)
	} else if err != ErrNotFound {
		return nil, nil, false, err
	}
	c, kp, err := create()
	if err != nil {
		return nil, nil, false, err
	}
	rec = CARecord{CertPEM: string(c), SealedKey: s.sealer.Seal(kp), CreatedAt: s.now().UTC()}
	b, _ := json.Marshal(rec)
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(b))).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, nil, false, fmt.Errorf("store CA: %w", err)
	}
	if resp.Succeeded {
		return c, kp, true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, nil, false, fmt.Errorf("store CA: lost a race and found no CA")
	}
	if err := json.Unmarshal(kvs[0].Value, &rec); err != nil {
		return nil, nil, false, fmt.Errorf("decode CA: %w", err)
	}
	return s.openCA(rec)
}

func (s *Store) openCA(rec CARecord) ([]byte, []byte, bool, error) {
	kp, err := s.sealer.Open(rec.SealedKey)
	if err != nil {
		return nil, nil, false, fmt.Errorf("unseal CA key (is this the cluster key the CA was made with?): %w", err)
	}
	return []byte(rec.CertPEM), kp, false, nil
}
