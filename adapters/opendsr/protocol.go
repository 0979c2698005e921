// Package opendsr speaks OpenDSR (formerly OpenGDPR, github.com/opengdpr/OpenDSR), the open protocol
// by which a controller passes data subject requests to its processors: its messages, the
// signatures on a processor's answers and callbacks, and the checks of the certificate that makes
// them. The platform speaks it in both roles with this package: as controller, for a register that
// is an external processor (package forward, the adapter), and as processor, for controllers that
// send requests to the authority (kirjaamo.dev/services/opendsr). What the OpenDSR documents say and
// where this package reads them one way, the comments say; testdata/ keeps the documents' own
// examples with their source, and the tests pass them through both roles.
package opendsr

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"time"
)

// APIVersion is the version of the specification spoken: 0.1.x, the OpenGDPR specification with the
// opengdpr_requests routes and the X-OpenGDPR- headers.
const APIVersion = "0.1"

// The headers of a processor's signed answers and callbacks (specification 7.4, 8.3, 8.6).
const (
	HeaderProcessorDomain = "X-OpenGDPR-Processor-Domain"
	HeaderSignature       = "X-OpenGDPR-Signature"
)

// The processor's routes, below its base URL (which carries the major version, as
// https://opendsr.example.com/v1; specification 3.4).
const (
	PathDiscovery = "/discovery"
	PathRequests  = "/opengdpr_requests"
)

// RequestType is what a request asks for (specification 6.2).
type RequestType string

const (
	TypeAccess      RequestType = "access"
	TypePortability RequestType = "portability"
	TypeErasure     RequestType = "erasure"
)

// RequestTypes lists every type.
var RequestTypes = []RequestType{TypeAccess, TypePortability, TypeErasure}

// Valid reports whether t is a request type of the protocol.
func (t RequestType) Valid() bool { return slices.Contains(RequestTypes, t) }

// Status is where a request stands at the processor (specification 8).
type Status string

const (
	StatusPending    Status = "pending"
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusCancelled  Status = "cancelled"
)

// Statuses lists every status.
var Statuses = []Status{StatusPending, StatusInProgress, StatusCompleted, StatusCancelled}

// Valid reports whether s is a status of the protocol.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Final reports whether a request in status s will not change again.
func (s Status) Final() bool { return s == StatusCompleted || s == StatusCancelled }

// Format is how an identity's value is given (specification 5.2).
type Format string

const (
	FormatRaw    Format = "raw"
	FormatSHA1   Format = "sha1"
	FormatMD5    Format = "md5"
	FormatSHA256 Format = "sha256"
)

// Formats lists every format.
var Formats = []Format{FormatRaw, FormatSHA1, FormatMD5, FormatSHA256}

// Valid reports whether f is a format of the protocol.
func (f Format) Valid() bool { return slices.Contains(Formats, f) }

