// Command kirjaamo runs Kirjaamo's services and the tools around them.
//
//	kirjaamo dev                      the whole platform in one process, on embedded servers
//	kirjaamo serve SERVICE...         services against external PostgreSQL, NATS and Temporal
//	kirjaamo keygen                   a new payload encryption key
//
// Run `kirjaamo help` for every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: what it does, and how to run it.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands is filled by each command's file, so that a command that needs the embedded servers
// (dev) can live behind a build tag.
var commands = map[string]command{}

// errUsage marks an error in how the command was called: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "kirjaamo: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout); err != nil {
		fmt.Fprintf(stderr, "kirjaamo %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kirjaamo: a data-subject-rights platform\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
}

// newLogger writes JSON lines to stderr, or text when KIRJAAMO_LOG_FORMAT=text, at
// KIRJAAMO_LOG_LEVEL (default info).
func newLogger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(envOr("KIRJAAMO_LOG_LEVEL", "info")))
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(os.Getenv("KIRJAAMO_LOG_FORMAT"), "text") {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
