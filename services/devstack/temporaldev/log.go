package temporaldev

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogAdapter feeds the server's log.Logger calls into an slog.Logger. The
// server is chatty at info level, so the level filter is applied before any
// tag is converted.
type slogAdapter struct {
	l     *slog.Logger
	level slog.Leveler
	// with holds tags from With calls. They are converted only when a record
	// is actually emitted, because the server calls With on hot paths.
	with []tag.Tag
}

var (
	_ log.Logger     = slogAdapter{}
	_ log.WithLogger = slogAdapter{}
)

func (a slogAdapter) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < a.level.Level() || !a.l.Enabled(context.Background(), level) {
		return
	}
	out := make([]slog.Attr, 0, len(a.with)+len(tags))
	out = appendAttrs(out, a.with)
	out = appendAttrs(out, tags)
	a.l.LogAttrs(context.Background(), level, msg, out...)
}

func appendAttrs(out []slog.Attr, tags []tag.Tag) []slog.Attr {
	for _, t := range tags {
		// ZapTag.Value renders through zap's map encoder, which turns errors
		// into strings and durations into durations; good enough for logs.
		out = append(out, slog.Any(t.Key(), t.Value()))
	}
	return out
}

func (a slogAdapter) Debug(msg string, tags ...tag.Tag) { a.log(slog.LevelDebug, msg, tags) }
func (a slogAdapter) Info(msg string, tags ...tag.Tag)  { a.log(slog.LevelInfo, msg, tags) }
func (a slogAdapter) Warn(msg string, tags ...tag.Tag)  { a.log(slog.LevelWarn, msg, tags) }
func (a slogAdapter) Error(msg string, tags ...tag.Tag) { a.log(slog.LevelError, msg, tags) }

// DPanic only panics in zap's development mode; an embedded server in a dev
// stack should keep running, so it is an error here.
func (a slogAdapter) DPanic(msg string, tags ...tag.Tag) { a.log(slog.LevelError, msg, tags) }

// Panic and Fatal must not return. Both panic (rather than os.Exit for
// Fatal) so that a test or dev process shows a stack trace of the cause.
func (a slogAdapter) Panic(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	panic(fmt.Sprintf("temporal: %s", msg))
}

func (a slogAdapter) Fatal(msg string, tags ...tag.Tag) {
	a.log(slog.LevelError, msg, tags)
	panic(fmt.Sprintf("temporal: fatal: %s", msg))
}

func (a slogAdapter) With(tags ...tag.Tag) log.Logger {
	with := make([]tag.Tag, 0, len(a.with)+len(tags))
	with = append(append(with, a.with...), tags...)
	return slogAdapter{l: a.l, level: a.level, with: with}
}
