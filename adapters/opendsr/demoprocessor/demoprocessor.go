// Package demoprocessor is a demo OpenDSR processor: a web analytics vendor that keeps page-view
// events under visitors' hashed e-mail addresses (as the pixels and analytics of public sites did),
// speaking the protocol for real over HTTPS, with its own key and a certificate issued for its
// domain. The dev stack runs it as the vendor behind Kela's web statistics, and the OpenDSR adapter's
// tests run against it. It takes identities as SHA-256 of the lower-case address only, answers and
// calls back signed, completes a request after a delay, and can be cancelled while pending.
package demoprocessor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"kirjaamo.dev/adapters/opendsr"
)

// Event is one page view the vendor holds on a visitor.
type Event struct {
	Page string `json:"page"`
	At   string `json:"at"`
}

// Config is the demo processor's configuration.
type Config struct {
	// Domain is its OpenDSR domain, which its certificate is issued for.
	Domain string
	// Listen is where it listens, host:port.
	Listen string
	// KeyFile and CertFile are its RSA key and certificate (devcerts): they sign and serve TLS.
	KeyFile, CertFile string
	// Token is the bearer token the controller calls it with.
	Token string
	// ControllerID is the controller's id in the vendor's system.
	ControllerID string
	// Delay is how long a request stays pending, and then in progress, before it is completed.
	Delay time.Duration
	// Visitors are the events it holds, by e-mail address (stored as the address's SHA-256).
	Visitors map[string][]Event
	Logger   *slog.Logger
}

// Processor is a running demo processor.
type Processor struct {
	cfg    Config
	signer *opendsr.Signer
	base   string
	client *http.Client

	mu       sync.Mutex
	events   map[string][]Event // by SHA-256 of the address
	requests map[string]*request
	// Callbacks counts the signed callbacks the controller accepted.
	callbacks int
}

type request struct {
	opendsr.Request
	raw      []byte
	received time.Time
	status   opendsr.Status
	count    *int
	results  []Event
}

// BasePath is where its endpoints are, below its address.
const BasePath = "/opendsr/v1"

// New makes the processor; Serve runs it.
func New(cfg Config) (*Processor, error) {
	signer, err := opendsr.LoadSigner(cfg.KeyFile, cfg.CertFile)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Processor{cfg: cfg, signer: signer, events: map[string][]Event{}, requests: map[string]*request{},
		client: &http.Client{Timeout: 10 * time.Second}}
	for email, evs := range cfg.Visitors {
		p.events[HashEmail(email)] = evs
	}
	return p, nil
}

// HashEmail is how the vendor keys a visitor: the SHA-256 of the trimmed, lower-case address.
func HashEmail(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// URL is the base of its endpoints, once Serve listens.
func (p *Processor) URL() string { return p.base }

// Holds reports how many events the vendor holds on an address.
func (p *Processor) Holds(email string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events[HashEmail(email)])
}

// Status is where a request stands at the vendor, "" if it has none of the id.
func (p *Processor) Status(id string) opendsr.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.requests[id]; r != nil {
		return r.status
	}
	return ""
}

// Listen binds the processor's address; URL is known from then on. Serve serves on it.
func (p *Processor) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("demoprocessor: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p.base = "https://" + net.JoinHostPort(p.cfg.Domain, port) + BasePath
	return ln, nil
}

