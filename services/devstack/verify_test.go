package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/store/challenges"
)

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

// codeSentTo waits for the dev notifier to deliver a one-time code to a recipient by a channel
// ("sms" or "email") and returns it, as the person would read it on their phone.
func codeSentTo(t *testing.T, s *Stack, channel, recipient string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, err := s.Platform.Outbox.Mailbox(context.Background(), 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs { // newest first
			if m.Channel == channel && m.Recipient == recipient {
				if code := sixDigits.FindString(m.Body); code != "" {
					return code
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code by %s reached the dev mailbox", channel)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// ruleOf is the rule of a problem document's first field error.
func ruleOf(problem map[string]any) string {
	errs, _ := problem["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	m, _ := errs[0].(map[string]any)
	r, _ := m["rule"].(string)
	return r
}

// registerSearched reports whether a task went to the register for the request, and the rules'
// outcome for it.
func registerSearched(t *testing.T, s *Stack, id, register string) (rules.OutcomeCode, bool) {
	t.Helper()
	regs, err := s.Platform.Cases.Registers(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regs {
		if r.RegisterID == register {
			var plan struct {
				Outcome rules.Outcome `json:"outcome"`
			}
			_ = json.Unmarshal(r.Plan, &plan)
			return plan.Outcome.Code, r.DispatchedAt != nil
		}
	}
	return "", false
}

// TestAPhoneGivenWithTheRequestWaitsForItsCode: a phone number given with the request, through the
// API or the form, is not used when the request starts; the subject is asked for the code sent to
// it. Wrong codes dispatch nothing, and the fifth spends the challenge, after which even the right
// code is refused. Through the form, the case page asks for the code right after the submission,
// and the right code has Koronavilkku searched.
func TestAPhoneGivenWithTheRequestWaitsForItsCode(t *testing.T) {
	s := startStack(t, t.TempDir(), &syncBuffer{})
	defer s.Stop()
	ctx := context.Background()
	aino := demo.People[0]
	token := idToken(t, s, aino.Subject)
	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", token, "application/json",
		`{"right":"access","language":"en","phone":"040 111 0001","idempotency_key":"0195d5c8-8d3e-7c1a-9f00-0000000c0de1"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["request_id"].(string)
	ver, _ := created["identifier_verification"].(map[string]any)
	if ver["status"] != "code_sent" || ver["identifier_type"] != "phone" || ver["verify"] != "/api/v1/requests/"+id+"/identifiers/verify" {
		t.Fatalf("the submission does not ask for the phone's code: %v", created)
	}
	c := waitStatus(t, s, id, "in_review")
	if strings.Contains(string(c.Identifiers), aino.Phone) {
		t.Errorf("the request started with the unconfirmed phone number: %s", c.Identifiers)
	}
	if code, searched := registerSearched(t, s, id, "koronavilkku"); searched || code != rules.CodeCannotIdentify {
		t.Fatalf("koronavilkku before the code: %s (searched %v), want cannot_identify", code, searched)
	}
	code := codeSentTo(t, s, "sms", aino.Phone)
	verify := func(code string) (int, map[string]any) {
		return api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers/verify", token, "application/json", `{"code":"`+code+`"}`)
	}
	for i := 1; i <= challenges.ChallengeAttempts; i++ {
		status, p := verify(wrongCode(code))
		want := "mismatch"
		if i == challenges.ChallengeAttempts {
			want = "spent"
		}
		if status != http.StatusUnprocessableEntity || strings.Join(fieldsOf(p), ",") != "code" || ruleOf(p) != want {
			t.Fatalf("wrong code %d: %d %v, want 422 on code (%s)", i, status, p, want)
		}
	}
	if status, p := verify(code); status != http.StatusUnprocessableEntity || ruleOf(p) != "none" {
		t.Errorf("the right code after the challenge was spent: %d %v, want 422 none", status, p)
	}
	if code, searched := registerSearched(t, s, id, "koronavilkku"); searched || code != rules.CodeCannotIdentify {
		t.Errorf("koronavilkku after wrong codes: %s (searched %v), want not searched", code, searched)
	}
	c, _ = s.Platform.Cases.Case(ctx, id)
	if sup := c.SuppliedIdentifiers(); len(sup) != 0 || c.Status != "in_review" {
		t.Errorf("wrong codes changed the case: %s, supplied %+v", c.Status, sup)
	}
	trail, _ := s.Platform.Record.Trail(ctx, id)
	var actions []string
	for _, e := range trail {
		actions = append(actions, e.Action)
	}
	if joined := strings.Join(actions, " "); !strings.Contains(joined, "identifier_code_spent") || strings.Contains(joined, "identifier_supplied") {
		t.Errorf("the record after five wrong codes: %v", actions)
	}
	// New codes may be asked for, but not without end: the number typed may be a stranger's.
	for i := 2; ; i++ { // the submission's was the first
		status, p := api(t, "POST", s.PortalURL+"/api/v1/requests/"+id+"/identifiers", token, "application/json",
			`{"type":"phone","value":"`+aino.Phone+`"}`)
		if i <= challenges.ChallengesPerDay && status != http.StatusAccepted {
			t.Fatalf("code %d: %d %v", i, status, p)
		}
		if i > challenges.ChallengesPerDay {
			if status != http.StatusTooManyRequests || strings.Join(fieldsOf(p), ",") != "value" || ruleOf(p) != "rate" {
				t.Errorf("code %d in a day: %d %v, want 429 on value (rate)", i, status, p)
			}
			break
		}
	}

	// Through the form: Matti gives his phone number with the request.
	matti := demo.People[1]
	citizen := browser(t)
	signIn(t, citizen, s.PortalURL, "/en/login", matti.Subject)
	_, _, csrf := page(t, citizen, s.PortalURL+"/en/requests/new")
	resp, err := citizen.PostForm(s.PortalURL+"/en/requests", url.Values{"csrf": {csrf}, "right": {"access"},
		"idempotency_key": {"0195d5c8-8d3e-7c1a-9f00-0000000c0de2"}, "phone": {matti.Phone}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	where := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(where, "/en/requests/") {
		t.Fatalf("submit through the form: %d to %q", resp.StatusCode, where)
	}
	mattiID := strings.TrimPrefix(where, "/en/requests/")
	// Right after the submission, whether or not the case is recorded yet, the page asks for the code.
	_, body, _ := page(t, citizen, s.PortalURL+where)
	if !strings.Contains(body, `id="code-phone"`) || !strings.Contains(body, `id="notice"`) {
		t.Fatalf("the page after the submission does not ask for the code:\n%s", body)
	}
	waitStatus(t, s, mattiID, "in_review")
	_, body, csrf = page(t, citizen, s.PortalURL+where)
	if !strings.Contains(body, `id="code-phone"`) {
		t.Fatalf("the case page does not ask for the code:\n%s", body)
	}
	mattiCode := codeSentTo(t, s, "sms", matti.Phone)
	status, body = post(t, citizen, s.PortalURL+where+"/identifiers/verify", url.Values{"csrf": {csrf}, "type": {"phone"}, "code": {wrongCode(mattiCode)}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error-code"`) {
		t.Errorf("a wrong code through the form: %d, error shown %v", status, strings.Contains(body, `id="error-code"`))
	}
	if _, searched := registerSearched(t, s, mattiID, "koronavilkku"); searched {
		t.Error("koronavilkku was searched after a wrong code through the form")
	}
	if status, _ := post(t, citizen, s.PortalURL+where+"/identifiers/verify", url.Values{"csrf": {csrf}, "type": {"phone"}, "code": {mattiCode}}); status != http.StatusSeeOther {
		t.Fatalf("the right code through the form: %d, want 303", status)
	}
	if code, searched := registerSearched(t, s, mattiID, "koronavilkku"); !searched {
		t.Errorf("koronavilkku after the right code: %s, not searched", code)
	}
	_, body, _ = page(t, citizen, s.PortalURL+where)
	if strings.Contains(body, `id="code-phone"`) || !strings.Contains(body, `id="notice"`) {
		t.Errorf("after the right code the page still asks for it, or says nothing:\n%s", body)
	}
	k, _ := s.Platform.Cases.Case(ctx, mattiID)
	if sup := k.SuppliedIdentifiers(); len(sup) != 1 || !sup[0].Verified || sup[0].Channel != "web" {
		t.Errorf("Matti's confirmed number on the case: %+v", sup)
	}
}
