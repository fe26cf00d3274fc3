package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"corral/internal/api"
	"corral/internal/httpapi"
	"corral/internal/pki"
	"corral/internal/store"
)

var errBadToken = &api.Error{Status: http.StatusUnauthorized, Message: "invalid or unknown token"}

// checkToken verifies a presented token string against the stored tokens.
func (s *Server) checkToken(ctx context.Context, presented string) (store.TokenRecord, error) {
	ts, err := pki.ParseToken(presented)
	if err != nil {
		if jt, jerr := pki.ParseJoinToken(presented); jerr == nil {
			ts = jt.Token
		} else {
			return store.TokenRecord{}, &api.Error{Status: http.StatusUnauthorized, Message: err.Error()}
		}
	}
	var t store.TokenRecord
	if v, ok := s.tokens.Value(ts.ID); ok {
		t = v.(store.TokenRecord)
	} else {
		// The mirror may lag a token created a moment ago: ask etcd.
		var err error
		t, err = s.store.GetToken(ctx, ts.ID)
		if errors.Is(err, store.ErrNotFound) {
			return store.TokenRecord{}, errBadToken
		} else if err != nil {
			return store.TokenRecord{}, err
		}
	}
	if !pki.CheckSecret(t.Hash, ts.Secret) {
		return store.TokenRecord{}, errBadToken
	}
	if t.RevokedAt != nil {
		return store.TokenRecord{}, &api.Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf("token %s was revoked", t.ID)}
	}
	if t.Expired(s.cfg.Now()) {
		return store.TokenRecord{}, &api.Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf("token %s expired at %s", t.ID, t.ExpiresAt.Format(time.RFC3339))}
	}
	if t.User != "" {
		// A login token acts for its user as the user is now: removed
		// users lose access, and role changes apply at once.
		u, err := s.user(ctx, t.User)
		if errors.Is(err, store.ErrNotFound) {
			return store.TokenRecord{}, &api.Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf("user %s no longer exists", t.User)}
		} else if err != nil {
			return store.TokenRecord{}, err
		}
		t.Role = u.Role
	}
	return t, nil
}

// user reads a user from the mirror, or from etcd when the mirror lags.
func (s *Server) user(ctx context.Context, name string) (store.UserRecord, error) {
	if v, ok := s.users.Value(name); ok {
		return v.(store.UserRecord), nil
	}
	return s.store.GetUser(ctx, name)
}

// Authenticate implements httpapi.Authenticator.
func (s *Server) Authenticate(ctx context.Context, bearer string) (httpapi.Caller, error) {
	t, err := s.checkToken(ctx, bearer)
	if err != nil {
		return httpapi.Caller{}, err
	}
	subject := "token:" + t.ID
	if t.User != "" {
		subject = "user:" + t.User
	} else if t.Name != "" {
		subject += " (" + t.Name + ")"
	}
	return httpapi.Caller{Subject: subject, Role: t.Role}, nil
}

// createToken stores a new token and returns it with its secret.
func (s *Server) createToken(ctx context.Context, req api.TokenRequest, by string) (api.NewToken, error) {
	return s.createUserToken(ctx, req, by, "")
}

// createUserToken stores a new token; user, when set, is the user the token
// acts for (password logins).
func (s *Server) createUserToken(ctx context.Context, req api.TokenRequest, by, user string) (api.NewToken, error) {
	if err := req.Validate(); err != nil {
		return api.NewToken{}, err
	}
	ts := pki.NewTokenSecret()
	now := s.cfg.Now().UTC()
	t := api.Token{ID: ts.ID, Name: req.Name, Role: req.Role, CreatedAt: now, CreatedBy: by, User: user}
	if req.TTL > 0 {
		exp := now.Add(time.Duration(req.TTL))
		t.ExpiresAt = &exp
	}
	if err := s.store.CreateToken(ctx, store.TokenRecord{Token: t, Hash: pki.HashSecret(ts.Secret)}); err != nil {
		return api.NewToken{}, fmt.Errorf("store token: %w", err)
	}
	secret := ts.String()
	if req.Role == api.RoleAgent {
		secret = pki.JoinToken{CAFingerprint: s.ca.Fingerprint(), Token: ts}.String()
	}
	return api.NewToken{Token: t, Secret: secret}, nil
}

// JoinToken creates an agent token valid for ttl (0: no expiry) and returns
// the join token string (with the CA fingerprint).
func (s *Server) JoinToken(ctx context.Context, name string, ttl time.Duration) (string, error) {
	nt, err := s.createToken(ctx, api.TokenRequest{Name: name, Role: api.RoleAgent, TTL: api.Duration(ttl)}, "server")
	return nt.Secret, err
}

// initAdminToken creates the first admin token when the cluster has no
// token at all, and writes it to the admin token file (0600).
func (s *Server) initAdminToken(ctx context.Context) error {
	toks, err := s.store.ListTokens(ctx)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	if len(toks) > 0 {
		return nil
	}
	nt, err := s.createToken(ctx, api.TokenRequest{Name: "admin", Role: api.RoleAdmin}, "server")
	if err != nil {
		return fmt.Errorf("create first admin token: %w", err)
	}
	if err := writeFileAtomic(s.cfg.AdminTokenFile, []byte(nt.Secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	s.log.Info("created the first admin token", "path", s.cfg.AdminTokenFile)
	return nil
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, c httpapi.Caller) error {
	var req api.TokenRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	nt, err := s.createToken(r.Context(), req, c.Subject)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusCreated, nt)
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	toks, err := s.store.ListTokens(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.Token, 0, len(toks))
	for _, t := range toks {
		out = append(out, t.Token)
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	id := r.PathValue("id")
	if _, err := s.store.RevokeToken(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.NotFound("token", id)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleWhoami(w http.ResponseWriter, _ *http.Request, c httpapi.Caller) error {
	return httpapi.JSON(w, http.StatusOK, api.Whoami{Subject: c.Subject, Role: c.Role})
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	var req api.UserRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	hash, err := pki.HashPassword(req.Password)
	if err != nil {
		return err
	}
	u := store.UserRecord{User: api.User{Name: req.Name, Role: req.Role, CreatedAt: s.cfg.Now().UTC()}, PasswordHash: hash}
	if err := s.store.PutUser(r.Context(), u); err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusCreated, u.User)
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.User, 0, len(us))
	for _, u := range us {
		out = append(out, u.User)
	}
	return httpapi.JSON(w, http.StatusOK, out)
}

func (s *Server) handleRemoveUser(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	name := r.PathValue("name")
	if err := s.store.DeleteUser(r.Context(), name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.NotFound("user", name)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, _ httpapi.Caller) error {
	var req api.LoginRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	bad := &api.Error{Status: http.StatusUnauthorized, Message: "wrong user name or password"}
	u, err := s.store.GetUser(r.Context(), req.Name)
	if errors.Is(err, store.ErrNotFound) {
		pki.CheckPassword("$2a$10$0000000000000000000000000000000000000000000000000000", req.Password)
		return bad
	} else if err != nil {
		return err
	}
	if !pki.CheckPassword(u.PasswordHash, req.Password) {
		return bad
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = api.Duration(24 * time.Hour)
	}
	nt, err := s.createUserToken(r.Context(), api.TokenRequest{Name: "login-" + u.Name, Role: u.Role, TTL: ttl}, "user:"+u.Name, u.Name)
	if err != nil {
		return err
	}
	return httpapi.JSON(w, http.StatusCreated, nt)
}

var _ httpapi.Authenticator = (*Server)(nil)