// Serve serves the processor over TLS on ln until ctx ends.
func (p *Processor) Serve(ctx context.Context, ln net.Listener) error {
	cert, err := tls.LoadX509KeyPair(p.cfg.CertFile, p.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("demoprocessor: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	p.cfg.Logger.Info("demo OpenDSR processor serving", "url", p.base)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// Handler is the processor's endpoints.
func (p *Processor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+BasePath+opendsr.PathDiscovery, p.discovery)
	mux.HandleFunc("GET "+BasePath+"/cert.pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(p.signer.CertificatePEM())
	})
	mux.HandleFunc("POST "+BasePath+opendsr.PathRequests, p.authorized(p.submit))
	mux.HandleFunc("GET "+BasePath+opendsr.PathRequests+"/{id}", p.authorized(p.status))
	mux.HandleFunc("DELETE "+BasePath+opendsr.PathRequests+"/{id}", p.authorized(p.cancel))
	mux.HandleFunc("GET "+BasePath+"/results/{id}", p.authorized(p.results))
	return mux
}

func (p *Processor) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, opendsr.Discovery{APIVersion: opendsr.APIVersion,
		SupportedIdentities:          []opendsr.SupportedIdentity{{Type: opendsr.IdentityEmail, Format: opendsr.FormatSHA256}},
		SupportedSubjectRequestTypes: []opendsr.RequestType{opendsr.TypeAccess, opendsr.TypePortability, opendsr.TypeErasure},
		ProcessorCertificate:         p.base + "/cert.pem"})
}

func (p *Processor) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.cfg.Token)) != 1 {
			fail(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next(w, r)
	}
}

func (p *Processor) submit(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		fail(w, http.StatusBadRequest, "the body is too large")
		return
	}
	var req opendsr.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		fail(w, http.StatusBadRequest, "the body is not an OpenDSR request")
		return
	}
	switch {
	case req.SubjectRequestID == "":
		fail(w, http.StatusBadRequest, "subject_request_id field is required")
		return
	case !req.SubjectRequestType.Valid():
		fail(w, http.StatusBadRequest, "subject_request_type is not supported")
		return
	case len(req.SubjectIdentities) == 0:
		fail(w, http.StatusBadRequest, "subject_identities field is required")
		return
	}
	for _, id := range req.SubjectIdentities {
		if id.Type != opendsr.IdentityEmail || id.Format != opendsr.FormatSHA256 {
			fail(w, http.StatusBadRequest, "only email identities as sha256 are taken")
			return
		}
	}
	p.mu.Lock()
	rq := p.requests[req.SubjectRequestID]
	if rq == nil {
		rq = &request{Request: req, raw: raw, received: time.Now().UTC(), status: opendsr.StatusPending}
		p.requests[req.SubjectRequestID] = rq
		go p.process(req.SubjectRequestID)
	}
	receipt := opendsr.Receipt{ControllerID: p.cfg.ControllerID, ExpectedCompletionTime: rq.received.Add(30 * 24 * time.Hour),
		ReceivedTime: rq.received, EncodedRequest: base64.StdEncoding.EncodeToString(rq.raw), SubjectRequestID: req.SubjectRequestID}
	p.mu.Unlock()
	p.signed(w, http.StatusCreated, receipt, true)
}

func (p *Processor) status(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rq := p.requests[r.PathValue("id")]
	var st opendsr.StatusResponse
	if rq != nil {
		st = p.statusOf(rq)
	}
	p.mu.Unlock()
	if rq == nil {
		fail(w, http.StatusNotFound, "no such request")
		return
	}
	p.signed(w, http.StatusOK, st, false)
}

func (p *Processor) statusOf(rq *request) opendsr.StatusResponse {
	st := opendsr.StatusResponse{ControllerID: p.cfg.ControllerID, ExpectedCompletionTime: rq.received.Add(30 * 24 * time.Hour),
		SubjectRequestID: rq.SubjectRequestID, RequestStatus: rq.status, APIVersion: opendsr.APIVersion, ResultsCount: rq.count}
	if rq.status == opendsr.StatusCompleted && rq.SubjectRequestType != opendsr.TypeErasure && rq.count != nil && *rq.count > 0 {
		st.ResultsURL = p.base + "/results/" + rq.SubjectRequestID
	}
	return st
}

