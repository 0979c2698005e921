package opendsr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	wire "kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/adapters/opendsr/devcerts"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
	stored "kirjaamo.dev/services/internal/store/opendsr"
	"kirjaamo.dev/workflows/request"
)

const (
	domain      = "opendsr.kirjaamo.example.fi"
	tokenKela   = "kela-token"
	tokenOther  = "other-token"
	specRequest = "a7551968-d5d6-44b2-9831-815ac9017798"
)

// fakeRequests is the request workflow's client: it keeps what was started and withdrawn.
type fakeRequests struct {
	mu        sync.Mutex
	started   []request.Input
	withdrawn []string
	refuse    error
}

func (f *fakeRequests) Start(_ context.Context, in request.Input) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	f.started = append(f.started, in)
	return nil
}

func (f *fakeRequests) Withdraw(_ context.Context, id string, _ request.Withdrawal) (request.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.withdrawn = append(f.withdrawn, id)
	return request.State{Status: request.StatusWithdrawn}, nil
}

// fakeStore keeps the controllers' requests in memory, with each case's status as the test sets it.
type fakeStore struct {
	mu     sync.Mutex
	kept   map[string]stored.Request
	status map[string]string // by request id
}

func (f *fakeStore) Save(_ context.Context, r stored.Request) (stored.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := r.ControllerID + "/" + r.SubjectRequestID
	if old, ok := f.kept[k]; ok {
		return old, nil
	}
	f.kept[k] = r
	return r, nil
}

func (f *fakeStore) Find(_ context.Context, controllerID, id string) (stored.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.kept[controllerID+"/"+id]
	if !ok {
		return r, store.ErrNotFound
	}
	r.Status = f.status[r.RequestID]
	return r, nil
}

