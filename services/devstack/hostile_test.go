package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"go.temporal.io/api/workflowservice/v1"

	"kirjaamo.dev/services/internal/store/cases"
)

// hostileTexts are what an attacker types into a text field: a NUL, other control characters,
// invalid UTF-8, text not in NFC, and ten thousand characters. None is valid anywhere.
var hostileTexts = map[string]string{
	"NUL":               "a\x00b",
	"bell":              "ding\x07",
	"escape":            "\x1b[2Jcleared",
	"invalid UTF-8":     "caf\xe9",
	"lone surrogate":    "\xed\xa0\x80",
	"10,000 characters": strings.Repeat("ä", 10_000),
}

// hostileIDs are malformed request ids, in a path.
var hostileIDs = []string{"not-a-uuid", "%00", "0195d5c8-8d3e-7c1a-9f00-00000000000%00", "..%2F..%2Fetc", strings.Repeat("z", 10_000),
	"0195d5c8-8d3e-7c1a-9f00-00000000000G", "%ff%fe", "'%20OR%201=1--"}

// TestHostileInputIsRefusedEverywhere sends hostile input to every public and office endpoint, forms
// and APIs: text with a NUL, other control characters, invalid UTF-8 or ten thousand characters;
// wrong media types and trailing data; malformed ids. Every answer is a 4xx (or, for a form, the
// page again with the error), nothing is accepted (no case is made, none changes), and no workflow
// is left retrying a step.
func TestHostileInputIsRefusedEverywhere(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()

	// What the hostile input is aimed at: Matti's request in review, and a letter awaiting identity.
	citizenToken, officeTok := idToken(t, s, "demo-matti"), officeToken(t, s, "staff-kaisa")
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", citizenToken, "application/json", `{"right":"access","language":"fi"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	inReview := created["request_id"].(string)
	status, created = api(t, "POST", s.OfficeURL+"/api/v1/cases", officeTok, "application/json",
		`{"right":"access","language":"fi","name":"Matti Korhonen","personal_identity_code":"020794-9029","channel":"mail"}`)
	if status != http.StatusAccepted {
		t.Fatalf("register: %d %v", status, created)
	}
	letter := created["request_id"].(string)
	waitStatus(t, s, inReview, "in_review")
	waitStatus(t, s, letter, "awaiting_identity")
	before, err := s.Platform.Cases.List(ctx, cases.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}

	citizen := browser(t)
	signIn(t, citizen, s.PortalURL, "/fi/login", "demo-matti")
	_, _, portalCSRF := page(t, citizen, s.PortalURL+"/fi/requests/new")
	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, officeCSRF := page(t, clerk, s.OfficeURL+"/cases/"+inReview)
	for _, id := range []string{inReview, letter} {
		if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {officeCSRF}, "purpose": {"handling the request"}}); status != http.StatusSeeOther {
			t.Fatalf("opening %s: %d", id, status)
		}
	}

	type call struct {
		name, method, url, contentType, body string
		client                               *http.Client
		token                                string
	}
	var calls []call
	form := func(name string, client *http.Client, u string, values url.Values, csrf string) {
		values.Set("csrf", csrf)
		calls = append(calls, call{name: name, method: "POST", url: u, contentType: "application/x-www-form-urlencoded", body: values.Encode(), client: client})
	}
	jsonCall := func(name, method, u, token, body string) {
		calls = append(calls, call{name: name, method: method, url: u, contentType: "application/json", body: body, token: token})
	}
	j := func(fields map[string]string) string { b, _ := json.Marshal(fields); return string(b) }
	// encoding/json would make invalid UTF-8 valid: the body is written by hand, byte for byte, with
	// control characters escaped as JSON wants them, so that they reach the check of the text.
	raw := func(field, value string, rest string) string {
		var b strings.Builder
		for i := 0; i < len(value); i++ {
			switch c := value[i]; {
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
		return `{"` + field + `":"` + b.String() + `"` + rest + `}`
	}

	for what, v := range hostileTexts {
		// The portal's request form and API.
		for _, field := range []string{"details", "contact_email", "phone", "rectify_field", "rectify_value"} {
			right := "objection"
			if strings.HasPrefix(field, "rectify") {
				right = "rectification"
			}
			form("portal form "+field+" "+what, citizen, s.PortalURL+"/fi/requests", url.Values{"right": {right}, field: {v}}, portalCSRF)
		}
		for _, field := range []string{"details", "contact_email", "phone", "idempotency_key"} {
			jsonCall("portal API "+field+" "+what, "POST", s.PortalURL+"/api/v1/requests", citizenToken, raw(field, v, `,"right":"objection","language":"fi"`))
		}
		jsonCall("portal API rectification "+what, "POST", s.PortalURL+"/api/v1/requests", citizenToken,
			`{"right":"rectification","language":"fi","rectification":[{"field":"name","new_value":"`+v+`"}]}`)
		// The subject's own steps.
		form("portal supply "+what, citizen, s.PortalURL+"/fi/requests/"+inReview+"/identifiers", url.Values{"type": {"phone"}, "value": {v}}, portalCSRF)
		form("portal verify "+what, citizen, s.PortalURL+"/fi/requests/"+inReview+"/identifiers/verify", url.Values{"type": {v}, "code": {v}}, portalCSRF)
		jsonCall("portal API supply "+what, "POST", s.PortalURL+"/api/v1/requests/"+inReview+"/identifiers", citizenToken, raw("value", v, `,"type":"phone"`))
		jsonCall("portal API verify "+what, "POST", s.PortalURL+"/api/v1/requests/"+inReview+"/identifiers/verify", citizenToken, raw("code", v, ""))
		// The office: registering a letter, opening a case, deciding on it.
		for _, field := range []string{"name", "personal_identity_code", "contact_email", "details", "received_on", "channel"} {
			values := url.Values{"right": {"access"}, "language": {"fi"}, "name": {"Matti Korhonen"}, "personal_identity_code": {"020794-9029"}, "channel": {"mail"}}
			values.Set(field, v)
			form("office form registration "+field+" "+what, clerk, s.OfficeURL+"/cases", values, officeCSRF)
			fields := map[string]string{"right": "access", "language": "fi", "name": "Matti Korhonen", "personal_identity_code": "020794-9029", "channel": "mail"}
			delete(fields, field)
			body := j(fields)
			jsonCall("office API registration "+field+" "+what, "POST", s.OfficeURL+"/api/v1/cases", officeTok, raw(field, v, ","+body[1:len(body)-1]))
		}
		form("office purpose "+what, clerk, s.OfficeURL+"/cases/"+inReview+"/purpose", url.Values{"purpose": {v}}, officeCSRF)
		form("office purpose detail "+what, clerk, s.OfficeURL+"/cases/"+inReview+"/purpose", url.Values{"purpose": {"handling the request"}, "purpose_detail": {v}}, officeCSRF)
		form("office approve "+what, clerk, s.OfficeURL+"/cases/"+inReview+"/approve", url.Values{"note": {v}}, officeCSRF)
		form("office extend "+what, clerk, s.OfficeURL+"/cases/"+inReview+"/extend", url.Values{"months": {"1"}, "reasons": {v}}, officeCSRF)
		form("office verify identity "+what, clerk, s.OfficeURL+"/cases/"+letter+"/verify-identity", url.Values{"method": {v}}, officeCSRF)
		form("office refuse identity "+what, clerk, s.OfficeURL+"/cases/"+letter+"/refuse-identity", url.Values{"reasons": {v}}, officeCSRF)
		q := "?purpose=" + url.QueryEscape(v)
		jsonCall("office API view purpose "+what, "GET", s.OfficeURL+"/api/v1/cases/"+inReview+q, officeTok, "")
		jsonCall("office API reply purpose "+what, "POST", s.OfficeURL+"/api/v1/cases/"+inReview+"/reply"+q, officeTok, "")
		jsonCall("office API reply "+what, "POST", s.OfficeURL+"/api/v1/cases/"+inReview+"/reply"+handling, officeTok, raw("note", v, ""))
		jsonCall("office API verify identity "+what, "POST", s.OfficeURL+"/api/v1/cases/"+letter+"/verify-identity"+handling, officeTok, raw("method", v, ""))
		jsonCall("office API refuse identity "+what, "POST", s.OfficeURL+"/api/v1/cases/"+letter+"/refuse-identity"+handling, officeTok, raw("reasons", v, ""))
		jsonCall("office API list "+what, "GET", s.OfficeURL+"/api/v1/cases?status="+url.QueryEscape(v), officeTok, "")
		form("office approve declaration "+what, clerk, s.OfficeURL+"/registers/clinic-event-invitations/approve", url.Values{"digest": {v}}, officeCSRF)
	}
	// Wrong media types and trailing data, on every API that takes a body.
	for _, u := range []struct{ url, token, body string }{
		{s.PortalURL + "/api/v1/requests", citizenToken, `{"right":"objection","language":"fi"}`},
		{s.PortalURL + "/api/v1/requests/" + inReview + "/identifiers", citizenToken, `{"type":"phone","value":"+358401110002"}`},
		{s.PortalURL + "/api/v1/requests/" + inReview + "/identifiers/verify", citizenToken, `{"code":"123456"}`},
		{s.OfficeURL + "/api/v1/cases", officeTok, `{"right":"access","language":"fi","name":"Matti Korhonen","personal_identity_code":"020794-9029","channel":"mail"}`},
		{s.OfficeURL + "/api/v1/cases/" + inReview + "/reply" + handling, officeTok, `{"note":"ok"}`},
		{s.OfficeURL + "/api/v1/cases/" + letter + "/verify-identity" + handling, officeTok, `{"method":"passport"}`},
		{s.OfficeURL + "/api/v1/cases/" + letter + "/refuse-identity" + handling, officeTok, `{"reasons":"none"}`},
	} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "application/jsonx", "multipart/form-data"} {
			calls = append(calls, call{name: "media type " + ct + " " + u.url, method: "POST", url: u.url, contentType: ct, body: u.body, token: u.token})
		}
		jsonCall("trailing data "+u.url, "POST", u.url, u.token, u.body+`{"right":"erasure"}`)
		jsonCall("trailing garbage "+u.url, "POST", u.url, u.token, u.body+` x`)
		jsonCall("unknown field "+u.url, "POST", u.url, u.token, u.body[:len(u.body)-1]+`,"admin":true}`)
	}
	// Malformed ids, on every path that takes one.
	for _, id := range hostileIDs {
		for _, p := range []string{"", "/package.json", "/package.zip"} {
			calls = append(calls, call{name: "portal page id " + id + p, method: "GET", url: s.PortalURL + "/fi/requests/" + id + p, client: citizen})
		}
		for _, p := range []string{"identifiers", "identifiers/verify", "withdraw"} {
			form("portal form id "+id+" "+p, citizen, s.PortalURL+"/fi/requests/"+id+"/"+p, url.Values{"type": {"phone"}, "value": {"+358401110002"}, "code": {"123456"}}, portalCSRF)
			jsonCall("portal API id "+id+" "+p, "POST", s.PortalURL+"/api/v1/requests/"+id+"/"+p, citizenToken, `{"type":"phone","value":"+358401110002","code":"123456"}`)
		}
		jsonCall("portal API view id "+id, "GET", s.PortalURL+"/api/v1/requests/"+id, citizenToken, "")
		calls = append(calls, call{name: "office page id " + id, method: "GET", url: s.OfficeURL + "/cases/" + id, client: clerk},
			call{name: "office records id " + id, method: "GET", url: s.OfficeURL + "/cases/" + inReview + "/registers/" + id + "/records", client: clerk},
			call{name: "office register id " + id, method: "GET", url: s.OfficeURL + "/registers/" + id, client: clerk})
		for _, d := range []string{"purpose", "approve", "extend", "verify-identity", "refuse-identity", "lift-notice", "lift", "retry"} {
			form("office form id "+id+" "+d, clerk, s.OfficeURL+"/cases/"+id+"/"+d, url.Values{"purpose": {"handling the request"}, "note": {"x"}}, officeCSRF)
		}
		form("office approve declaration id "+id, clerk, s.OfficeURL+"/registers/"+id+"/approve", url.Values{"digest": {"sha256:" + strings.Repeat("0", 64)}}, officeCSRF)
		jsonCall("office API view id "+id, "GET", s.OfficeURL+"/api/v1/cases/"+id+handling, officeTok, "")
		for _, d := range []string{"reply", "verify-identity", "refuse-identity"} {
			jsonCall("office API id "+id+" "+d, "POST", s.OfficeURL+"/api/v1/cases/"+id+"/"+d+handling, officeTok, `{"method":"passport","reasons":"none","note":"x"}`)
		}
	}

	accepted, failed := 0, 0
	for _, c := range calls {
		req, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
		if err != nil {
			continue // a URL no client could send
		}
		if c.contentType != "" && c.body != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		hc := c.client
		if hc == nil {
			hc = browser(t)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 500:
			failed++
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, trim(body))
		case resp.StatusCode < 300:
			accepted++
			t.Errorf("%s: accepted, %d %s", c.name, resp.StatusCode, trim(body))
		}
		// A redirect is what a form says either way ("done", "not done"): what it did is checked below.
	}

	// Nothing was accepted: no case was made, and those aimed at are as they were.
	after, err := s.Platform.Cases.List(ctx, cases.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("hostile input left %d cases behind", len(after)-len(before))
	}
	for id, want := range map[string]string{inReview: "in_review", letter: "awaiting_identity"} {
		c, err := s.Platform.Cases.Case(ctx, id)
		if err != nil || string(c.Status) != want || c.RepliedAt != nil || c.ExtensionReasons != "" || c.IdentityDecidedBy != "" || c.Attention != nil {
			t.Errorf("case %s after hostile input: %s, replied %v, extended %q, identity decided by %q, attention %v (%v)", id, c.Status,
				c.RepliedAt, c.ExtensionReasons, c.IdentityDecidedBy, c.Attention, err)
		}
	}
	var challenged int
	if err := s.Platform.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM identifier_challenges WHERE request_id = $1`, inReview).Scan(&challenged); err != nil || challenged != 0 {
		t.Errorf("hostile input made %d one-time codes (%v)", challenged, err)
	}
	// No workflow is left retrying a step.
	open, err := s.Platform.Temporal.ListOpenWorkflow(ctx, &workflowservice.ListOpenWorkflowExecutionsRequest{MaximumPageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	retrying := 0
	for _, e := range open.Executions {
		d, err := s.Platform.Temporal.DescribeWorkflowExecution(ctx, e.Execution.WorkflowId, e.Execution.RunId)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range d.PendingActivities {
			if a.Attempt > 1 {
				retrying++
				t.Errorf("workflow %s retries %s (attempt %d)", e.Execution.WorkflowId, a.ActivityType.GetName(), a.Attempt)
			}
		}
	}
	if attention, err := s.Platform.Cases.NeedingAttention(ctx); err != nil || attention != 0 {
		t.Errorf("%d cases need attention after hostile input (%v)", attention, err)
	}
	t.Logf("%d hostile calls to %d open workflows' platform: %d answered 5xx, %d accepted, %d workflows retrying", len(calls),
		len(open.Executions), failed, accepted, retrying)
}

func trim(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%s…", b[:200])
	}
	return string(b)
}
