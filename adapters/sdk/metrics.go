package sdk

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kirjaamo.dev/adapters/sdk/telemetry"
	"kirjaamo.dev/contracts"
)

// The adapter's metrics, labelled by register and operation only: several adapters in one process
// share them.
var (
	tasksDone = telemetry.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kirjaamo_adapter_tasks_total",
		Help: "Tasks the adapter answered, by register, operation and result status.",
	}, []string{"register", "operation", "status"}))
	tasksRedelivered = telemetry.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kirjaamo_adapter_tasks_retried_total",
		Help: "Tasks the adapter left to be delivered again (the register or the effect record could not be reached, or the handler failed with a retryable error).",
	}, []string{"register", "operation"}))
	taskSeconds = telemetry.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kirjaamo_adapter_task_duration_seconds",
		Help:    "How long the register's handler took for a task, by register and operation.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"register", "operation"}))
	tasksInProgress = telemetry.Register(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kirjaamo_adapter_tasks_in_progress",
		Help: "Tasks the adapter is working on now.",
	}, []string{"register"}))
)

func observeTask(register string, op contracts.Operation, status contracts.ResultStatus, took time.Duration) {
	tasksDone.WithLabelValues(register, string(op), string(status)).Inc()
	taskSeconds.WithLabelValues(register, string(op)).Observe(took.Seconds())
}
