package flow

import (
	"fmt"
	"sync"

	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"

	"kirjaamo.dev/adapters/sdk/telemetry"
)

// The Temporal SDK's own metrics (requests to the server, poll and schedule-to-start latencies,
// workflow and activity task executions and failures, sticky cache) go to the process's Prometheus
// registry through the SDK's OpenTelemetry handler, once per process however many clients it dials.
var temporalMetrics = sync.OnceValues(func() (client.MetricsHandler, error) {
	exporter, err := otelprom.New(otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("flow: Temporal metrics: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)).Meter("temporal-sdk-go")
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: meter}), nil
})

// tracing carries a trace through Temporal: from the client that starts a workflow or sends it an
// update or a signal, into the workflow and each activity it runs (the SDK's OpenTelemetry
// interceptor; its spans carry workflow, run and activity ids, never a payload). Workers made from
// the client use it too. It takes the process's tracer provider as it is when dialling.
func tracing() (interceptor.Interceptor, error) {
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{TextMapPropagator: telemetry.Propagator,
		Tracer: telemetry.Tracer("kirjaamo.dev/workflows/request")})
}