func (f *fakeStore) Unsent(context.Context, int) ([]stored.Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []stored.Request
	for _, r := range f.kept {
		if st := f.status[r.RequestID]; st != "" && st != r.StatusSent && len(r.CallbackURLs) > 0 {
			r.Status = st
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeStore) MarkSent(_ context.Context, requestID, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, r := range f.kept {
		if r.RequestID == requestID {
			r.StatusSent = status
			f.kept[k] = r
		}
	}
	return nil
}

type fixture struct {
	svc      *service
	requests *fakeRequests
	store    *fakeStore
	cert     *x509.Certificate
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// newFixture is the service with a key and certificate for its domain from a CA of the test's
// own, and two controllers.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	certs, err := devcerts.Ensure(dir, domain)
	if err != nil {
		t.Fatal(err)
	}
	controllers, _ := json.Marshal([]Controller{
		{ID: "kela", Name: "Kela", TokenSHA256: hexSHA256(tokenKela), IdentityLevel: "substantial", Language: "fi"},
		{ID: "other", Name: "Other controller", TokenSHA256: hexSHA256(tokenOther), IdentityLevel: "basic", Language: "sv"},
	})
	file := filepath.Join(dir, "controllers.json")
	if err := os.WriteFile(file, controllers, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: "https://" + domain, SigningKeyFile: certs.Key, CertificateFile: certs.Cert, ControllersFile: file}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{requests: &fakeRequests{}, store: &fakeStore{kept: map[string]stored.Request{}, status: map[string]string{}}}
	f.svc = newService(cfg, Deps{Requests: f.requests, Store: f.store})
	f.cert = cfg.signer.Certificate()
	return f
}

func (f *fixture) call(t *testing.T, method, path, token string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	f.svc.mux().ServeHTTP(w, r)
	return w
}

// verified fails unless an answer is signed by the service's certificate, for its domain.
func (f *fixture) verified(t *testing.T, w *httptest.ResponseRecorder) []byte {
	t.Helper()
	if got := w.Header().Get(wire.HeaderProcessorDomain); got != domain {
		t.Errorf("processor domain %q, want %q", got, domain)
	}
	if err := wire.Verify(f.cert, w.Body.Bytes(), w.Header().Get(wire.HeaderSignature)); err != nil {
		t.Errorf("the answer's signature: %v", err)
	}
	return w.Body.Bytes()
}

func spec(t *testing.T, name string) []byte {
	t.Helper()
	data, err := wire.SpecExamples.ReadFile("testdata/spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// keys are a JSON object's keys, sorted.
func keys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// without drops the named keys: what the documents' examples carry and the service does not.
func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(list, func(k string) bool { return slices.Contains(drop, k) })
}

// TestTheDocumentsRequestsBecomeRequestsOfTheAPIChannel sends the OpenDSR documents' example
// requests as a controller would: each becomes an erasure of the api channel, for the example's
// address, with the controller named as requester and its language, and is answered with a receipt
// signed in the header and in the body, whose fields are the specification's example's.
func TestTheDocumentsRequestsBecomeRequestsOfTheAPIChannel(t *testing.T) {
	for _, name := range []string{"request.json", "readme-request.json"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			body := spec(t, name)
			w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, body)
			if w.Code != http.StatusCreated {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			data := f.verified(t, w)
			var rc wire.Receipt
			if err := json.Unmarshal(data, &rc); err != nil {
				t.Fatal(err)
			}
			if rc.SubjectRequestID != specRequest || rc.ControllerID != "kela" {
				t.Errorf("receipt %+v", rc)
			}
			if enc, _ := base64.StdEncoding.DecodeString(rc.EncodedRequest); !bytes.Equal(enc, body) {
				t.Error("encoded_request is not the request's body")
			}
			// processor_signature signs the receipt without it (specification 7.3).
			unsigned := rc
			unsigned.ProcessorSignature = ""
			plain, _ := json.Marshal(unsigned)
			if err := wire.Verify(f.cert, plain, rc.ProcessorSignature); err != nil {
				t.Errorf("processor_signature: %v", err)
			}
			if got, want := keys(t, data), append(keys(t, spec(t, "receipt.json")), "processor_signature"); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Errorf("receipt fields %v, the specification's %v", got, want)
			}
			if len(f.requests.started) != 1 {
				t.Fatalf("started %d requests", len(f.requests.started))
			}
			in := f.requests.started[0]
			if in.Channel != request.ChannelAPI || in.Requester != "Kela" || in.Request.Right != contracts.RightErasure || in.Request.Language != "fi" ||
				in.Subject.IdentityLevel != "substantial" {
				t.Errorf("input %+v", in)
			}
			if !slices.Equal(in.Subject.Identifiers, []contracts.Identifier{{Type: contracts.IdentifierEmail, Value: "johndoe@example.com"}}) {
				t.Errorf("identifiers %v", in.Subject.Identifiers)
			}
			if ve := request.CheckInput(in); ve != nil {
				t.Errorf("the workflow would refuse the input: %v", ve)
			}
			if !rc.ExpectedCompletionTime.Equal(in.Receipt.Deadline) {
				t.Errorf("expected_completion_time %v, the request's deadline %v", rc.ExpectedCompletionTime, in.Receipt.Deadline)
			}

			// The same request again is the same request: same id, nothing new kept.
			again := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, body)
			if again.Code != http.StatusCreated || len(f.store.kept) != 1 {
				t.Fatalf("sent again: %d, %d kept", again.Code, len(f.store.kept))
			}
			if len(f.requests.started) == 2 && f.requests.started[1].RequestID != in.RequestID {
				t.Error("a request sent again started another request")
			}
		})
	}
}

// TestStatusAndCancellationAnswerAsTheSpecificationSays follows a request from the document's
// example: its status as the case moves, signed, with the example's fields, and its cancellation
// withdrawing the request; another controller does not see it.
func TestStatusAndCancellationAnswerAsTheSpecificationSays(t *testing.T) {
	f := newFixture(t)
	if w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, spec(t, "request.json")); w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	id := f.requests.started[0].RequestID
	path := Base + wire.PathRequests + "/" + specRequest
	// One case status for each OpenDSR status: the others map as their phase does.
	//exhaustive:ignore
	statuses := map[request.Status]wire.Status{"": wire.StatusPending, request.StatusReceived: wire.StatusPending,
		request.StatusDispatched: wire.StatusInProgress, request.StatusReplied: wire.StatusCompleted, request.StatusWithdrawn: wire.StatusCancelled}
	for caseStatus, want := range statuses {
		f.store.status[id] = string(caseStatus)
		w := f.call(t, http.MethodGet, path, tokenKela, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		data := f.verified(t, w)
		var st wire.StatusResponse
		_ = json.Unmarshal(data, &st)
		if st.RequestStatus != want || st.SubjectRequestID != specRequest {
			t.Errorf("case %q: status %+v, want %s", caseStatus, st, want)
		}
		if got, want := keys(t, data), without(keys(t, spec(t, "status.json")), "results_url"); !slices.Equal(got, want) {
			t.Errorf("status fields %v, the specification's %v", got, want)
		}
	}
	if w := f.call(t, http.MethodGet, path, tokenOther, nil); w.Code != http.StatusNotFound {
		t.Errorf("another controller's status: %d, want 404", w.Code)
	}
	if w := f.call(t, http.MethodDelete, path, tokenOther, nil); w.Code != http.StatusNotFound || len(f.requests.withdrawn) != 0 {
		t.Errorf("another controller's cancellation: %d, withdrawn %v", w.Code, f.requests.withdrawn)
	}
	w := f.call(t, http.MethodDelete, path, tokenKela, nil)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	data := f.verified(t, w)
	if got, want := keys(t, data), without(keys(t, spec(t, "cancellation.json")), "encoded_request"); !slices.Equal(got, want) {
		t.Errorf("cancellation fields %v, the specification's %v", got, want)
	}
	if !slices.Equal(f.requests.withdrawn, []string{id}) {
		t.Errorf("withdrawn %v, want %s", f.requests.withdrawn, id)
	}
}

