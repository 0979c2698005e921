package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/portal"
	"kirjaamo.dev/workflows/request"
)

// TestErasureOutcomesThroughThePlatform runs an erasure request for Aino, who gives no phone number,
// through the whole platform and checks each register's outcome and the effect in its table.
func TestErasureOutcomesThroughThePlatform(t *testing.T) {
	// A stack of its own: the erasure is Aino's, whose clinic data other tests on the shared stack
	// may already have erased, and the clinic must apply it here.
	s := startStack(t, t.TempDir(), &syncBuffer{})
	defer s.Stop()
	ctx := context.Background()

	aino := demo.People[0]
	id := "0195d5c8-8d3e-7c1a-9f00-00000000e2e2"
	in := request.Input{RequestID: id, ReceivedAt: time.Now().UTC(), Channel: "web",
		Request: contracts.SubmitRequest{Right: contracts.RightErasure, Language: "fi"},
		Subject: portal.SubjectOf(&oidclogin.Identity{Subject: aino.Subject, Name: aino.Name(), Email: aino.Email,
			PersonalIdentityCode: aino.PersonalIdentityCode, ACR: "http://ftn.ficora.fi/2017/loa3"})}
	if err := s.Platform.Requests.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, id, "in_review")
	regs, err := s.Platform.Cases.Registers(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	inForce, _ := s.Platform.Declarations.VersionsInForce(ctx, in.ReceivedAt)
	digests := map[string]string{}
	for _, v := range inForce {
		digests[v.RegisterID] = v.Digest
	}
	outcomes := map[string]rules.Outcome{}
	for _, r := range regs {
		var o rules.Outcome
		if err := json.Unmarshal(r.Outcome, &o); err != nil {
			t.Fatalf("%s: %v", r.RegisterID, err)
		}
		outcomes[r.RegisterID] = o
		if r.DeclarationDigest != digests[r.RegisterID] {
			t.Errorf("%s: the case records declaration %s, want the one in force at receipt, %s", r.RegisterID, r.DeclarationDigest, digests[r.RegisterID])
		}
	}
	cites := func(o rules.Outcome, ref string) bool {
		for _, c := range o.Citations {
			if strings.Contains(c.Ref, ref) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		register string
		code     rules.OutcomeCode
		cite     string
		notice   bool
	}{
		{"kanta-client-register", rules.CodeNotApplicable, "17(3)(b)", true},
		{"koronavilkku", rules.CodeCannotIdentify, "11(2)", true},
		{"clinic-event-invitations", rules.CodeApplied, "17", false},
		{"kela-web-statistics", rules.CodeNoPersonalData, "Recital 26", true},
	} {
		o := outcomes[want.register]
		if o.Code != want.code || !cites(o, want.cite) || o.NoticeDue != want.notice || o.Explanation.FI == "" {
			t.Errorf("%s: %s citing %v (notice %v), want %s citing %s (notice %v) with an explanation",
				want.register, o.Code, o.Citations, o.NoticeDue, want.code, want.cite, want.notice)
		}
	}
	var left int
	registers := openRegisters(t, s)
	hash := contracts.HashSHA256(contracts.IdentifierEmail, aino.Email)
	if err := registers.QueryRow(ctx, `SELECT count(*) FROM clinic.invitations WHERE email_sha256 = $1`, hash).Scan(&left); err != nil || left != 0 {
		t.Errorf("the clinic still holds %d invitations for Aino's address (%v)", left, err)
	}
}

// TestTheCatalogueRefusesAndTheDPOApproves announces declarations as a register owner would.
func TestTheCatalogueRefusesAndTheDPOApproves(t *testing.T) {
	s := sharedStack(t)
	nc, err := nats.Connect(s.NATSURL, nats.UserCredentials(s.NATSCredentials))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	announce := func(d contracts.Declaration) contracts.AnnounceReply {
		t.Helper()
		data, _ := json.Marshal(contracts.Announcement{Protocol: contracts.AnnounceProtocol, Declaration: d,
			Capabilities: d.Operations, Instance: "test"})
		msg, err := nc.Request(contracts.AnnounceSubject(d.RegisterID), data, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var reply contracts.AnnounceReply
		if err := json.Unmarshal(msg.Data, &reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}

	clinic, _ := demo.Declaration("clinic-event-invitations")
	clinic.Identification = contracts.Identification{Level: contracts.RegisterUnlinkable,
		Reason: &contracts.Text{FI: "Tiivisteet", SV: "Hashvärden", EN: "Only hashes are stored"}}
	clinic.Version = "2"
	reply := announce(clinic)
	if reply.Accepted || reply.Error == nil || reply.Error.Code != contracts.ErrDeclarationRefused {
		t.Fatalf("Art 11 on hashed identifiers: %+v, want refused", reply)
	}
	var why string
	for _, f := range reply.Error.Fields {
		if f.Field == "declaration.identification.level" {
			why = f.Message
		}
	}
	if !strings.Contains(why, "IMY") || !strings.Contains(why, "sha256") {
		t.Errorf("the refusal does not say why: %+v", reply.Error.Fields)
	}

	stats, _ := demo.Declaration("kela-web-statistics")
	stats.Version = "2"
	stats.Description.EN += " Counted per hour since 2026."
	if reply := announce(stats); !reply.Accepted || reply.Status != contracts.DeclarationPendingApproval {
		t.Fatalf("a changed version: %+v, want accepted and pending approval", reply)
	}

	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, body, csrf := page(t, clerk, s.OfficeURL+"/registers/kela-web-statistics")
	if !strings.Contains(body, `data-status="pending approval"`) || !strings.Contains(body, "&#43;   &#34;version&#34;: &#34;2&#34;") {
		t.Fatalf("the register page does not show the pending version and its change:\n%s", body)
	}
	if status, _ := post(t, clerk, s.OfficeURL+"/registers/kela-web-statistics/approve", url.Values{"csrf": {csrf}, "digest": {stats.Digest()}}); status != http.StatusForbidden {
		t.Errorf("a clerk approving register rules: %d, want 403", status)
	}
	dpo := browser(t)
	signIn(t, dpo, s.OfficeURL, "/login", "staff-tuomas")
	_, _, csrf = page(t, dpo, s.OfficeURL+"/registers/kela-web-statistics")
	if status, _ := post(t, dpo, s.OfficeURL+"/registers/kela-web-statistics/approve", url.Values{"csrf": {csrf}, "digest": {"sha256:nope"}}); status != http.StatusUnprocessableEntity {
		t.Errorf("approving a malformed digest: %d, want 422", status)
	}
	if status, _ := post(t, dpo, s.OfficeURL+"/registers/kela-web-statistics/approve", url.Values{"csrf": {csrf}, "digest": {"sha256:" + strings.Repeat("0", 64)}}); status != http.StatusNotFound {
		t.Errorf("approving an unknown version: %d, want 404", status)
	}
	if status, _ := post(t, dpo, s.OfficeURL+"/registers/kela-web-statistics/approve", url.Values{"csrf": {csrf}, "digest": {stats.Digest()}}); status != http.StatusSeeOther {
		t.Fatalf("the DPO's approval: %d", status)
	}
	inForce, _ := s.Platform.Declarations.VersionsInForce(context.Background(), time.Now())
	for _, v := range inForce {
		if v.RegisterID == "kela-web-statistics" && (v.Version != "2" || !strings.Contains(v.ApprovedBy, "Tuomas")) {
			t.Errorf("in force after approval: version %s approved by %q", v.Version, v.ApprovedBy)
		}
	}
	_, body, _ = page(t, dpo, s.OfficeURL+"/registers")
	if strings.Count(body, ">available<") != 6 {
		t.Errorf("the six demo registers are not all shown as available:\n%s", body)
	}
}
