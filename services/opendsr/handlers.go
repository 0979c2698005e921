package opendsr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	wire "kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/store"
	stored "kirjaamo.dev/services/internal/store/opendsr"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// The extension under the authority's own domain (specification 7.1.2) gives the identifiers
// OpenDSR has no identity type for, raw.
const (
	extensionIdentityCode = "personal_identity_code"
	extensionPhone        = "phone"
)

func (s *service) discovery(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, wire.Discovery{APIVersion: wire.APIVersion,
		SupportedIdentities:          []wire.SupportedIdentity{{Type: wire.IdentityEmail, Format: wire.FormatRaw}},
		SupportedSubjectRequestTypes: []wire.RequestType{wire.TypeAccess, wire.TypePortability, wire.TypeErasure},
		ProcessorCertificate:         strings.TrimSuffix(s.cfg.URL, "/") + Base + "/certificate.pem"})
}

func (s *service) certificate(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(s.cfg.signer.CertificatePEM())
}

// controller authenticates a call by its bearer token, answering 401 itself when it does not.
func (s *service) controller(w http.ResponseWriter, r *http.Request) (*Controller, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok {
		sum := sha256.Sum256([]byte(token))
		for i, c := range s.cfg.controllers {
			want, _ := hex.DecodeString(c.TokenSHA256)
			if subtle.ConstantTimeCompare(sum[:], want) == 1 {
				return &s.cfg.controllers[i], true
			}
		}
	}
	problem(w, http.StatusUnauthorized, "Unauthorized", "send the bearer token issued to the controller", nil)
	return nil, false
}

// submitLimit bounds a request's body: identities and callback URLs are a few kilobytes.
const submitLimit = 64 << 10

// incoming is a request as a controller sends it, with its fields checked strictly: extensions are
// objects keyed by processor domain, and other processors' are ignored.
type incoming struct {
	SubjectRequestID   string                     `json:"subject_request_id"`
	Regulation         string                     `json:"regulation"`
	SubjectRequestType wire.RequestType           `json:"subject_request_type"`
	SubmittedTime      time.Time                  `json:"submitted_time"`
	SubjectIdentities  []wire.Identity            `json:"subject_identities"`
	APIVersion         string                     `json:"api_version"`
	StatusCallbackURLs []string                   `json:"status_callback_urls"`
	Extensions         map[string]json.RawMessage `json:"extensions"`
}

func (s *service) submit(w http.ResponseWriter, r *http.Request) {
	c, ok := s.controller(w, r)
	if !ok {
		return
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		problem(w, http.StatusUnsupportedMediaType, "Unsupported media type", "send application/json", nil)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, submitLimit))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, "Too large", fmt.Sprintf("the body may be at most %d bytes", submitLimit), nil)
		return
	}
	var in incoming
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		problem(w, http.StatusBadRequest, "Invalid JSON", "the body is not one OpenDSR request: "+jsonReason(err), nil)
		return
	}
	req, fields := s.admit(c, in, raw)
	if len(fields) > 0 {
		problem(w, http.StatusBadRequest, "Invalid request", fields[0].Message, fields)
		return
	}
	kept, err := s.deps.Store.Save(r.Context(), stored.Request{ControllerID: c.ID, SubjectRequestID: in.SubjectRequestID,
		RequestID: req.RequestID, ReceivedAt: req.ReceivedAt, Deadline: req.Receipt.Deadline, CallbackURLs: in.StatusCallbackURLs})
	if err != nil {
		s.deps.Log.Error("opendsr: keep request", "error", err)
		problem(w, http.StatusServiceUnavailable, "Unavailable", "the request could not be registered; send it again", nil)
		return
	}
	// Started every time: the request's id is the same for the same controller and
	// subject_request_id, and Start is idempotent by it, so a request sent again after a failed
	// start is started then, and one already started is left as it is.
	err = s.deps.Requests.Start(r.Context(), req)
	if refused, ok := request.AsRefused(err); ok {
		problem(w, http.StatusBadRequest, "Invalid request", refused.Error(), refused.Fields)
		return
	}
	if err != nil {
		s.deps.Log.Warn("opendsr: start request", "error", err)
		problem(w, http.StatusServiceUnavailable, "Unavailable", "the request could not be registered; send it again", nil)
		return
	}
	s.signed(w, http.StatusCreated, wire.Receipt{ControllerID: c.ID, ExpectedCompletionTime: kept.Deadline.UTC(),
		ReceivedTime: kept.ReceivedAt.UTC(), EncodedRequest: base64.StdEncoding.EncodeToString(raw), SubjectRequestID: in.SubjectRequestID}, true)
}

