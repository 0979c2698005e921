package devstack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/apiclient"
	"kirjaamo.dev/services/internal/store/record"
)

// TestAnErasureReachesTheAnalyticsVendorAndItsSignedCallbackAnswers: Aino's erasure request reaches
// the Kela web analytics vendor, an external processor, over OpenDSR: her address goes as its
// SHA-256, the vendor's signed receipt is in the record, and its signed callback completes the
// register's answer, the vendor's events on her erased. A tampered callback is refused and shows in
// the record, in the vendor register's name.
func TestAnErasureReachesTheAnalyticsVendorAndItsSignedCallbackAnswers(t *testing.T) {
	s := sharedStack(t)
	aino := demo.People[0]
	if s.Vendor.Holds(aino.Email) == 0 {
		t.Skip("the shared stack's vendor has already erased Aino's events")
	}
	c := portalClient(t, s, aino.Subject)
	key := uuid.New()
	res, err := c.SubmitRequestWithResponse(t.Context(), apiclient.SubmitRequest{Right: apiclient.RightErasure, Language: apiclient.SubmitRequestLanguageFi,
		IdempotencyKey: &key})
	if err != nil || res.JSON202 == nil {
		t.Fatalf("submit: %v %s", err, res.Body)
	}
	id := res.JSON202.RequestId.String()
	deadline := time.Now().Add(60 * time.Second)
	var answer string
	for time.Now().Before(deadline) {
		regs, _ := s.Platform.Cases.Registers(t.Context(), id)
		for _, r := range regs {
			if r.RegisterID == VendorRegisterID && len(r.Result) > 0 {
				var res contracts.Result
				_ = json.Unmarshal(r.Result, &res)
				answer = string(res.Status)
			}
		}
		if answer != "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if answer != string(contracts.StatusApplied) || s.Vendor.Holds(aino.Email) != 0 {
		t.Fatalf("the vendor's answer %q, and it holds %d events on Aino; want applied and none", answer, s.Vendor.Holds(aino.Email))
	}
	trail, err := s.Platform.Record.Trail(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(trail, func(e record.Entry) bool {
		return e.Action == string(contracts.EventForwarded) && e.Actor == "register "+VendorRegisterID && e.Detail["receipt_signature"] == "verified"
	}) {
		t.Errorf("the record holds no verified receipt of the vendor: %+v", trail)
	}

	// A callback that claims the vendor's word, tampered with after signing, is refused.
	count := 0
	body, _ := json.Marshal(opendsr.Callback{ControllerID: "kela", StatusCallbackURL: s.VendorCallback, SubjectRequestID: uuid.NewString(),
		RequestStatus: opendsr.StatusCompleted, ResultsCount: &count, ExpectedCompletionTime: time.Now()})
	sig := s.Vendor.Sign(body)
	tampered := bytes.Replace(body, []byte(`"completed"`), []byte(`"cancelled"`), 1)
	req, _ := http.NewRequest(http.MethodPost, s.VendorCallback, bytes.NewReader(tampered))
	req.Header.Set(opendsr.HeaderProcessorDomain, vendorDomain)
	req.Header.Set(opendsr.HeaderSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a tampered callback was answered %d, want 403", resp.StatusCode)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		var n int
		err := s.Platform.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE action = $1 AND actor = $2 AND at > now() - interval '1 minute'`,
			string(contracts.EventCallbackRefused), "register "+VendorRegisterID).Scan(&n)
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refused callback is not in the record (%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
