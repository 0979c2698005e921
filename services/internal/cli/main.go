// Package cli is the kirjaamo command: running Kirjaamo's services and the tools around them.
//
//	kirjaamo serve SERVICE...         services against external PostgreSQL, NATS and Temporal
//	kirjaamo keygen                   a new payload encryption key
//	kirjaamo dev                      the whole platform in one process, on embedded servers
//	                                  (only in the dev build, services/devstack/cmd/kirjaamo)
//
// Run `kirjaamo help` for every command. The production binary (services/cmd/kirjaamo) and the dev
// build (services/devstack/cmd/kirjaamo, which `make build` puts in bin/) share these commands; the
// dev build adds those that link the embedded servers, which production has no use for.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/services/internal/config"
)

// Command is one subcommand: what it does, and how to run it.
type Command struct {
	Summary string
	Run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands are the production commands, filled by each command's file.
var commands = map[string]Command{}

// ErrUsage marks an error in how the command was called: exit code 2.
var ErrUsage = errors.New("usage")
var errUsage = ErrUsage

// Main runs the command named by os.Args with the production commands and extra ones, stopping on
// SIGINT or SIGTERM, and returns the exit code.
func Main(extra map[string]Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr, extra)
}

// Run runs a command, as Main does, with the arguments and output given: for tests that run the
// command as an operator would.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, extra map[string]Command) int {
	return run(ctx, args, stdout, stderr, extra)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, extra map[string]Command) int {
	all := maps.Clone(commands)
	maps.Copy(all, extra)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, all)
		return 0
	}
	cmd, ok := all[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "kirjaamo: unknown command %q\n\n", args[0])
		usage(stderr, all)
		return 2
	}
	if err := cmd.Run(ctx, args[1:], stdout); err != nil {
		fmt.Fprintf(stderr, "kirjaamo %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, commands map[string]Command) {
	fmt.Fprintln(w, "kirjaamo: a data-subject-rights platform\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].Summary)
	}
}

// LogConfig is how the command logs.
type LogConfig struct {
	Level  slog.Level `env:"LOG_LEVEL" default:"info" doc:"the least level logged: debug, info, warn or error"`
	Format string     `env:"LOG_FORMAT" default:"json" doc:"json or text"`
}

// Check refuses a format the command cannot write.
func (c *LogConfig) Check() error {
	if c.Format != "json" && c.Format != "text" {
		return errors.New("KIRJAAMO_LOG_FORMAT must be json or text")
	}
	return nil
}

// NewLogger writes JSON lines to stderr, or text, at the level KIRJAAMO_LOG_LEVEL and
// KIRJAAMO_LOG_FORMAT ask for; a line written with the context of a traced request carries its
// trace id.
func NewLogger() (*slog.Logger, error) {
	var cfg LogConfig
	if err := config.Load("KIRJAAMO_", &cfg); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: cfg.Level}
	if cfg.Format == "text" {
		return slog.New(telemetry.WithTraceIDs(slog.NewTextHandler(os.Stderr, opts))), nil
	}
	return slog.New(telemetry.WithTraceIDs(slog.NewJSONHandler(os.Stderr, opts))), nil
}