// admit checks a controller's request and makes the request's input: the same id for the same
// controller and subject_request_id, so that a request sent again starts nothing new.
func (s *service) admit(c *Controller, in incoming, raw []byte) (request.Input, []contracts.FieldError) {
	ve := &contracts.ValidationError{}
	if contracts.Validator().Var(in.SubjectRequestID, "required,uuid4") != nil || strings.ToLower(in.SubjectRequestID) != in.SubjectRequestID {
		ve.Add("subject_request_id", "uuid4", "subject_request_id must be a version 4 UUID in lower case")
	}
	if in.Regulation != "" && in.Regulation != "gdpr" {
		ve.Add("regulation", "oneof", "regulation must be gdpr: the authority acts under the GDPR")
	}
	right, ok := map[wire.RequestType]contracts.Right{wire.TypeAccess: contracts.RightAccess,
		wire.TypePortability: contracts.RightPortability, wire.TypeErasure: contracts.RightErasure}[in.SubjectRequestType]
	if !ok {
		ve.Add("subject_request_type", "oneof", "subject_request_type must be one of: access, portability, erasure")
	}
	if in.SubmittedTime.IsZero() {
		ve.Add("submitted_time", "required", "submitted_time is required (RFC 3339)")
	}
	var ids []contracts.Identifier
	for i, id := range in.SubjectIdentities {
		field := fmt.Sprintf("subject_identities[%d]", i)
		switch {
		case id.Type != wire.IdentityEmail:
			ve.Add(field+".identity_type", "oneof", "identity_type must be email: the authority finds people by e-mail address, or by the identifiers of its extension")
		case id.Format != wire.FormatRaw:
			ve.Add(field+".identity_format", "oneof", "identity_format must be raw: the authority's registers are searched by the address itself")
		case contracts.Validator().Var(id.Value, "required,email,max=254") != nil:
			ve.Add(field+".identity_value", "email", "identity_value must be an e-mail address")
		default:
			ids = append(ids, contracts.Identifier{Type: contracts.IdentifierEmail, Value: contracts.Normalize(contracts.IdentifierEmail, id.Value)})
		}
	}
	if ext, ok := in.Extensions[s.cfg.domain]; ok {
		var own map[string]string
		if err := json.Unmarshal(ext, &own); err != nil {
			ve.Add("extensions."+s.cfg.domain, "object", "the authority's extension holds personal_identity_code and phone as text")
		}
		for k, v := range own {
			switch k {
			case extensionIdentityCode:
				if !contracts.ValidPersonalIdentityCode(contracts.Normalize(contracts.IdentifierPersonalIdentityCode, v)) {
					ve.Add("extensions."+s.cfg.domain+"."+k, "personal_identity_code", "not a valid Finnish personal identity code")
					continue
				}
				ids = append(ids, contracts.Identifier{Type: contracts.IdentifierPersonalIdentityCode, Value: contracts.Normalize(contracts.IdentifierPersonalIdentityCode, v)})
			case extensionPhone:
				n := contracts.Normalize(contracts.IdentifierPhone, v)
				if contracts.Validator().Var(n, "e164") != nil {
					ve.Add("extensions."+s.cfg.domain+"."+k, "e164", "not a phone number")
					continue
				}
				ids = append(ids, contracts.Identifier{Type: contracts.IdentifierPhone, Value: n})
			default:
				ve.Add("extensions."+s.cfg.domain+"."+k, "oneof", "the authority's extension takes personal_identity_code and phone")
			}
		}
	}
	if len(ids) == 0 && len(ve.Fields) == 0 {
		ve.Add("subject_identities", "required", "subject_identities field is required: an e-mail address, raw, or the authority's extension")
	}
	if len(in.StatusCallbackURLs) > 5 {
		ve.Add("status_callback_urls", "max", "at most 5 status callback URLs")
	}
	for i, u := range in.StatusCallbackURLs {
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" && !(p.Scheme == "http" && loopback(p.Hostname())) || p.Host == "" {
			ve.Add(fmt.Sprintf("status_callback_urls[%d]", i), "url", "a status callback URL must be https")
		}
	}
	if len(ve.Fields) > 0 {
		return request.Input{}, ve.Fields
	}
	now := time.Now().UTC()
	in2 := request.Input{RequestID: requestID(c.ID, in.SubjectRequestID), ReceivedAt: now, Channel: request.ChannelAPI, Requester: c.Name,
		Subject: request.Subject{ID: "opendsr:" + c.ID + ":" + in.SubjectRequestID, IdentityMethod: "opendsr controller " + c.ID,
			IdentityLevel: string(c.IdentityLevel), Identifiers: ids},
		Request: contracts.SubmitRequest{Right: right, Language: c.Language}}
	in2.Receipt = request.ReceiptOf(now)
	return in2, nil
}

