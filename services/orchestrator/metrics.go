package orchestrator

import (
	"github.com/prometheus/client_golang/prometheus"

	"kirjaamo.dev/adapters/sdk/telemetry"
)

// What the result collector sees of the registers, labelled by register id and result status only.
var (
	registerAnswers = telemetry.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kirjaamo_register_answers_total",
		Help: "Answers stored from each register, by result status (a redelivered answer counts once).",
	}, []string{"register", "status"}))
	registerAnswerSeconds = telemetry.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kirjaamo_register_answer_seconds",
		Help:    "How long a register took to answer, from its task's dispatch until its answer was stored.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400},
	}, []string{"register"}))
)
