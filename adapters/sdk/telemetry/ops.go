package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness is what a process must have before it takes work: a check per server it needs, and
// whether its services have started. /readyz answers 200 once started and every check passes, and
// 503 with the names of what is missing otherwise; /healthz answers 200 while the process runs.
type Readiness struct {
	mu      sync.Mutex
	started bool
	checks  map[string]func(context.Context) error
}

// Check adds a named check, such as "postgres" or "nats".
func (r *Readiness) Check(name string, check func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = map[string]func(context.Context) error{}
	}
	r.checks[name] = check
}

// Started marks the process's services as serving.
func (r *Readiness) Started() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = true
}

// Missing lists what keeps the process from being ready, or nothing.
func (r *Readiness) Missing(ctx context.Context) []string {
	r.mu.Lock()
	started := r.started
	checks := make(map[string]func(context.Context) error, len(r.checks))
	for k, v := range r.checks {
		checks[k] = v
	}
	r.mu.Unlock()
	var missing []string
	if !started {
		missing = append(missing, "starting")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for name, check := range checks {
		if err := check(ctx); err != nil {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

// Handler serves /metrics (the default Prometheus registry: everything the process registered, with
// the Go runtime's and the process's own), /healthz and /readyz.
func Handler(ready *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.DefaultGatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if missing := ready.Missing(r.Context()); len(missing) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready: "+strings.Join(missing, ", "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Serve runs the ops server on addr until ctx ends. It listens at once, so that a process still
// waiting for its servers already answers /healthz, and says it is not ready.
func Serve(ctx context.Context, addr string, ready *Readiness, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry: listen %s: %w", addr, err)
	}
	log.Info("metrics and health", "addr", ln.Addr().String())
	srv := &http.Server{Handler: Handler(ready), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// Register registers c with the default registry, or returns the collector of the same description
// registered before, so that several adapters or services in one process share their metrics.
func Register[C prometheus.Collector](c C) C {
	if err := prometheus.DefaultRegisterer.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
