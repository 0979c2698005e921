package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadinessSaysWhatIsMissing(t *testing.T) {
	r := &Readiness{}
	natsUp := false
	r.Check("nats", func(context.Context) error {
		if !natsUp {
			return errors.New("down")
		}
		return nil
	})
	h := Handler(r)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz of a running process: %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "nats, starting") {
		t.Errorf("/readyz before start with NATS down: %d %q", code, body)
	}
	r.Started()
	natsUp = true
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once started with NATS up: %d %q", code, body)
	}
}

func TestTracesAreExportedOnlyWhenTheStandardVariablesSaySo(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
		err  bool
	}{
		{env: map[string]string{}, want: false},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, want: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, want: false},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: false},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, err: true},
	} {
		for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
			t.Setenv(v, tc.env[v])
		}
		got, err := Exporting()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%v: exporting %v, error %v; want %v, error %v", tc.env, got, err, tc.want, tc.err)
		}
	}
}
