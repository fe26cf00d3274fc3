package handler

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"

	"corral/internal/api"
)

// Email sends the event by SMTP: STARTTLS when the server offers it, PLAIN
// auth when the spec has a username (the password from its secret).
type Email struct{ env Env }

var _ Handler = (*Email)(nil)

// Handle sends one message to every recipient.
func (e *Email) Handle(ctx context.Context, spec api.HandlerSpec, ev api.Event) error {
	host, _, err := net.SplitHostPort(spec.SMTPAddress)
	if err != nil {
		return fmt.Errorf("smtp_address %q: %w", spec.SMTPAddress, err)
	}
	var password string
	if spec.PasswordSecret != "" {
		if password, err = e.env.Secret(spec.PasswordSecret); err != nil {
			return fmt.Errorf("password_secret %s: %w", spec.PasswordSecret, err)
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", spec.SMTPAddress)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(e.env.Hostname); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{}
		if e.env.TLS != nil {
			cfg = e.env.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if spec.Username != "" {
		// PlainAuth refuses to send the password without TLS (except to
		// localhost).
		if err := c.Auth(smtp.PlainAuth("", spec.Username, password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(spec.From); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	for _, to := range spec.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp rcpt %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(message(spec, ev, e.env.Now())); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

// message is the mail: headers and a plain-text body with CRLF lines.
func message(spec api.HandlerSpec, ev api.Event, now time.Time) []byte {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	subject := strings.NewReplacer("\r", " ", "\n", " ").Replace(summary(ev))
	line("From: %s", spec.From)
	line("To: %s", strings.Join(spec.To, ", "))
	line("Subject: [corral] %s", subject)
	line("Date: %s", now.Format(time.RFC1123Z))
	line("MIME-Version: 1.0")
	line("Content-Type: text/plain; charset=utf-8")
	line("")
	line("%s", subject)
	line("")
	line("Entity:      %s", ev.Entity)
	line("Check:       %s", ev.Check)
	line("Status:      %s (%d)", api.StatusName(ev.Status), ev.Status)
	line("State:       %s", ev.State)
	line("Occurrences: %d", ev.Occurrences)
	if ev.Executed > 0 {
		line("Executed:    %s", unixRFC3339(ev.Executed))
	}
	line("")
	line("Output:")
	for _, l := range strings.Split(strings.TrimRight(clip(ev.Output), "\n"), "\n") {
		line("%s", strings.TrimRight(l, "\r"))
	}
	return []byte(b.String())
}

func unixRFC3339(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
