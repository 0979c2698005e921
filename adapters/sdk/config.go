package sdk

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"kirjaamo.dev/adapters/sdk/telemetry"
)

// Config is how an adapter reaches the platform. LoadConfig reads it from the environment, so that
// the same binary runs in dev and in production.
type Config struct {
	// NATSURL is the NATS server or cluster, e.g. nats://nats-1:4222,nats://nats-2:4222.
	NATSURL string
	// CredentialsFile is the register's own NATS credentials (a .creds file), which allow it its own
	// subjects only. Empty in a dev setup without authentication.
	CredentialsFile string
	// CAFile is the PEM certificate authority of a NATS cluster served over TLS (tls:// URLs).
	CAFile string
	// InboxPrefix is where replies to the adapter's requests arrive. The register's credentials allow
	// it to subscribe under its own prefix only, so that no adapter can read another's replies (its
	// tasks among them). Default "_INBOX_<register id>".
	InboxPrefix string
	// Concurrency is how many tasks run at once in this process.
	Concurrency int
	// AckWait is how long a task may run without a progress heartbeat before JetStream redelivers it:
	// a task held by an instance that died comes back this long after it was delivered. Progress is
	// told every third of it. Default 5 s.
	AckWait time.Duration
	// HeartbeatEvery is how often the adapter tells the catalogue it is alive.
	HeartbeatEvery time.Duration
	// GracePeriod is how long a stop waits for the tasks under way to be answered before Run returns
	// anyway, leaving them to be redelivered; it holds whether or not NATS is still reachable.
	// Default 10 s. Keep it below the time the adapter's supervisor waits before it kills the process
	// (Kubernetes' terminationGracePeriodSeconds, Docker's stop timeout), so that the stop is a drain.
	GracePeriod time.Duration
	// OpsAddr, if set, is where the adapter serves its metrics (/metrics, Prometheus), /healthz and
	// /readyz, e.g. 127.0.0.1:9465. Empty: none.
	OpsAddr string
	// ProcessingBuffer is how many processing events the register's Events hold before Processing
	// waits for room (see Events). Default 10000.
	ProcessingBuffer int
	// Logger receives structured logs, which never contain identifiers or records; lines about a task
	// carry its trace's id (telemetry.WithTraceIDs) when the logger's handler is wrapped so.
	Logger *slog.Logger
}

// LoadConfig reads KIRJAAMO_NATS_URL, KIRJAAMO_NATS_CREDENTIALS, KIRJAAMO_NATS_CA, KIRJAAMO_NATS_INBOX_PREFIX, KIRJAAMO_ADAPTER_CONCURRENCY,
// KIRJAAMO_ADAPTER_ACK_WAIT, KIRJAAMO_ADAPTER_HEARTBEAT_EVERY, KIRJAAMO_ADAPTER_GRACE_PERIOD,
// KIRJAAMO_ADAPTER_PROCESSING_BUFFER and KIRJAAMO_ADAPTER_OPS_ADDR. Its logger writes JSON lines to
// standard error with each task's trace id; traces are exported when the standard OTEL_ variables say
// where (telemetry.Setup, which Main calls).
func LoadConfig() (Config, error) {
	cfg := Config{
		NATSURL:         envOr("KIRJAAMO_NATS_URL", "nats://127.0.0.1:4222"),
		CredentialsFile: os.Getenv("KIRJAAMO_NATS_CREDENTIALS"),
		CAFile:          os.Getenv("KIRJAAMO_NATS_CA"),
		InboxPrefix:     os.Getenv("KIRJAAMO_NATS_INBOX_PREFIX"),
		OpsAddr:         os.Getenv("KIRJAAMO_ADAPTER_OPS_ADDR"),
		Logger:          slog.New(telemetry.WithTraceIDs(slog.NewJSONHandler(os.Stderr, nil))),
	}
	var err error
	if cfg.Concurrency, err = strconv.Atoi(envOr("KIRJAAMO_ADAPTER_CONCURRENCY", "8")); err != nil || cfg.Concurrency < 1 {
		return cfg, fmt.Errorf("sdk: KIRJAAMO_ADAPTER_CONCURRENCY must be a positive integer")
	}
	if cfg.AckWait, err = time.ParseDuration(envOr("KIRJAAMO_ADAPTER_ACK_WAIT", "5s")); err != nil {
		return cfg, fmt.Errorf("sdk: KIRJAAMO_ADAPTER_ACK_WAIT: %w", err)
	}
	if cfg.HeartbeatEvery, err = time.ParseDuration(envOr("KIRJAAMO_ADAPTER_HEARTBEAT_EVERY", "10s")); err != nil {
		return cfg, fmt.Errorf("sdk: KIRJAAMO_ADAPTER_HEARTBEAT_EVERY: %w", err)
	}
	if cfg.GracePeriod, err = time.ParseDuration(envOr("KIRJAAMO_ADAPTER_GRACE_PERIOD", "10s")); err != nil || cfg.GracePeriod <= 0 {
		return cfg, fmt.Errorf("sdk: KIRJAAMO_ADAPTER_GRACE_PERIOD must be a positive duration, such as 10s")
	}
	if cfg.ProcessingBuffer, err = strconv.Atoi(envOr("KIRJAAMO_ADAPTER_PROCESSING_BUFFER", "10000")); err != nil || cfg.ProcessingBuffer < 1 {
		return cfg, fmt.Errorf("sdk: KIRJAAMO_ADAPTER_PROCESSING_BUFFER must be a positive integer")
	}
	return cfg, nil
}

func (c Config) withDefaults() Config {
	if c.Concurrency < 1 {
		c.Concurrency = 8
	}
	if c.AckWait <= 0 {
		c.AckWait = 5 * time.Second
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 10 * time.Second
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = 10 * time.Second
	}
	if c.ProcessingBuffer < 1 {
		c.ProcessingBuffer = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