func (p *Processor) cancel(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rq := p.requests[r.PathValue("id")]
	switch {
	case rq == nil:
		p.mu.Unlock()
		fail(w, http.StatusNotFound, "no such request")
		return
	case rq.status != opendsr.StatusPending:
		p.mu.Unlock()
		fail(w, http.StatusBadRequest, "a request can be cancelled only while pending")
		return
	}
	rq.status = opendsr.StatusCancelled
	c := opendsr.Cancellation{ControllerID: p.cfg.ControllerID, SubjectRequestID: rq.SubjectRequestID, ReceivedTime: time.Now().UTC(),
		APIVersion: opendsr.APIVersion}
	p.mu.Unlock()
	p.signed(w, http.StatusAccepted, c, false)
	go p.callBack(rq.SubjectRequestID)
}

func (p *Processor) results(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rq := p.requests[r.PathValue("id")]
	var out []Event
	if rq != nil {
		out = rq.results
	}
	p.mu.Unlock()
	if rq == nil || rq.status != opendsr.StatusCompleted {
		fail(w, http.StatusNotFound, "no such results")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// process moves a request on: pending, in progress, then completed, a delay apart, with a callback
// at each change.
func (p *Processor) process(id string) {
	time.Sleep(p.cfg.Delay)
	p.mu.Lock()
	rq := p.requests[id]
	if rq.status != opendsr.StatusPending {
		p.mu.Unlock()
		return
	}
	rq.status = opendsr.StatusInProgress
	p.mu.Unlock()
	p.callBack(id)
	time.Sleep(p.cfg.Delay)
	p.mu.Lock()
	n := 0
	for _, ident := range rq.SubjectIdentities {
		evs := p.events[ident.Value]
		n += len(evs)
		if rq.SubjectRequestType == opendsr.TypeErasure {
			delete(p.events, ident.Value)
		} else {
			rq.results = append(rq.results, evs...)
		}
	}
	rq.count, rq.status = &n, opendsr.StatusCompleted
	p.mu.Unlock()
	p.callBack(id)
}

// callBack sends the request's status to each of its callback URLs, signed, trying each a few times.
func (p *Processor) callBack(id string) {
	p.mu.Lock()
	rq := p.requests[id]
	st := p.statusOf(rq)
	urls := rq.StatusCallbackURLs
	p.mu.Unlock()
	for _, u := range urls {
		body, _ := json.Marshal(opendsr.Callback{ControllerID: st.ControllerID, ExpectedCompletionTime: st.ExpectedCompletionTime,
			StatusCallbackURL: u, SubjectRequestID: st.SubjectRequestID, RequestStatus: st.RequestStatus, ResultsURL: st.ResultsURL,
			ResultsCount: st.ResultsCount})
		for attempt, wait := 0, 200*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
			err := p.post(u, body)
			if err == nil {
				p.mu.Lock()
				p.callbacks++
				p.mu.Unlock()
				break
			}
			p.cfg.Logger.Warn("demo processor: callback failed", "request", id, "error", err)
			time.Sleep(wait)
		}
	}
}

func (p *Processor) post(u string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(opendsr.HeaderProcessorDomain, p.cfg.Domain)
	req.Header.Set(opendsr.HeaderSignature, p.signer.Sign(body))
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(resp.Status)
	}
	return nil
}

// signed writes an answer with the processor's domain and signature; a receipt carries the
// signature in its body too (processor_signature, specification 7.3), over the body without it.
func (p *Processor) signed(w http.ResponseWriter, status int, v any, inBody bool) {
	body, _ := json.Marshal(v)
	if inBody {
		if rc, ok := v.(opendsr.Receipt); ok {
			rc.ProcessorSignature = p.signer.Sign(body)
			body, _ = json.Marshal(rc)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(opendsr.HeaderProcessorDomain, p.cfg.Domain)
	w.Header().Set(opendsr.HeaderSignature, p.signer.Sign(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Sign signs a body as the processor, for tests that play a callback.
func (p *Processor) Sign(body []byte) string { return p.signer.Sign(body) }

// Callbacks is how many signed callbacks the controller took.
func (p *Processor) Callbacks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.callbacks
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, opendsr.ErrorBody{Error: opendsr.ErrorObject{Code: status, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
