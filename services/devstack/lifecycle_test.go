package devstack

import (
	"context"

	historypb "go.temporal.io/api/history/v1"

	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/adapters/demo"
)

// TestExtensionAndRestrictionThroughTheOffice walks a restriction request through the office: the
// deadline is extended with reasons, the reply approved, the lift refused until the subject has been
// told, then lifted, and the registers lift their restrictions.
func TestExtensionAndRestrictionThroughTheOffice(t *testing.T) {
	s, dir := sharedStack(t), shared.dir
	token := idToken(t, s, "demo-aino")
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json",
		`{"right":"restriction","language":"en","contact_email":"aino.virtanen@example.fi","details":"accuracy contested"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["request_id"].(string)
	waitStatus(t, s, id, "in_review")

	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	decide := func(decision string, form url.Values) string {
		t.Helper()
		form.Set("csrf", csrf)
		if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/"+decision, form); status != http.StatusSeeOther {
			t.Fatalf("%s: %d", decision, status)
		}
		_, body, _ := page(t, clerk, s.OfficeURL+"/cases/"+id)
		return body
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/extend", url.Values{"csrf": {csrf}, "months": {"3"}, "reasons": {"x"}}); status != http.StatusUnprocessableEntity {
		t.Errorf("extension by three months: %d, want 422", status)
	}
	body := decide("extend", url.Values{"months": {"2"}, "reasons": {"Every register must be searched by hand."}})
	if !strings.Contains(body, "The deadline was extended and the subject told why.") {
		t.Fatalf("extension not confirmed:\n%s", body)
	}
	c, _ := s.Platform.Cases.Case(context.Background(), id)
	if c.ExtensionReasons != "Every register must be searched by hand." || c.Deadline.Sub(c.ReceivedAt) < 80*24*time.Hour {
		t.Errorf("after the extension the case has deadline %v and reasons %q", c.Deadline, c.ExtensionReasons)
	}
	if body := decide("extend", url.Values{"months": {"1"}, "reasons": {"again"}}); !strings.Contains(body, "Not done:") {
		t.Error("a second extension was not refused")
	}

	decide("approve", url.Values{})
	waitStatus(t, s, id, "restricted")
	if body := decide("lift", url.Values{}); !strings.Contains(body, "Art 18(3)") {
		t.Errorf("a lift before the notice was not refused with its reason")
	}
	decide("lift-notice", url.Values{})
	waitStatus(t, s, id, "lift_notice_sent")
	decide("lift", url.Values{})
	waitStatus(t, s, id, "lifted")

	// The request's run ended with the reply and continued as new: the restriction's own run, which
	// carries none of the subject's data.
	restricted := rawHistory(t, s, id)
	previous := restricted.Events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
	if previous == "" {
		t.Fatal("the restriction's run did not continue the request's")
	}
	replied := rawRunHistory(t, s, id, previous)
	aino := demo.People[0]
	for _, h := range []*historypb.History{replied, restricted} {
		assertNoPersonalData(t, h, aino.PersonalIdentityCode, aino.Name(), aino.FamilyName, aino.Email)
	}
	saveForReplay(t, s, dir, replied, "-request")
	saveForReplay(t, s, dir, restricted, "-restriction")

	// The registers that restricted Aino's data answer their lift tasks; the record keeps each answer.
	deadline := time.Now().Add(30 * time.Second)
	for {
		trail, _ := s.Platform.Record.Trail(context.Background(), id)
		lifted := 0
		var actions []string
		for _, e := range trail {
			actions = append(actions, e.Action)
			if e.Action == "lift_restriction" {
				lifted++
			}
		}
		if lifted > 0 {
			for _, want := range []string{"received", "deadline_extended", "replied", "lift_notice_sent", "restriction_lifted"} {
				if !strings.Contains(strings.Join(actions, " "), want) {
					t.Errorf("the record lacks %q: %v", want, actions)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no register answered its lift task: %v", actions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
