package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A download the handler cannot finish must reach the client as cut short, never as complete.
func TestAnAbortedResponseIsCutShort(t *testing.T) {
	srv := httptest.NewServer(Logged(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(make([]byte, 64<<10))
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the aborted download read as complete")
	}
}