// TestAControllerMustAuthenticate refuses a call without a token, or with one no controller has.
func TestAControllerMustAuthenticate(t *testing.T) {
	f := newFixture(t)
	for _, token := range []string{"", "not-a-token", strings.ToUpper(tokenKela)} {
		w := f.call(t, http.MethodPost, Base+wire.PathRequests, token, spec(t, "request.json"))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", token, w.Code)
		}
	}
	if len(f.requests.started) != 0 || len(f.store.kept) != 0 {
		t.Error("an unauthenticated request was kept or started")
	}
}

// TestABadRequestIsToldWhichFieldInBothErrorForms: a field-level 400 that a controller reading the
// specification's error object (7.6) and one reading RFC 9457 both understand, and nothing started.
func TestABadRequestIsToldWhichFieldInBothErrorForms(t *testing.T) {
	f := newFixture(t)
	var req map[string]any
	_ = json.Unmarshal(spec(t, "request.json"), &req)
	cases := map[string]func(map[string]any){
		"subject_request_id":   func(m map[string]any) { delete(m, "subject_request_id") },
		"subject_request_type": func(m map[string]any) { m["subject_request_type"] = "rectification" },
		"subject_identities[0].identity_value": func(m map[string]any) {
			m["subject_identities"] = []any{map[string]any{"identity_type": "email", "identity_format": "raw", "identity_value": "not an address"}}
		},
		"subject_identities[0].identity_format": func(m map[string]any) {
			m["subject_identities"] = []any{map[string]any{"identity_type": "email", "identity_format": "md5", "identity_value": "0cba00ca3da1b283a57287bcceb17e35"}}
		},
		"status_callback_urls[0]": func(m map[string]any) { m["status_callback_urls"] = []any{"ftp://examplecontroller.com/"} },
		"extensions." + domain + ".personal_identity_code": func(m map[string]any) {
			m["extensions"] = map[string]any{domain: map[string]any{"personal_identity_code": "010101-123X"}}
		},
	}
	for field, spoil := range cases {
		m := map[string]any{}
		for k, v := range req {
			m[k] = v
		}
		spoil(m)
		body, _ := json.Marshal(m)
		w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, body)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", field, w.Code)
			continue
		}
		var got struct {
			Status int                    `json:"status"`
			Errors []contracts.FieldError `json:"errors"`
			Error  wire.ErrorObject       `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Errors) == 0 || got.Errors[0].Field != field || got.Status != 400 || got.Error.Code != 400 ||
			len(got.Error.Errors) == 0 || got.Error.Errors[0].Domain != "Validation" {
			t.Errorf("%s: %s", field, w.Body)
		}
		if strings.Contains(w.Body.String(), "010101-123X") || strings.Contains(w.Body.String(), "not an address") {
			t.Errorf("%s: the error repeats the subject's identity: %s", field, w.Body)
		}
	}
	for name, body := range map[string]string{"unknown field": `{"subject_request_id":"` + specRequest + `","surprise":1}`,
		"trailing data": string(spec(t, "request.json")) + "{}", "not JSON": "subject_request_id="} {
		if w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, []byte(body)); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, w.Code)
		}
	}
	if len(f.requests.started) != 0 {
		t.Errorf("started %d requests from bad ones", len(f.requests.started))
	}
}

// TestTheAuthoritysExtensionCarriesItsIdentifiers: a personal identity code and a phone number,
// which OpenDSR has no identity type for, come in the extension under the authority's domain.
func TestTheAuthoritysExtensionCarriesItsIdentifiers(t *testing.T) {
	f := newFixture(t)
	var m map[string]any
	_ = json.Unmarshal(spec(t, "request.json"), &m)
	m["subject_identities"] = []any{}
	m["extensions"] = map[string]any{domain: map[string]any{"personal_identity_code": "010101-123n", "phone": "+358 40 123 4567"}}
	body, _ := json.Marshal(m)
	if w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, body); w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ids := f.requests.started[0].Subject.Identifiers
	slices.SortFunc(ids, func(a, b contracts.Identifier) int { return strings.Compare(string(a.Type), string(b.Type)) })
	want := []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: "010101-123N"}, {Type: contracts.IdentifierPhone, Value: "+358401234567"}}
	slices.SortFunc(want, func(a, b contracts.Identifier) int { return strings.Compare(string(a.Type), string(b.Type)) })
	if !slices.Equal(ids, want) {
		t.Errorf("identifiers %v, want %v", ids, want)
	}
}

// TestStatusCallbacksAreSignedAndSentOncePerChange runs the callbacks against a scripted
// controller: each change of status a controller sees reaches every callback URL once, signed with
// the platform's key, with the specification's callback fields; a failed one is sent again.
func TestStatusCallbacksAreSignedAndSentOncePerChange(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var got []wire.Callback
	fail := true
	ctrl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wire.Verify(f.cert, body, r.Header.Get(wire.HeaderSignature)); err != nil || r.Header.Get(wire.HeaderProcessorDomain) != domain {
			t.Errorf("callback not signed for %s: %v", domain, err)
		}
		if k, want := keys(t, body), without(keys(t, spec(t, "callback.json")), "results_url"); !slices.Equal(k, want) {
			t.Errorf("callback fields %v, the specification's %v", k, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var c wire.Callback
		_ = json.Unmarshal(body, &c)
		got = append(got, c)
	}))
	defer ctrl.Close()
	var m map[string]any
	_ = json.Unmarshal(spec(t, "request.json"), &m)
	m["status_callback_urls"] = []any{ctrl.URL + "/opengdpr_callbacks"}
	body, _ := json.Marshal(m)
	if w := f.call(t, http.MethodPost, Base+wire.PathRequests, tokenKela, body); w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	id := f.requests.started[0].RequestID
	ctx := context.Background()
	step := func(status request.Status) {
		f.store.status[id] = string(status)
		f.svc.sendCallbacks(ctx)
	}
	step(request.StatusReceived)   // pending: fails once
	step(request.StatusReceived)   // sent again
	step(request.StatusDispatched) // in_progress
	step(request.StatusInReview)   // still in_progress: nothing new
	step(request.StatusReplied)    // completed
	f.svc.sendCallbacks(ctx)
	var statuses []wire.Status
	for _, c := range got {
		statuses = append(statuses, c.RequestStatus)
		if c.SubjectRequestID != specRequest || c.ControllerID != "kela" || c.StatusCallbackURL != ctrl.URL+"/opengdpr_callbacks" {
			t.Errorf("callback %+v", c)
		}
	}
	if want := []wire.Status{wire.StatusPending, wire.StatusInProgress, wire.StatusCompleted}; !slices.Equal(statuses, want) {
		t.Errorf("callbacks %v, want %v", statuses, want)
	}
}

// TestDiscoveryNamesTheCertificateThatSigns: discovery says what the authority takes and where its
// certificate is, and that certificate is the one every answer verifies against.
func TestDiscoveryNamesTheCertificateThatSigns(t *testing.T) {
	f := newFixture(t)
	w := f.call(t, http.MethodGet, Base+wire.PathDiscovery, "", nil)
	var d wire.Discovery
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if d.ProcessorCertificate != "https://"+domain+Base+"/certificate.pem" || !d.Takes(wire.IdentityEmail, wire.FormatRaw) ||
		!d.Supports(wire.TypeErasure) || !d.Supports(wire.TypeAccess) {
		t.Errorf("discovery %+v", d)
	}
	if got, want := keys(t, w.Body.Bytes()), keys(t, spec(t, "discovery.json")); !slices.Equal(got, want) {
		t.Errorf("discovery fields %v, the specification's %v", got, want)
	}
	c := f.call(t, http.MethodGet, Base+"/certificate.pem", "", nil)
	chain, err := wire.ParseCertificates(c.Body.Bytes())
	if err != nil || len(chain) == 0 || !chain[0].Equal(f.cert) {
		t.Fatalf("certificate.pem: %v", err)
	}
}