func loopback(host string) bool { return host == "localhost" || host == "127.0.0.1" || host == "::1" }

// requestID is the request a controller's request becomes: a UUID made from the controller and its
// id, so that the same request sent again is the same request.
func requestID(controllerID, subjectRequestID string) string {
	sum := sha256.Sum256([]byte("kirjaamo opendsr request\x00" + controllerID + "\x00" + subjectRequestID))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// statusOf is a request's status as OpenDSR says it (specification 8).
func statusOf(caseStatus string) wire.Status {
	switch request.Status(caseStatus) {
	case request.StatusDispatched, request.StatusInReview, request.StatusAwaitingInformation:
		// Waiting for the subject's identifiers comes after the registers were asked: acted on, and
		// a controller must not see the request go back to pending.
		return wire.StatusInProgress
	case request.StatusReplied, request.StatusRestricted, request.StatusLiftNoticeSent, request.StatusLifted:
		return wire.StatusCompleted
	case request.StatusWithdrawn, request.StatusIdentityNotVerified:
		return wire.StatusCancelled
	case request.StatusAwaitingIdentity, request.StatusReceived:
	}
	return wire.StatusPending // and before intake has stored the case
}

func (s *service) find(w http.ResponseWriter, r *http.Request) (*Controller, stored.Request, bool) {
	c, ok := s.controller(w, r)
	if !ok {
		return nil, stored.Request{}, false
	}
	kept, err := s.deps.Store.Find(r.Context(), c.ID, r.PathValue("subject_request_id"))
	if errors.Is(err, store.ErrNotFound) {
		problem(w, http.StatusNotFound, "Not found", "no request of this controller has this subject_request_id", nil)
		return nil, kept, false
	}
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "Unavailable", "try again", nil)
		return nil, kept, false
	}
	return c, kept, true
}

func (s *service) status(w http.ResponseWriter, r *http.Request) {
	c, kept, ok := s.find(w, r)
	if !ok {
		return
	}
	s.signed(w, http.StatusOK, wire.StatusResponse{ControllerID: c.ID, ExpectedCompletionTime: kept.Deadline.UTC(),
		SubjectRequestID: kept.SubjectRequestID, RequestStatus: statusOf(kept.Status), APIVersion: wire.APIVersion}, false)
}

