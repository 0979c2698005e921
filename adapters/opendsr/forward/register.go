package forward

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// Register forwards a register's tasks to its OpenDSR processor.
type Register struct {
	cfg       Config
	client    *http.Client
	roots     *x509.CertPool
	token     string
	pollEvery time.Duration
	log       *slog.Logger

	mu        sync.Mutex
	processor *discovered
	// waiting are the tasks waiting for their processor's status, by subject_request_id.
	waiting  map[string]*waiter
	platform sdk.Platform
}

// discovered is what the processor's discovery says, with its checked certificate.
type discovered struct {
	opendsr.Discovery
	cert *x509.Certificate
	at   time.Time
}

// rediscoverEvery is how long discovery is trusted before it is asked again.
const rediscoverEvery = time.Hour

// New makes the register from a checked configuration.
func New(cfg Config, log *slog.Logger) (*Register, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Register{cfg: cfg, waiting: map[string]*waiter{}, log: log.With("register", cfg.Declaration.RegisterID)}
	r.pollEvery, _ = cfg.pollEvery()
	if cfg.Processor.CAFile != "" {
		pem, err := os.ReadFile(cfg.Processor.CAFile)
		if err != nil {
			return nil, fmt.Errorf("forward: processor.ca_file: %w", err)
		}
		r.roots = x509.NewCertPool()
		if !r.roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("forward: processor.ca_file holds no certificate")
		}
	} else {
		var err error
		if r.roots, err = x509.SystemCertPool(); err != nil {
			return nil, fmt.Errorf("forward: the system's certificate authorities: %w", err)
		}
	}
	if cfg.Processor.TokenFile != "" {
		b, err := os.ReadFile(cfg.Processor.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("forward: processor.token_file: %w", err)
		}
		r.token = strings.TrimSpace(string(b))
	}
	r.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: r.roots, MinVersion: tls.VersionTLS12}},
		// The processor's endpoints answer where they are: a redirect is not followed, lest a
		// subject's identities reach another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return r, nil
}

// Declaration is the register's declaration, from the configuration.
func (r *Register) Declaration() contracts.Declaration { return r.cfg.Declaration }

// Operations forwards lookups and erasures, as declared.
func (r *Register) Operations() sdk.Operations {
	var ops sdk.Operations
	if r.cfg.Declaration.Supports(contracts.OpLookup) {
		ops.Export = r.lookup
	}
	if r.cfg.Declaration.Supports(contracts.OpErase) {
		ops.Erase = r.erase
	}
	return ops
}