// Hash gives a value in the format: the value itself for raw, otherwise the lower-case hex digest
// of its bytes. The caller gives the value normalized, as the processor stored it (an e-mail address
// in lower case): the specification leaves normalization to the parties, and mParticle and others
// hash the trimmed, lower-cased address.
func (f Format) Hash(value string) (string, error) {
	var h hash.Hash
	switch f {
	case FormatRaw:
		return value, nil
	case FormatSHA1:
		h = sha1.New()
	case FormatMD5:
		h = md5.New()
	case FormatSHA256:
		h = sha256.New()
	default:
		return "", fmt.Errorf("opendsr: %q is not an identity format", string(f))
	}
	h.Write([]byte(value))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// The identity types of specification 5.1 that the platform can fill: an e-mail address, and the
// controller's own customer id (which a register may map a platform identifier to).
const (
	IdentityEmail              = "email"
	IdentityControllerCustomer = "controller_customer_id"
)

// Identity is one identity of the subject (specification 5.3).
type Identity struct {
	Type   string `json:"identity_type"`
	Value  string `json:"identity_value"`
	Format Format `json:"identity_format"`
}

// String hides the value, so that an identity printed by mistake leaks nothing into a log.
func (i Identity) String() string { return i.Type + "/" + string(i.Format) }

// Request is what a controller POSTs to opengdpr_requests (specification 7.1). Regulation is the
// field version 1.0 of the specification added; 0.1 controllers leave it out.
type Request struct {
	SubjectRequestID   string                    `json:"subject_request_id"`
	Regulation         string                    `json:"regulation,omitempty"`
	SubjectRequestType RequestType               `json:"subject_request_type"`
	SubmittedTime      time.Time                 `json:"submitted_time"`
	SubjectIdentities  []Identity                `json:"subject_identities"`
	APIVersion         string                    `json:"api_version,omitempty"`
	StatusCallbackURLs []string                  `json:"status_callback_urls,omitempty"`
	Extensions         map[string]map[string]any `json:"extensions,omitempty"`
}

// Receipt is a processor's answer to a request, 201 Created (specification 7.3).
type Receipt struct {
	ControllerID           string    `json:"controller_id"`
	ExpectedCompletionTime time.Time `json:"expected_completion_time"`
	ReceivedTime           time.Time `json:"received_time"`
	EncodedRequest         string    `json:"encoded_request"`
	SubjectRequestID       string    `json:"subject_request_id"`
	ProcessorSignature     string    `json:"processor_signature,omitempty"`
}

// StatusResponse is a processor's answer to a status query (specification 8.3).
type StatusResponse struct {
	ControllerID           string    `json:"controller_id"`
	ExpectedCompletionTime time.Time `json:"expected_completion_time"`
	SubjectRequestID       string    `json:"subject_request_id"`
	RequestStatus          Status    `json:"request_status"`
	APIVersion             string    `json:"api_version,omitempty"`
	ResultsURL             string    `json:"results_url,omitempty"`
	ResultsCount           *int      `json:"results_count,omitempty"`
}

// Callback is what a processor POSTs to each status callback URL when a request's status changes
// (specification 8.6).
type Callback struct {
	ControllerID           string    `json:"controller_id"`
	ExpectedCompletionTime time.Time `json:"expected_completion_time"`
	StatusCallbackURL      string    `json:"status_callback_url"`
	SubjectRequestID       string    `json:"subject_request_id"`
	RequestStatus          Status    `json:"request_status"`
	ResultsURL             string    `json:"results_url,omitempty"`
	ResultsCount           *int      `json:"results_count,omitempty"`
}

// Cancellation is a processor's answer to a DELETE, 202 Accepted (specification 9.2).
type Cancellation struct {
	ControllerID     string    `json:"controller_id"`
	SubjectRequestID string    `json:"subject_request_id"`
	ReceivedTime     time.Time `json:"received_time"`
	EncodedRequest   string    `json:"encoded_request,omitempty"`
	APIVersion       string    `json:"api_version,omitempty"`
}

// SupportedIdentity is an identity type and a format a processor takes (specification 6.3).
type SupportedIdentity struct {
	Type   string `json:"identity_type"`
	Format Format `json:"identity_format"`
}

// Discovery is what a processor says of itself at /discovery (specification 6.3).
type Discovery struct {
	APIVersion                   string              `json:"api_version"`
	SupportedIdentities          []SupportedIdentity `json:"supported_identities"`
	SupportedSubjectRequestTypes []RequestType       `json:"supported_subject_request_types"`
	ProcessorCertificate         string              `json:"processor_certificate"`
}

// Supports reports whether the processor takes requests of type t.
func (d *Discovery) Supports(t RequestType) bool {
	return slices.Contains(d.SupportedSubjectRequestTypes, t)
}

// Takes reports whether the processor takes identities of a type in a format.
func (d *Discovery) Takes(identityType string, f Format) bool {
	return slices.Contains(d.SupportedIdentities, SupportedIdentity{Type: identityType, Format: f})
}

// ErrorBody is a processor's error answer (specification 7.5, 7.6).
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject says what went wrong, without anything about the subject.
type ErrorObject struct {
	Code    int           `json:"code"`
	Message string        `json:"message,omitempty"`
	Errors  []ErrorDetail `json:"errors,omitempty"`
}

// ErrorDetail is one problem of an error.
type ErrorDetail struct {
	Domain  string `json:"domain,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}
