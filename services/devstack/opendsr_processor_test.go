package devstack

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	wire "kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/services/opendsr"
	"kirjaamo.dev/workflows/request"
)

// scriptedController is a controller as the specification describes one: it reads the platform's
// discovery, checks the certificate it names against the CA it trusts, for the platform's domain,
// and verifies every answer and callback with it before it reads them (specification 8.8).
type scriptedController struct {
	t     *testing.T
	base  string
	token string
	cert  *x509.Certificate

	mu        sync.Mutex
	callbacks []wire.Callback
	refused   int
}

func newScriptedController(t *testing.T, ep OpenDSREndpoint) *scriptedController {
	t.Helper()
	c := &scriptedController{t: t, base: ep.URL + opendsr.Base, token: ep.Token}
	var d wire.Discovery
	c.get(c.base+wire.PathDiscovery, &d)
	if !d.Supports(wire.TypeErasure) || !d.Takes(wire.IdentityEmail, wire.FormatRaw) {
		t.Fatalf("discovery %+v", d)
	}
	resp, err := http.Get(d.ProcessorCertificate)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	chain, err := wire.ParseCertificates(pem)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ep.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if c.cert, err = wire.CheckCertificate(chain, roots, openDSRDomain, time.Now()); err != nil {
		t.Fatalf("the platform's certificate: %v", err)
	}
	return c
}

func (c *scriptedController) get(u string, v any) {
	c.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		c.t.Fatal(err)
	}
}

// call sends a request with the controller's token and returns the answer's status and body,
// failing unless the body is signed by the platform's certificate for its domain.
func (c *scriptedController) call(method, u string, body []byte, token string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 == 2 {
		if resp.Header.Get(wire.HeaderProcessorDomain) != openDSRDomain || wire.Verify(c.cert, data, resp.Header.Get(wire.HeaderSignature)) != nil {
			c.t.Errorf("%s %s: the answer is not signed by the platform for %s", method, u, openDSRDomain)
		}
	}
	return resp.StatusCode, data
}

// callback is the controller's callback endpoint: a callback whose signature does not verify is
// refused with 403 before its body is read, as the specification asks.
func (c *scriptedController) callback(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get(wire.HeaderProcessorDomain) != openDSRDomain || wire.Verify(c.cert, body, r.Header.Get(wire.HeaderSignature)) != nil {
		c.mu.Lock()
		c.refused++
		c.mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var cb wire.Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.callbacks = append(c.callbacks, cb)
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (c *scriptedController) statuses(id string) []wire.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wire.Status
	for _, cb := range c.callbacks {
		if cb.SubjectRequestID == id {
			out = append(out, cb.RequestStatus)
		}
	}
	return out
}

// waitFor waits until the controller has been told of status.
func (c *scriptedController) waitFor(id string, status wire.Status) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !slices.Contains(c.statuses(id), status) {
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s callback; callbacks %v", status, c.statuses(id))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAControllerSendsARequestToThePlatformOverOpenDSR plays a controller against the running
// platform: a request it sends is received as a request of the api channel with the controller as
// requester, on the case and the record, with the deadline of any request; its status comes back
// signed in answers and callbacks; cancelling it withdraws the request; a call without the
// controller's token is refused.
func TestAControllerSendsARequestToThePlatformOverOpenDSR(t *testing.T) {
	s := sharedStack(t)
	ctrl := newScriptedController(t, s.OpenDSR)
	cbSrv := httptest.NewServer(http.HandlerFunc(ctrl.callback))
	defer cbSrv.Close()

	id := uuid.NewString()
	body, _ := json.Marshal(wire.Request{SubjectRequestID: id, Regulation: "gdpr", SubjectRequestType: wire.TypeAccess,
		SubmittedTime: time.Now().UTC().Truncate(time.Second), APIVersion: wire.APIVersion, StatusCallbackURLs: []string{cbSrv.URL + "/opengdpr_callbacks"},
		SubjectIdentities: []wire.Identity{{Type: wire.IdentityEmail, Format: wire.FormatRaw, Value: "opendsr." + id[:8] + "@example.com"}}})
	requests := ctrl.base + wire.PathRequests

	if status, _ := ctrl.call(http.MethodPost, requests, body, "not-the-token"); status != http.StatusUnauthorized {
		t.Fatalf("a request with a wrong token: %d, want 401", status)
	}
	status, data := ctrl.call(http.MethodPost, requests, body, ctrl.token)
	if status != http.StatusCreated {
		t.Fatalf("%d %s", status, data)
	}
	var rc wire.Receipt
	if err := json.Unmarshal(data, &rc); err != nil || rc.SubjectRequestID != id || rc.ControllerID != DemoControllerID {
		t.Fatalf("receipt %+v, %v", rc, err)
	}
	ctrl.waitFor(id, wire.StatusInProgress)

	// The platform has it as any other request, with the controller named.
	kept, err := s.Platform.OpenDSR.Find(t.Context(), DemoControllerID, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Platform.Cases.Case(t.Context(), kept.RequestID)
	if err != nil || c.Channel != request.ChannelAPI || c.Requester != DemoControllerName {
		t.Fatalf("case %+v, %v", c, err)
	}
	if !rc.ExpectedCompletionTime.Equal(request.ReceiptOf(rc.ReceivedTime).Deadline) {
		t.Errorf("expected_completion_time %v, the deadline of a request received %v", rc.ExpectedCompletionTime, rc.ReceivedTime)
	}
	trail, err := s.Platform.Record.Trail(t.Context(), kept.RequestID)
	if err != nil || len(trail) == 0 || trail[0].Action != "received" || trail[0].Actor != DemoControllerName || trail[0].Role != "controller" {
		t.Fatalf("record %+v, %v", trail, err)
	}

	// Sent again, it is the same request.
	if status, data := ctrl.call(http.MethodPost, requests, body, ctrl.token); status != http.StatusCreated {
		t.Fatalf("sent again: %d %s", status, data)
	}
	if again, _ := s.Platform.OpenDSR.Find(t.Context(), DemoControllerID, id); again.RequestID != kept.RequestID {
		t.Errorf("sent again, it became %s, not %s", again.RequestID, kept.RequestID)
	}

	status, data = ctrl.call(http.MethodGet, requests+"/"+id, nil, ctrl.token)
	var st wire.StatusResponse
	if err := json.Unmarshal(data, &st); status != http.StatusOK || err != nil || st.RequestStatus != wire.StatusInProgress {
		t.Fatalf("status: %d %s", status, data)
	}
	if status, _ := ctrl.call(http.MethodDelete, requests+"/"+id, nil, "not-the-token"); status != http.StatusUnauthorized {
		t.Errorf("a cancellation with a wrong token: %d, want 401", status)
	}

	if status, data := ctrl.call(http.MethodDelete, requests+"/"+id, nil, ctrl.token); status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", status, data)
	}
	ctrl.waitFor(id, wire.StatusCancelled)
	if c, err := s.Platform.Cases.Case(t.Context(), kept.RequestID); err != nil || c.Status != request.StatusWithdrawn {
		t.Errorf("after the cancellation the case is %q (%v), want withdrawn", c.Status, err)
	}
	// pending is told only if a round of callbacks sees the case before it is dispatched.
	got := ctrl.statuses(id)
	if want := []wire.Status{wire.StatusPending, wire.StatusInProgress, wire.StatusCancelled}; !slices.Equal(got, want) && !slices.Equal(got, want[1:]) {
		t.Errorf("callbacks %v: each change once, in order", got)
	}
	if ctrl.refused != 0 {
		t.Errorf("%d of the platform's callbacks did not verify", ctrl.refused)
	}
}
