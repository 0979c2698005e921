// Package flow connects services to Temporal with the platform's payload encryption, so that no
// client or worker can send a payload in clear text by forgetting an option.
package flow

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"kirjaamo.dev/services/internal/retry"
	"kirjaamo.dev/workflows/codec"
)

// Config is how a service reaches Temporal.
type Config struct {
	HostPort  string `env:"TEMPORAL_ADDRESS" required:"" doc:"the Temporal frontend, host:port"`
	Namespace string `env:"TEMPORAL_NAMESPACE" default:"default" doc:"the Temporal namespace"`
}

// Dial connects to Temporal with the data and failure converters that encrypt with the payload keys.
// While the frontend does not answer it keeps trying, and says so, until ctx ends.
func Dial(ctx context.Context, cfg Config, c *codec.Codec, log *slog.Logger) (client.Client, error) {
	metrics, err := temporalMetrics()
	if err != nil {
		return nil, err
	}
	traced, err := tracing()
	if err != nil {
		return nil, fmt.Errorf("flow: tracing: %w", err)
	}
	var cl client.Client
	err = retry.Servers.Until(ctx, log, "Temporal", func(ctx context.Context) error {
		var err error
		cl, err = client.DialContext(ctx, client.Options{
			HostPort:         cfg.HostPort,
			Namespace:        cfg.Namespace,
			DataConverter:    c.DataConverter(),
			FailureConverter: c.FailureConverter(),
			Logger:           tlog.NewStructuredLogger(quiet(log)),
			MetricsHandler:   metrics,
			Interceptors:     []interceptor.ClientInterceptor{traced},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("flow: dial %s: %w", cfg.HostPort, err)
	}
	return cl, nil
}

// quiet keeps the SDK's chatter (every worker start, every poll) out of the info log.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{log.Handler(), slog.LevelWarn}).With("component", "temporal")
}