// SubjectRequestID is the OpenDSR id of a task: the same for every delivery of the task, so that a
// redelivered task finds its request at the processor instead of making a second one, and shaped as
// the version 4 UUID, in lower case, that the specification asks for (1.1, 7.1.1).
func SubjectRequestID(taskID string) string {
	sum := sha256.Sum256([]byte("kirjaamo opendsr subject_request_id\x00" + taskID))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// update is a status the processor gave, signed.
type update struct {
	Status       opendsr.Status
	ResultsURL   string
	ResultsCount *int
}

type waiter struct {
	taskID, requestID string
	updates           chan update
}

func (r *Register) erase(ctx context.Context, q sdk.Query) (int, error) {
	final, err := r.forward(ctx, q)
	if err != nil {
		return 0, err
	}
	// Completed: the processor erased. It counted what, if it says; otherwise the erasure is all
	// the platform knows of, one.
	if final.ResultsCount != nil {
		return *final.ResultsCount, nil
	}
	return 1, nil
}

func (r *Register) lookup(ctx context.Context, q sdk.Query, w sdk.RecordWriter) error {
	final, err := r.forward(ctx, q)
	if err != nil {
		return err
	}
	if final.ResultsURL == "" {
		if final.ResultsCount != nil && *final.ResultsCount > 0 {
			return &contracts.Error{Code: contracts.ErrInternal, Retryable: false,
				Message: fmt.Sprintf("the processor completed the request with %d results but gave no results_url to fetch them from", *final.ResultsCount)}
		}
		return nil // no data held
	}
	return r.fetchResults(ctx, final.ResultsURL, w)
}

// forward sends the task's request to the processor, unless an earlier delivery did, and waits
// until the processor completes or cancels it.
func (r *Register) forward(ctx context.Context, q sdk.Query) (update, error) {
	t, ok := RequestType(q.Right)
	if !ok {
		return update{}, contracts.NewError(contracts.ErrUnsupportedOperation, "OpenDSR has no request type for %s", q.Right)
	}
	proc, err := r.discover(ctx, false)
	if err != nil {
		return update{}, err
	}
	if !proc.Supports(t) {
		return update{}, contracts.NewError(contracts.ErrUnsupportedOperation, "the processor %s takes no %s requests", r.cfg.Processor.Domain, t)
	}
	identities, err := r.identities(q, proc)
	if err != nil {
		return update{}, err
	}
	id := SubjectRequestID(q.TaskID)
	w := &waiter{taskID: q.TaskID, requestID: q.RequestID, updates: make(chan update, 8)}
	r.mu.Lock()
	r.waiting[id] = w
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, id)
		r.mu.Unlock()
	}()

	st, err := r.status(ctx, id)
	switch {
	case errors.Is(err, errUnknownRequest):
		req := opendsr.Request{SubjectRequestID: id, Regulation: "gdpr", SubjectRequestType: t, SubmittedTime: q.ReceivedAt.UTC(),
			SubjectIdentities: identities, APIVersion: opendsr.APIVersion, StatusCallbackURLs: []string{r.cfg.Callback.URL}}
		receipt, err := r.submit(ctx, req)
		if err != nil {
			return update{}, err
		}
		r.reportLater(ctx, contracts.Event{Kind: contracts.EventForwarded, TaskID: q.TaskID, RequestID: q.RequestID, Detail: map[string]string{
			"processor": r.cfg.Processor.Domain, "subject_request_id": id, "request_type": string(t), "controller_id": receipt.ControllerID,
			"received_time": receipt.ReceivedTime.Format(time.RFC3339), "expected_completion_time": receipt.ExpectedCompletionTime.Format(time.RFC3339),
			"receipt_signature": "verified"}})
	case err != nil:
		return update{}, err
	case st.Status.Final():
		return r.final(st)
	}

	withdrawn := q.Withdrawn()
	poll := time.NewTicker(r.pollEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return update{}, sdk.Unavailable(context.Cause(ctx))
		case u := <-w.updates:
			if u.Status.Final() {
				return r.final(u)
			}
		case <-poll.C:
			st, err := r.status(ctx, id)
			if err == nil && st.Status.Final() {
				return r.final(st)
			}
			if err != nil {
				r.log.Warn("the processor's status could not be read; asking again later", "task", q.TaskID, "error", err)
			}
		case <-withdrawn:
			withdrawn = nil
			cancelled, err := r.cancel(ctx, id)
			if err != nil {
				r.log.Warn("the processor did not take the cancellation; waiting for its status", "task", q.TaskID, "error", err)
			}
			if cancelled {
				return update{}, contracts.NewError(contracts.ErrCancelled, "the data subject withdrew the request, and the processor %s cancelled it before acting on it", r.cfg.Processor.Domain)
			}
		}
	}
}

// final turns a processor's final status into the task's outcome.
func (r *Register) final(u update) (update, error) {
	if u.Status == opendsr.StatusCancelled {
		return update{}, &contracts.Error{Code: contracts.ErrInternal, Retryable: false,
			Message: "the processor " + r.cfg.Processor.Domain + " cancelled the request on its own; ask it why"}
	}
	return u, nil
}

// identities are the subject's identities as the processor takes them: for each identifier of the
// task, the strongest format the processor takes among those the register's declaration allows (a
// register that stores only a hash is sent only the hash).
func (r *Register) identities(q sdk.Query, proc *discovered) ([]opendsr.Identity, error) {
	var out []opendsr.Identity
	for _, m := range append(append([]contracts.IdentifierMatch{}, r.cfg.Declaration.Identifiers...), r.cfg.Declaration.Identification.Additional...) {
		value, ok := q.Identifier(m.Type)
		if !ok {
			continue
		}
		it := r.cfg.Identities[m.Type]
		formats := []opendsr.Format{opendsr.FormatSHA256, opendsr.FormatSHA1, opendsr.FormatMD5, opendsr.FormatRaw}
		if m.Form == contracts.FormSHA256 {
			formats = []opendsr.Format{opendsr.FormatSHA256}
		}
		for _, f := range formats {
			if !proc.Takes(it, f) {
				continue
			}
			v, err := f.Hash(value)
			if err != nil {
				return nil, err
			}
			if !containsIdentity(out, it, f) {
				out = append(out, opendsr.Identity{Type: it, Value: v, Format: f})
			}
			break
		}
	}
	if len(out) == 0 {
		return nil, &contracts.Error{Code: contracts.ErrUnsupportedOperation, Retryable: false,
			Message: "the processor " + r.cfg.Processor.Domain + " takes none of the task's identifiers in a form the register's declaration allows"}
	}
	return out, nil
}

