package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kirjaamo.dev/services/internal/gauges"
	"kirjaamo.dev/workflows/request"
)

// TestTheGaugesSayWhatTheDatabaseHolds: the office's gauges count a request by its status, against
// its internal target and deadline, as needing attention, by what its registers have not answered,
// by which adapter was heard from lately, and what waits in the outbox.
func TestTheGaugesSayWhatTheDatabaseHolds(t *testing.T) {
	s, ctx := open(t), context.Background()
	if err := s.cases.Record(ctx, aino()); err != nil { // received 30 April 2026: its deadline has passed
		t.Fatal(err)
	}
	if err := s.cases.SavePlan(ctx, requestID, []request.PlannedRegister{plan("clinic", "d1", true), plan("koronavilkku", "d2", true),
		plan("kela", "d3", false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.MarkDispatched(ctx, requestID, []string{"clinic", "koronavilkku"}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.cases.RecordAnswer(ctx, requestID, "koronavilkku", "no_data", []byte(`{"status":"no_data"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.decls.Heartbeat(ctx, "clinic", "i1", "d1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.decls.Heartbeat(ctx, "koronavilkku", "i2", "d2", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.Attention(ctx, request.AttentionInput{RequestID: requestID, Attention: &request.Attention{Step: request.StepIntake,
		Trouble: request.TroubleUnavailable, Since: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := s.cases.Raise(ctx, request.Alarm{RequestID: requestID, Kind: request.AlarmEscalation, Deadline: time.Now()}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(gauges.New(s.db.Pool))
	got := gather(t, reg)
	for series, want := range map[string]float64{
		`kirjaamo_requests{status="dispatched"}`:               1,
		`kirjaamo_requests{status="replied"}`:                  0,
		`kirjaamo_open_requests_past_internal_target`:          1,
		`kirjaamo_open_requests_past_deadline`:                 1,
		`kirjaamo_open_requests_due_within_days{days="1"}`:     1,
		`kirjaamo_requests_needing_attention{step="intake"}`:   1,
		`kirjaamo_requests_needing_attention{step="review"}`:   0,
		`kirjaamo_register_answers_awaited{register="clinic"}`: 1,
		`kirjaamo_register_available{register="clinic"}`:       1,
		`kirjaamo_register_available{register="koronavilkku"}`: 0,
		`kirjaamo_outbox_unsent{channel="email"}`:              1,
		`kirjaamo_outbox_unsent{channel="sms"}`:                0,
		`kirjaamo_gauges_up`:                                   1,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if _, ok := got[`kirjaamo_register_answers_awaited{register="koronavilkku"}`]; ok {
		t.Error("a register that answered is counted as awaited")
	}
	if v := got[`kirjaamo_open_requests_nearest_deadline_days`]; v >= 0 {
		t.Errorf("the nearest deadline is %v days away, want passed", v)
	}
	for series := range got {
		for _, personal := range []string{"Aino", "aino@example.fi", "demo-aino"} {
			if strings.Contains(series, personal) {
				t.Errorf("a gauge's labels carry personal data: %s", series)
			}
		}
	}
}

// gather reads a registry's series as "name{labels}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := f.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out[name] = m.GetGauge().GetValue()
		}
	}
	return out
}
