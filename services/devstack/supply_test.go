package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store/challenges"
)

// TestASuppliedPhoneNumberLetsKoronavilkkuBeSearched sends Aino's access request without a phone
// number through the portal's API: Koronavilkku cannot identify her (Art 11(2)) and waits for one.
// She adds it; nothing is searched until she sends back the one-time code the number was sent (read
// from the dev mailbox, as her phone would show it). Then Koronavilkku is searched and answers, the
// reply carries its data, and the office sees the number confirmed by the code.
func TestASuppliedPhoneNumberLetsKoronavilkkuBeSearched(t *testing.T) {
	dir := t.TempDir()
	s := startStack(t, dir, &syncBuffer{})
	defer s.Stop()
	ctx := context.Background()
	aino := demo.People[0]
	token := idToken(t, s, aino.Subject)
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json",
		`{"right":"access","language":"en","contact_email":"`+aino.Email+`"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["request_id"].(string)
	waitStatus(t, s, id, "in_review")
	outcome := func(register string) (rules.Outcome, bool) {
		regs, err := s.Platform.Cases.Registers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs {
			if r.RegisterID == register {
				var plan struct {
					Outcome rules.Outcome `json:"outcome"`
				}
				_ = json.Unmarshal(r.Plan, &plan)
				return plan.Outcome, r.DispatchedAt != nil
			}
		}
		return rules.Outcome{}, false
	}
	if o, dispatched := outcome("koronavilkku"); o.Code != rules.CodeCannotIdentify || dispatched {
		t.Fatalf("koronavilkku before the supply: %s (dispatched %v), want cannot_identify", o.Code, dispatched)
	}

	supply := func(body string) (int, map[string]any) {
		return api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers", token, "application/json", body)
	}
	for _, bad := range []struct{ body, field string }{
		{`{"type":"personal_identity_code","value":"` + aino.PersonalIdentityCode + `"}`, "type"},
		{`{"type":"phone","value":"12"}`, "value"},
		{`{"type":"email","value":"not an address"}`, "value"},
		{`{"type":"email","value":"aino@example.org"}`, "type"}, // no register of the request waits for an address
	} {
		if status, p := supply(bad.body); status != http.StatusUnprocessableEntity || strings.Join(fieldsOf(p), ",") != bad.field {
			t.Errorf("%s: %d %v, want 422 naming %s", bad.body, status, p, bad.field)
		}
	}
	if status, _ := supply(`{"type":"phone","value":"040 111 0001","extra":1}`); status != http.StatusBadRequest {
		t.Errorf("an unknown field: %d, want 400", status)
	}
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers", idToken(t, s, "demo-matti"), "application/json",
		`{"type":"phone","value":"+358401110001"}`); status != http.StatusNotFound {
		t.Errorf("another person's request: %d, want 404", status)
	}
	status, res := supply(`{"type":"phone","value":"040 111 0001"}`) // Aino's number, as she would type it
	if status != http.StatusAccepted || res["status"] != "code_sent" || res["identifier_type"] != "phone" ||
		res["verify"] != "/api/v1/requests/"+id+"/identifiers/verify" {
		t.Fatalf("supply: %d %v, want 202 code_sent", status, res)
	}
	if o, dispatched := outcome("koronavilkku"); dispatched || o.Code != rules.CodeCannotIdentify {
		t.Fatalf("koronavilkku was searched before the code came back: %s (dispatched %v)", o.Code, dispatched)
	}
	code := codeSentTo(t, s, "sms", aino.Phone)

	verify := func(body string) (int, map[string]any) {
		return api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers/verify", token, "application/json", body)
	}
	for _, bad := range []struct {
		body  string
		field string
		rule  string
	}{
		{`{"code":"12"}`, "code", "format"},
		{`{"code":"` + code + `","type":"personal_identity_code"}`, "type", "oneof"},
		{`{"code":"` + code + `","type":"email"}`, "code", "none"}, // no code went to an address
	} {
		if status, p := verify(bad.body); status != http.StatusUnprocessableEntity || strings.Join(fieldsOf(p), ",") != bad.field ||
			ruleOf(p) != bad.rule {
			t.Errorf("%s: %d %v, want 422 naming %s (%s)", bad.body, status, p, bad.field, bad.rule)
		}
	}
	if status, _ := verify(`{"code":"` + code + `","extra":1}`); status != http.StatusBadRequest {
		t.Errorf("an unknown field: %d, want 400", status)
	}
	if status, _ := verify(`{"code":` + code + `}`); status != http.StatusBadRequest {
		t.Errorf("a number for the code: %d, want 400", status)
	}
	if status, _ := api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers/verify", idToken(t, s, "demo-matti"), "application/json",
		`{"code":"`+code+`"}`); status != http.StatusNotFound {
		t.Errorf("another person's request: %d, want 404", status)
	}
	if status, p := verify(`{"code":"` + wrongCode(code) + `"}`); status != http.StatusUnprocessableEntity || ruleOf(p) != "mismatch" {
		t.Errorf("a wrong code: %d %v, want 422 mismatch", status, p)
	}
	if o, dispatched := outcome("koronavilkku"); dispatched || o.Code != rules.CodeCannotIdentify {
		t.Fatalf("koronavilkku was searched after a wrong code: %s (dispatched %v)", o.Code, dispatched)
	}
	status, res = verify(`{"code":"` + code + `"}`)
	if status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, res)
	}
	if o, dispatched := outcome("koronavilkku"); !o.Dispatch || !dispatched {
		t.Fatalf("koronavilkku after the code: %s (dispatched %v), want dispatched", o.Code, dispatched)
	}
	waitStatus(t, s, id, "in_review")
	if status, p := verify(`{"code":"` + code + `"}`); status != http.StatusUnprocessableEntity || ruleOf(p) != "none" {
		t.Errorf("the used code again: %d %v, want 422 none", status, p)
	}
	if status, _ := supply(`{"type":"phone","value":"040 111 0001"}`); status != http.StatusUnprocessableEntity {
		t.Errorf("a second supply with nothing waiting: %d, want 422", status)
	}

	// The office sees the number as supplied by the subject and confirmed by the code, and approves the reply.
	c, _ := s.Platform.Cases.Case(ctx, id)
	if sup := c.SuppliedIdentifiers(); len(sup) != 1 || sup[0].Type != "phone" || sup[0].Value != aino.Phone || !sup[0].Verified ||
		sup[0].VerifiedBy != challenges.MethodOneTimeCode {
		t.Errorf("supplied identifiers on the case: %+v", sup)
	}
	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	_, body, _ := page(t, clerk, s.OfficeURL+"/cases/"+id)
	if !strings.Contains(body, `data-type="phone" data-verified="true"`) || !strings.Contains(body, `data-replanned="koronavilkku"`) {
		t.Errorf("the office's case page does not show the supplied, confirmed number:\n%s", body)
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/approve", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("approve: %d", status)
	}
	waitStatus(t, s, id, "replied")
	status, view := api(t, "GET", s.PortalURL+"/api/v1/requests/"+id, token, "", "")
	if status != http.StatusOK {
		t.Fatalf("show: %d", status)
	}
	found := false
	for _, r := range view["registers"].([]any) {
		reg := r.(map[string]any)
		if reg["register_id"] == "koronavilkku" {
			found = reg["outcome"] == string(rules.CodeGranted) && reg["records"].(float64) == 2
		}
	}
	if !found {
		t.Errorf("the reply does not give Koronavilkku's two records: %v", view["registers"])
	}
	if status, _ := supply(`{"type":"phone","value":"+358401110001"}`); status != http.StatusConflict {
		t.Errorf("a supply after the reply: %d, want 409", status)
	}

	trail, _ := s.Platform.Record.Trail(ctx, id)
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"information_requested", "identifier_code_sent", "identifier_verified", "identifier_supplied", "replanned", "replied"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("the record lacks %q: %v", want, actions)
		}
	}
	var kinds []string
	rows, err := s.Platform.DB.Pool.Query(ctx, `SELECT kind FROM outbox WHERE request_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		kinds = append(kinds, k)
	}
	rows.Close()
	if strings.Join(kinds, ",") != "request_received,information_needed,identifier_code,reply_ready" {
		t.Errorf("notices to the subject: %v, want request_received, information_needed, identifier_code, reply_ready", kinds)
	}
	history := rawHistory(t, s, id)
	assertNoPersonalData(t, history, aino.Phone, aino.PersonalIdentityCode, aino.Email,
		contracts.Normalize(contracts.IdentifierPhone, "040 111 0001"))
	saveForReplay(t, s, dir, history)
}
