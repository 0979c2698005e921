package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRequestsAreCountedByRouteNotByPath: the metrics name the route pattern, never the path a
// caller sent, and a method or path no route has cannot make new label values.
func TestRequestsAreCountedByRouteNotByPath(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /requests/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := Observed("observe-test", mux)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/requests/150385-9013", nil),
		httptest.NewRequest(http.MethodGet, "/requests/aino.virtanen@example.fi", nil),
		httptest.NewRequest("BREW", "/anything/150385-9013", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := testutil.ToFloat64(httpRequests.WithLabelValues("observe-test", "GET /requests/{id}", "GET", "418")); n != 2 {
		t.Errorf("GET /requests/{id} counted %v times, want 2", n)
	}
	if n := testutil.ToFloat64(httpRequests.WithLabelValues("observe-test", "unmatched", "other", "404")); n != 1 {
		t.Errorf("an unknown method and path counted %v times as unmatched/other, want 1", n)
	}
	if n := testutil.CollectAndCount(httpRequests); n != 2 {
		t.Errorf("%d series, want 2: the path made label values", n)
	}
}
