package devstack

import (
	"context"
	"log/slog"
	"strings"
)

// knownNoise are messages the embedded Temporal server logs as errors and warnings on every start
// and stop of a single-process cluster, while its services find each other or close their
// connections. They say nothing is wrong, and printed at every `make dev` they would hide the lines
// that do.
var knownNoise = []string{
	"error fetching user data from parent",      // matching, until membership has settled
	"Not enough hosts to serve the request",     // the same, from other services
	"Failed to poll for task",                   // the system workers, while the server stops
	"Failed to check Nexus endpoints ownership", // matching, until membership has settled, and at stop
	"HTTP API port has not been set",            // the frontend: dev does not serve Nexus over HTTP
	"network dial error",                        // the server's own clients, while it stops
}

// withoutKnownNoise drops knownNoise and passes everything else on.
type withoutKnownNoise struct{ slog.Handler }

func (h withoutKnownNoise) Handle(ctx context.Context, r slog.Record) error {
	for _, m := range knownNoise {
		if strings.Contains(r.Message, m) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h withoutKnownNoise) WithAttrs(as []slog.Attr) slog.Handler {
	return withoutKnownNoise{h.Handler.WithAttrs(as)}
}

func (h withoutKnownNoise) WithGroup(name string) slog.Handler {
	return withoutKnownNoise{h.Handler.WithGroup(name)}
}
