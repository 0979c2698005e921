package office

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/services/internal/store/events"
	"kirjaamo.dev/services/internal/web"
)

// heldBack is one register holding back three events.
type heldBack struct{}

func (heldBack) HeldBack(context.Context, time.Time) ([]events.Held, error) {
	return []events.Held{{RegisterID: "kanta-processing-log", Count: 3, Next: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC),
		Last: time.Date(2027, 1, 2, 9, 0, 0, 0, time.UTC)}}, nil
}

// TestTheOfficeSeesOnlyHowManyEventsAreHeldBack: the counts and the due dates, per register.
func TestTheOfficeSeesOnlyHowManyEventsAreHeldBack(t *testing.T) {
	h := newHarness(t)
	data, _ := json.Marshal(web.Session{Identity: &kaisa, CSRF: "t"})
	h.sessions["sid"] = data
	r := httptest.NewRequest(http.MethodGet, "/processing", nil)
	r.Header.Set("Cookie", "kirjaamo_office=sid")
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `data-register="kanta-processing-log"`) || !strings.Contains(body, `<td class="count">3</td>`) ||
		!strings.Contains(body, "2027") {
		t.Fatalf("the held-back page: %d\n%s", w.Code, body)
	}
	r = httptest.NewRequest(http.MethodGet, "/processing", nil)
	w = httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Errorf("without signing in: %d", w.Code)
	}
}