func (s *service) cancel(w http.ResponseWriter, r *http.Request) {
	c, kept, ok := s.find(w, r)
	if !ok {
		return
	}
	_, err := s.deps.Requests.Withdraw(r.Context(), kept.RequestID, request.Withdrawal{Channel: request.ChannelAPI})
	refused, isRefused := request.AsRefused(err)
	switch {
	case err == nil:
	case isRefused:
		problem(w, http.StatusBadRequest, "Not cancelled", refused.Error(), refused.Fields)
		return
	case errors.Is(err, request.ErrNotFound):
		problem(w, http.StatusBadRequest, "Not cancelled", "the request is closed", nil)
		return
	default:
		problem(w, http.StatusServiceUnavailable, "Unavailable", "the cancellation could not be carried out now; try again", nil)
		return
	}
	s.signed(w, http.StatusAccepted, wire.Cancellation{ControllerID: c.ID, SubjectRequestID: kept.SubjectRequestID,
		ReceivedTime: time.Now().UTC(), APIVersion: wire.APIVersion}, false)
}

// signed writes an answer signed with the platform's key; a receipt carries the signature in its
// body too (processor_signature), over the body without it.
func (s *service) signed(w http.ResponseWriter, status int, v any, receipt bool) {
	body, _ := json.Marshal(v)
	if rc, ok := v.(wire.Receipt); ok && receipt {
		rc.ProcessorSignature = s.cfg.signer.Sign(body)
		body, _ = json.Marshal(rc)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.HeaderProcessorDomain, s.cfg.domain)
	w.Header().Set(wire.HeaderSignature, s.cfg.signer.Sign(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// problem answers with an RFC 9457 problem document that also carries OpenDSR's error object, so
// that a controller reading either finds what went wrong (specification 7.5).
func problem(w http.ResponseWriter, status int, title, detail string, fields []contracts.FieldError) {
	details := make([]wire.ErrorDetail, 0, len(fields))
	for _, f := range fields {
		details = append(details, wire.ErrorDetail{Domain: "Validation", Reason: f.Rule, Message: f.Message})
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		web.Problem
		Error wire.ErrorObject `json:"error"`
	}{web.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Errors: fields},
		wire.ErrorObject{Code: status, Message: detail, Errors: details}})
}

func jsonReason(err error) string {
	if err == nil {
		return "something follows the request"
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not valid JSON"
}

// callbacks tells each controller of its requests' changes of status, signed, until ctx ends. A
// callback that fails is tried again at the next round, as long as the status stays unsent.
func (s *service) callbacks(ctx context.Context) {
	every := s.cfg.CallbackEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sendCallbacks(ctx)
		}
	}
}

func (s *service) sendCallbacks(ctx context.Context) {
	list, err := s.deps.Store.Unsent(ctx, 100)
	if err != nil {
		s.deps.Log.Warn("opendsr: callbacks", "error", err)
		return
	}
	for _, kept := range list {
		if statusOf(kept.StatusSent) == statusOf(kept.Status) && kept.StatusSent != "" {
			_ = s.deps.Store.MarkSent(ctx, kept.RequestID, kept.Status) // no change a controller sees
			continue
		}
		all := true
		for _, u := range kept.CallbackURLs {
			body, _ := json.Marshal(wire.Callback{ControllerID: kept.ControllerID, ExpectedCompletionTime: kept.Deadline.UTC(),
				StatusCallbackURL: u, SubjectRequestID: kept.SubjectRequestID, RequestStatus: statusOf(kept.Status)})
			if err := s.post(ctx, u, body); err != nil {
				s.deps.Log.Warn("opendsr: a callback failed; it is sent again", "controller", kept.ControllerID, "error", err)
				all = false
			}
		}
		if all {
			if err := s.deps.Store.MarkSent(ctx, kept.RequestID, kept.Status); err != nil {
				s.deps.Log.Warn("opendsr: callback sent, not marked", "error", err)
			}
		}
	}
}

func (s *service) post(ctx context.Context, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderProcessorDomain, s.cfg.domain)
	req.Header.Set(wire.HeaderSignature, s.cfg.signer.Sign(body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(resp.Status)
	}
	return nil
}
