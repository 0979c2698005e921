package cli_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/services/internal/cli"
	"kirjaamo.dev/services/internal/ledger"
)

// TestVerificationIsPushedForTheAlerts: what kirjaamo audit verify -push sends the Pushgateway is
// what deploy/prometheus/alerts.yaml reads: the record intact or not, and when it was checked.
func TestVerificationIsPushedForTheAlerts(t *testing.T) {
	var method, path, body string
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		method, path, body = r.Method, r.URL.Path, string(b)
		w.WriteHeader(http.StatusOK)
	}))
	defer gateway.Close()
	at := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		rep  ledger.Report
		want string
	}{
		{ledger.Report{Entries: 42}, "kirjaamo_record_verified 1"},
		{ledger.Report{Entries: 42, Broken: &ledger.Break{Seq: 7}}, "kirjaamo_record_verified 0"},
	} {
		if err := cli.PushVerification(context.Background(), gateway.URL, c.rep, at); err != nil {
			t.Fatal(err)
		}
		if method != http.MethodPut || path != "/metrics/job/kirjaamo_audit" {
			t.Errorf("pushed with %s %s, want PUT to the kirjaamo_audit job, replacing its last outcome", method, path)
		}
		for _, want := range []string{c.want, "kirjaamo_record_last_verified_timestamp_seconds 1.8e+09", "kirjaamo_record_entries 42"} {
			if !strings.Contains(body, "\n"+want+"\n") {
				t.Errorf("the push lacks %q:\n%s", want, body)
			}
		}
	}
}