func containsIdentity(list []opendsr.Identity, t string, f opendsr.Format) bool {
	for _, i := range list {
		if i.Type == t && i.Format == f {
			return true
		}
	}
	return false
}

// errUnknownRequest: the processor has no request of this id.
var errUnknownRequest = errors.New("forward: the processor has no such request")

// discover reads the processor's discovery and its certificate, checked, and keeps them for an
// hour; again says to read them now, as after a signature that did not verify (a rotated key).
func (r *Register) discover(ctx context.Context, again bool) (*discovered, error) {
	r.mu.Lock()
	p := r.processor
	r.mu.Unlock()
	if p != nil && !again && time.Since(p.at) < rediscoverEvery {
		return p, nil
	}
	var d opendsr.Discovery
	if err := r.get(ctx, r.cfg.Processor.URL+opendsr.PathDiscovery, &d); err != nil {
		return nil, err
	}
	cu, err := url.Parse(d.ProcessorCertificate)
	if err != nil || cu.Hostname() != r.cfg.Processor.Domain || !secure(cu) {
		// The certificate must come from the processor's own domain (specification 6.3).
		return nil, &contracts.Error{Code: contracts.ErrInternal, Retryable: true,
			Message: "the processor's discovery names a certificate off its own domain " + r.cfg.Processor.Domain}
	}
	pem, err := r.fetch(ctx, d.ProcessorCertificate, 64<<10)
	if err != nil {
		return nil, err
	}
	chain, err := opendsr.ParseCertificates(pem)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	leaf, err := opendsr.CheckCertificate(chain, r.roots, r.cfg.Processor.Domain, time.Now())
	if err != nil {
		// Not retried in a hurry, but retried: the processor may be rotating its certificate.
		return nil, sdk.Unavailable(err)
	}
	p = &discovered{Discovery: d, cert: leaf, at: time.Now()}
	r.mu.Lock()
	r.processor = p
	r.mu.Unlock()
	return p, nil
}

// signed checks a signed answer of the processor: its domain header, then the signature of the
// body, once more against a freshly read certificate if the first does not verify.
func (r *Register) signed(ctx context.Context, h http.Header, body []byte) error {
	if h.Get(opendsr.HeaderProcessorDomain) != r.cfg.Processor.Domain {
		return fmt.Errorf("%w: signed for %q, not the processor's domain", opendsr.ErrUntrustedCertificate, h.Get(opendsr.HeaderProcessorDomain))
	}
	p, err := r.discover(ctx, false)
	if err != nil {
		return err
	}
	if opendsr.Verify(p.cert, body, h.Get(opendsr.HeaderSignature)) == nil {
		return nil
	}
	if p, err = r.discover(ctx, true); err != nil {
		return err
	}
	return opendsr.Verify(p.cert, body, h.Get(opendsr.HeaderSignature))
}

func (r *Register) submit(ctx context.Context, req opendsr.Request) (opendsr.Receipt, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return opendsr.Receipt{}, err
	}
	resp, data, err := r.do(ctx, http.MethodPost, r.cfg.Processor.URL+opendsr.PathRequests, body)
	if err != nil {
		return opendsr.Receipt{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return opendsr.Receipt{}, refusal(resp, data, "request")
	}
	if err := r.signed(ctx, resp.Header, data); err != nil {
		// An answer the adapter cannot attribute to the processor is no receipt: ask again later,
		// when the status query finds the request there.
		return opendsr.Receipt{}, sdk.Unavailable(fmt.Errorf("the processor's receipt: %w", err))
	}
	var receipt opendsr.Receipt
	if err := json.Unmarshal(data, &receipt); err != nil || receipt.SubjectRequestID != req.SubjectRequestID {
		return opendsr.Receipt{}, sdk.Unavailable(errors.New("the processor's receipt is not for the request sent"))
	}
	return receipt, nil
}

