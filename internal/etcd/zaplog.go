package etcd

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that writes etcd's zap logs to the injected
// slog.Logger, so they share its format (text or JSON) and component. It
// remembers the last error-level message so a failed start can report it.
type slogCore struct {
	zapcore.LevelEnabler
	lg    *slog.Logger
	attrs []slog.Attr
	state *coreState // shared by all cores derived With fields
}

type coreState struct {
	mu       sync.Mutex
	lastErr  string
	stopping bool
}

var _ zapcore.Core = (*slogCore)(nil)

func newSlogCore(lg *slog.Logger, level zapcore.Level) *slogCore {
	return &slogCore{LevelEnabler: level, lg: lg, state: &coreState{}}
}

func newZapLogger(c *slogCore) *zap.Logger { return zap.New(c) }

// lastError returns the last error-level message with its error, if any.
func (c *slogCore) lastError() string {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	return c.state.lastErr
}

// quiet demotes errors to debug from now on: while etcd stops, it logs every
// closed listener as an error.
func (c *slogCore) quiet() {
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	c.state.stopping = true
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.attrs = append(slices.Clip(c.attrs), toAttrs(fields)...)
	return &clone
}

func (c *slogCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *slogCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(slices.Clip(c.attrs), toAttrs(fields)...)
	if ent.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", ent.LoggerName))
	}
	level := slogLevel(ent.Level)
	if ent.Level >= zapcore.ErrorLevel {
		msg := ent.Message
		for _, a := range attrs {
			if a.Key == "error" {
				msg += ": " + a.Value.String()
			}
		}
		c.state.mu.Lock()
		// A fresh member logs this at error level until its first raft
		// term is written; it is harmless and fixes itself.
		if c.state.stopping || ent.Message == "failed to update storage version" {
			level = slog.LevelDebug
		} else {
			c.state.lastErr = msg
		}
		c.state.mu.Unlock()
	}
	c.lg.LogAttrs(context.Background(), level, ent.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// toAttrs encodes zap fields as slog attributes, sorted by key.
func toAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return cmp.Compare(a.Key, b.Key) })
	return attrs
}
