package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/rules/deadline"
	"kirjaamo.dev/services/auth/devidp/devidptest"
	"kirjaamo.dev/services/office"
)

// officeToken signs a staff member in to the office's client through the authorization-code flow
// with PKCE, and returns the ID token, for calling the office's JSON API.
func officeToken(t *testing.T, s *Stack, subject string) string {
	t.Helper()
	cfg := oauth2.Config{ClientID: "kirjaamo-office", ClientSecret: s.OfficeClientSecret, RedirectURL: s.OfficeURL + office.CallbackPath,
		Scopes: []string{"openid", "profile"}, Endpoint: oauth2.Endpoint{AuthURL: s.IDPURL + "/authorize", TokenURL: s.IDPURL + "/token"}}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(randomSecret(), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", randomSecret()))
	back, err := devidptest.ChoosePerson(context.Background(), browser(t), authURL, subject)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the token response has no ID token")
	}
	return raw
}

// TestARequestByPostWaitsForTheClerkToVerifyTheIdentity registers Matti's access request, received
// by post three days ago, through the office API: it waits for identity with its deadline counted
// from receipt, and no register is sent anything. The clerk verifies the identity on the case page,
// the registers answer and the case is in review; the clerk approves the reply. A second letter, whose
// sender's identity cannot be established, is refused and the sender told why. Bad input gets
// field-level 4xx, and neither Matti's identity code nor his name is in the Temporal history in clear.
func TestARequestByPostWaitsForTheClerkToVerifyTheIdentity(t *testing.T) {
	s, logs, dir := sharedStack(t), shared.logs, shared.dir
	ctx := context.Background()
	matti := demo.People[1]
	token := officeToken(t, s, "staff-kaisa")

	// Bad input: each bad field is named.
	status, problem := api(t, "POST", s.OfficeURL+"/api/v1/cases", token, "application/json",
		`{"right":"access","language":"fi","name":"","personal_identity_code":"020794-9028","channel":"fax","received_on":"2999-01-01","contact_email":"nope"}`)
	fields := fieldsOf(problem)
	if status != http.StatusUnprocessableEntity {
		t.Errorf("bad registration: %d, want 422", status)
	}
	for _, want := range []string{"name", "personal_identity_code", "channel", "received_on", "contact_email"} {
		if !slices.Contains(fields, want) {
			t.Errorf("bad registration: the problem does not name %s: %v", want, fields)
		}
	}
	long := time.Now().AddDate(0, 0, -40).Format(time.DateOnly)
	if status, problem := api(t, "POST", s.OfficeURL+"/api/v1/cases", token, "application/json",
		`{"right":"access","language":"fi","name":"Matti Korhonen","personal_identity_code":"`+matti.PersonalIdentityCode+`","channel":"mail","received_on":"`+long+`"}`); status != http.StatusUnprocessableEntity ||
		!slices.Contains(fieldsOf(problem), "received_on") {
		t.Errorf("received 40 days ago: %d %v, want 422 naming received_on", status, problem)
	}
	if status, _ := api(t, "POST", s.OfficeURL+"/api/v1/cases", officeToken(t, s, "staff-auli"), "application/json",
		`{"right":"access","language":"fi","name":"Matti Korhonen","personal_identity_code":"`+matti.PersonalIdentityCode+`","channel":"mail"}`); status != http.StatusForbidden {
		t.Errorf("an auditor registers a request: %d, want 403", status)
	}

	// Matti's letter, received today. (The demo registers' declarations came into force when the
	// stack started, so a letter dated earlier would find none in force at receipt.)
	receivedOn := deadline.Date(time.Now())
	body, _ := json.Marshal(map[string]any{"idempotency_key": "0195d5c8-8d3e-7c1a-9f00-00000000e1e1", "right": "access", "language": "en",
		"name": matti.Name(), "personal_identity_code": strings.ToLower(matti.PersonalIdentityCode), "contact_email": matti.Email,
		"details": "Please send me what you hold on me.", "channel": "mail"})
	status, created := api(t, "POST", s.OfficeURL+"/api/v1/cases", token, "application/json", string(body))
	if status != http.StatusAccepted {
		t.Fatalf("register: %d %v", status, created)
	}
	id := created["request_id"].(string)
	c := waitStatus(t, s, id, "awaiting_identity")
	if c.IdentityLevel != "unverified" || c.IdentityMethod != "" || c.Channel != "mail" || !strings.Contains(c.RegisteredBy, "Kaisa Kirjaaja") {
		t.Errorf("the registered case is %+v", c)
	}
	if got := deadline.Date(c.ReceivedAt); !got.Equal(receivedOn) {
		t.Errorf("received %v, want the day the letter came, %v", got, receivedOn)
	}
	if want := deadline.Compute(receivedOn).Legal; !deadline.Date(c.Deadline).Equal(want) {
		t.Errorf("deadline %v, want one month from receipt, %v", c.Deadline, want)
	}
	var ids []map[string]string
	if err := json.Unmarshal(c.Identifiers, &ids); err != nil || len(ids) != 1 || ids[0]["value"] != matti.PersonalIdentityCode {
		t.Errorf("the subject's identifiers are %s, want only the stated identity code", c.Identifiers)
	}
	time.Sleep(2 * time.Second) // time enough for a task to go out, if one were going to
	if regs, err := s.Platform.Cases.Registers(ctx, id); err != nil || len(regs) != 0 {
		t.Fatalf("awaiting identity, the case has %d registers planned (%v): nothing may be planned or sent", len(regs), err)
	}
	if c, _ := s.Platform.Cases.Case(ctx, id); c.Status != "awaiting_identity" {
		t.Fatalf("the case moved on to %s without a verified identity", c.Status)
	}

	// Through the office API, a decision without what it needs names the field, and an auditor may
	// not decide.
	if status, problem := api(t, "POST", s.OfficeURL+"/api/v1/cases/"+id+"/verify-identity"+handling, token, "application/json", `{"note":"x"}`); status != http.StatusUnprocessableEntity ||
		strings.Join(fieldsOf(problem), ",") != "method" {
		t.Errorf("API verification without a method: %d %v, want 422 naming method", status, problem)
	}
	if status, problem := api(t, "POST", s.OfficeURL+"/api/v1/cases/"+id+"/refuse-identity"+handling, token, "application/json", `{}`); status != http.StatusUnprocessableEntity ||
		strings.Join(fieldsOf(problem), ",") != "reasons" {
		t.Errorf("API refusal without reasons: %d %v, want 422 naming reasons", status, problem)
	}
	if status, _ := api(t, "POST", s.OfficeURL+"/api/v1/cases/"+id+"/verify-identity?purpose=audit", officeToken(t, s, "staff-auli"), "application/json",
		`{"method":"passport"}`); status != http.StatusForbidden {
		t.Errorf("an auditor verifies an identity: %d, want 403", status)
	}

	// The clerk opens the case and verifies the identity on the page.
	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	_, casePage, _ := page(t, clerk, s.OfficeURL+"/cases/"+id)
	for _, want := range []string{`id="verify-identity"`, `id="refuse-identity"`, "Awaiting identity"} {
		if !strings.Contains(casePage, want) {
			t.Errorf("the case page awaiting identity lacks %s", want)
		}
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/verify-identity", url.Values{"csrf": {csrf}, "method": {" "}}); status != http.StatusUnprocessableEntity {
		t.Errorf("verification without a method: %d, want 422", status)
	}
	const method = "passport checked at the service point"
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/verify-identity", url.Values{"csrf": {csrf}, "method": {method}}); status != http.StatusSeeOther {
		t.Fatalf("verify: %d", status)
	}
	c = waitStatus(t, s, id, "in_review")
	if c.IdentityLevel != "verified" || c.IdentityMethod != method || !strings.Contains(c.IdentityDecidedBy, "Kaisa Kirjaaja") || c.IdentityDecidedAt == nil {
		t.Errorf("after verification the case is %+v", c)
	}
	regs, err := s.Platform.Cases.Registers(ctx, id)
	answered := 0
	for _, r := range regs {
		if r.ResultStatus != "" {
			answered++
		}
	}
	if err != nil || answered == 0 {
		t.Errorf("after verification %d of %d registers answered (%v)", answered, len(regs), err)
	}
	_, casePage, _ = page(t, clerk, s.OfficeURL+"/cases/"+id)
	if !strings.Contains(casePage, `id="identity-verified"`) || !strings.Contains(casePage, method) || strings.Contains(casePage, `id="verify-identity"`) {
		t.Errorf("the case page does not show how the identity was verified, or still offers the forms")
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/cases/"+id+"/refuse-identity", url.Values{"csrf": {csrf}, "reasons": {"too late"}}); status != http.StatusSeeOther {
		t.Errorf("a refusal after verification: %d", status)
	} else if _, p, _ := page(t, clerk, s.OfficeURL+"/cases/"+id); !strings.Contains(p, "Not done:") {
		t.Error("a refusal after verification was not refused")
	}
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/approve", url.Values{"csrf": {csrf}})
	waitStatus(t, s, id, "replied")
	trail, _ := s.Platform.Record.Trail(ctx, id)
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
		if e.Action == "received" && !strings.Contains(e.Actor, "Kaisa Kirjaaja") {
			t.Errorf("the record names %q as receiving the letter, want the clerk who registered it", e.Actor)
		}
	}
	for _, want := range []string{"received", "identity_verified", "in_review", "replied"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the record lacks %s: %v", want, actions)
		}
	}
	// Signed in with the identity code the clerk verified, Matti reads the reply to his letter in the
	// portal; to anyone else the case does not exist.
	own := browser(t)
	signIn(t, own, s.PortalURL, "/en/login", matti.Subject)
	if _, list, _ := page(t, own, s.PortalURL+"/en/requests"); !strings.Contains(list, id) {
		t.Error("Matti's list of requests lacks the one he sent by post")
	}
	if status, _, _ := page(t, own, s.PortalURL+"/en/requests/"+id); status != http.StatusOK {
		t.Errorf("Matti's case page of his letter: %d", status)
	}
	aino := browser(t)
	signIn(t, aino, s.PortalURL, "/en/login", demo.People[0].Subject)
	if status, _, _ := page(t, aino, s.PortalURL+"/en/requests/"+id); status != http.StatusNotFound {
		t.Errorf("Aino sees Matti's letter: %d", status)
	}

	// A second request, made at a service point five days ago, whose maker cannot be identified:
	// refused, and told why.
	fiveDaysAgo := deadline.Date(time.Now()).AddDate(0, 0, -5)
	body, _ = json.Marshal(map[string]any{"right": "erasure", "language": "en", "name": "Liisa Mäkinen",
		"personal_identity_code": demo.People[2].PersonalIdentityCode, "contact_email": "someone@example.org", "channel": "service_point",
		"received_on": fiveDaysAgo.Format(time.DateOnly)})
	status, created = api(t, "POST", s.OfficeURL+"/api/v1/cases", token, "application/json", string(body))
	if status != http.StatusAccepted {
		t.Fatalf("register the second: %d %v", status, created)
	}
	other := created["request_id"].(string)
	c = waitStatus(t, s, other, "awaiting_identity")
	if want := deadline.Compute(fiveDaysAgo).Legal; !deadline.Date(c.ReceivedAt).Equal(fiveDaysAgo) || !deadline.Date(c.Deadline).Equal(want) {
		t.Errorf("received %v with deadline %v, want received %v and the deadline one month from it, %v", c.ReceivedAt, c.Deadline, fiveDaysAgo, want)
	}
	_, _, csrf = page(t, clerk, s.OfficeURL+"/cases/"+other)
	post(t, clerk, s.OfficeURL+"/cases/"+other+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	const reasons = "The visitor had no identity document and did not answer our letter asking for one."
	// This one is refused through the office API.
	if status, answer := api(t, "POST", s.OfficeURL+"/api/v1/cases/"+other+"/refuse-identity"+handling, token, "application/json",
		`{"reasons":"`+reasons+`"}`); status != http.StatusOK || answer["status"] != "identity_not_verified" {
		t.Fatalf("refuse: %d %v", status, answer)
	}
	c = waitStatus(t, s, other, "identity_not_verified")
	if c.IdentityRefusal != reasons {
		t.Errorf("the refused case keeps the reasons %q", c.IdentityRefusal)
	}
	if regs, _ := s.Platform.Cases.Registers(ctx, other); len(regs) != 0 {
		t.Errorf("a refused request planned %d registers", len(regs))
	}
	told := false
	for end := time.Now().Add(30 * time.Second); !told && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		msgs, _ := s.Platform.Outbox.Mailbox(ctx, 20)
		for _, m := range msgs {
			told = told || (m.Recipient == "someone@example.org" && strings.Contains(m.Body, reasons) && strings.Contains(m.Body, "complaint"))
		}
	}
	if !told {
		t.Error("the sender was not told the reasons and the right to complain")
	}

	for _, secret := range []string{matti.PersonalIdentityCode, matti.Name(), matti.Email} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds personal data: %q", secret)
		}
	}
	history := rawHistory(t, s, id)
	assertNoPersonalData(t, history, matti.PersonalIdentityCode, strings.ToLower(matti.PersonalIdentityCode), matti.Name(), matti.FamilyName, matti.Email)
	saveForReplay(t, s, dir, history)
}