func (r *Register) status(ctx context.Context, id string) (update, error) {
	resp, data, err := r.do(ctx, http.MethodGet, r.cfg.Processor.URL+opendsr.PathRequests+"/"+id, nil)
	if err != nil {
		return update{}, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return update{}, errUnknownRequest
	}
	if resp.StatusCode != http.StatusOK {
		return update{}, refusal(resp, data, "status query")
	}
	if err := r.signed(ctx, resp.Header, data); err != nil {
		return update{}, sdk.Unavailable(fmt.Errorf("the processor's status: %w", err))
	}
	var st opendsr.StatusResponse
	if err := json.Unmarshal(data, &st); err != nil || st.SubjectRequestID != id || !st.RequestStatus.Valid() {
		return update{}, sdk.Unavailable(errors.New("the processor's status is not of the request asked about"))
	}
	return update{Status: st.RequestStatus, ResultsURL: st.ResultsURL, ResultsCount: st.ResultsCount}, nil
}

// cancel asks the processor to cancel a request; it reports whether it did, with a signed answer.
func (r *Register) cancel(ctx context.Context, id string) (bool, error) {
	resp, data, err := r.do(ctx, http.MethodDelete, r.cfg.Processor.URL+opendsr.PathRequests+"/"+id, nil)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return false, refusal(resp, data, "cancellation")
	}
	if err := r.signed(ctx, resp.Header, data); err != nil {
		return false, err
	}
	var c opendsr.Cancellation
	if err := json.Unmarshal(data, &c); err != nil || c.SubjectRequestID != id {
		return false, errors.New("the processor's cancellation is not of the request asked about")
	}
	return true, nil
}

// refusal is a processor's error answer as the task's: a 4xx is the processor refusing this request
// (not retried: the office sees why), anything else passing.
func refusal(resp *http.Response, data []byte, what string) error {
	var eb opendsr.ErrorBody
	_ = json.Unmarshal(data, &eb)
	msg := strconv.Itoa(resp.StatusCode)
	if eb.Error.Message != "" {
		msg += ": " + eb.Error.Message
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusUnauthorized {
		return &contracts.Error{Code: contracts.ErrInternal, Retryable: false, Message: "the processor refused the " + what + ": " + msg}
	}
	return sdk.Unavailable(fmt.Errorf("the processor's %s: %s", what, msg))
}

// do makes one call to the processor's API with the authority's token.
func (r *Register) do(ctx context.Context, method, u string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, sdk.Unavailable(fmt.Errorf("the processor: %w", err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, sdk.Unavailable(fmt.Errorf("the processor: %w", err))
	}
	return resp, data, nil
}

func (r *Register) get(ctx context.Context, u string, v any) error {
	data, err := r.fetch(ctx, u, 1<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return sdk.Unavailable(fmt.Errorf("the processor's %s: %w", u, err))
	}
	return nil
}

func (r *Register) fetch(ctx context.Context, u string, limit int64) ([]byte, error) {
	resp, data, err := r.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, sdk.Unavailable(fmt.Errorf("the processor's %s: %d", u, resp.StatusCode))
	}
	if int64(len(data)) > limit {
		return nil, sdk.Unavailable(fmt.Errorf("the processor's %s is too large", u))
	}
	return data, nil
}

// reportLater writes an event to the platform's record on its own time, within ten minutes, so that
// a task never waits on the record.
func (r *Register) reportLater(ctx context.Context, e contracts.Event) {
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		r.report(ctx, e)
	}()
}

// report writes an event to the platform's record; one that cannot be written is logged.
func (r *Register) report(ctx context.Context, e contracts.Event) {
	r.mu.Lock()
	p := r.platform
	r.mu.Unlock()
	if p == nil {
		r.log.Warn("an event for the record, with no platform to report it to", "kind", e.Kind)
		return
	}
	if err := p.Report(ctx, e); err != nil {
		r.log.Error("an event could not be written to the record", "kind", e.Kind, "task", e.TaskID, "error", err)
	}
}
