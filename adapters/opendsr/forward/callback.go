package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// Serve runs the callback endpoint for as long as the adapter runs (sdk.Service).
func (r *Register) Serve(ctx context.Context, platform sdk.Platform) error {
	r.mu.Lock()
	r.platform = platform
	r.mu.Unlock()
	cb, _ := url.Parse(r.cfg.Callback.URL)
	path := cb.EscapedPath()
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+path, r.callback)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", r.cfg.Callback.Listen)
	if err != nil {
		return fmt.Errorf("forward: callback endpoint: %w", err)
	}
	r.log.Info("callback endpoint listening", "addr", ln.Addr().String(), "path", path)
	errc := make(chan error, 1)
	go func() {
		if r.cfg.Callback.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, r.cfg.Callback.TLSCertFile, r.cfg.Callback.TLSKeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("forward: callback endpoint: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return nil
}

// callbackLimit bounds a callback's body: a status is a few hundred bytes.
const callbackLimit = 64 << 10

// callback takes one status callback (specification 8.8, security guidelines "Callback
// validation"): the domain header must be the processor's, the signature must verify over the body
// as received before the body is read at all, and the body must be addressed to this endpoint.
// Anything else is refused, answered 401 (not the processor's domain or certificate), 403 (no or a
// bad signature) or 400 (not a callback for this endpoint), and written to the platform's record.
func (r *Register) callback(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, callbackLimit))
	if err != nil {
		r.refuse(req.Context(), w, http.StatusRequestEntityTooLarge, "the body is too large", body)
		return
	}
	if d := req.Header.Get(opendsr.HeaderProcessorDomain); d != r.cfg.Processor.Domain {
		r.refuse(req.Context(), w, http.StatusUnauthorized, "signed for another domain than the processor's", body)
		return
	}
	if err := r.signed(req.Context(), req.Header, body); err != nil {
		switch {
		case errors.Is(err, opendsr.ErrBadSignature):
			reason := "the signature does not verify against the processor's certificate"
			if strings.TrimSpace(req.Header.Get(opendsr.HeaderSignature)) == "" {
				reason = "unsigned"
			}
			r.refuse(req.Context(), w, http.StatusForbidden, reason, body)
		case errors.Is(err, opendsr.ErrUntrustedCertificate):
			r.refuse(req.Context(), w, http.StatusUnauthorized, "the processor's certificate is not trusted", body)
		default:
			// The processor's discovery could not be read: nothing was refused, the processor
			// retries its callback.
			http.Error(w, "try again later", http.StatusServiceUnavailable)
		}
		return
	}
	var cb opendsr.Callback
	if err := json.Unmarshal(body, &cb); err != nil || !cb.RequestStatus.Valid() {
		r.refuse(req.Context(), w, http.StatusBadRequest, "signed, but not a status callback", body)
		return
	}
	if cb.StatusCallbackURL != r.cfg.Callback.URL {
		r.refuse(req.Context(), w, http.StatusBadRequest, "signed, but for another callback URL", body)
		return
	}
	r.mu.Lock()
	wt := r.waiting[cb.SubjectRequestID]
	r.mu.Unlock()
	if wt != nil {
		select {
		case wt.updates <- update{Status: cb.RequestStatus, ResultsURL: cb.ResultsURL, ResultsCount: cb.ResultsCount}:
		default: // a task that is behind on its updates polls the status instead
		}
	}
	// A callback of a request no task here waits for is taken all the same: another instance's, or
	// one that finished. The task that waits polls the processor's signed status.
	w.WriteHeader(http.StatusAccepted)
}

// refuse answers a refused callback and writes it to the platform's record. The body is not read
// for what it says; only the id it claims, unverified, is kept, so that the refusal shows on the
// case of a request this adapter is forwarding.
func (r *Register) refuse(ctx context.Context, w http.ResponseWriter, status int, reason string, body []byte) {
	http.Error(w, reason, status)
	e := contracts.Event{Kind: contracts.EventCallbackRefused, Detail: map[string]string{"reason": reason,
		"status": fmt.Sprint(status), "processor": r.cfg.Processor.Domain}}
	var claimed struct {
		SubjectRequestID string `json:"subject_request_id"`
	}
	if json.Unmarshal(body, &claimed) == nil && claimed.SubjectRequestID != "" {
		r.mu.Lock()
		wt := r.waiting[claimed.SubjectRequestID]
		r.mu.Unlock()
		if wt != nil {
			e.TaskID, e.RequestID = wt.taskID, wt.requestID
			e.Detail["claimed_subject_request_id"] = claimed.SubjectRequestID
		}
	}
	r.log.Warn("callback refused", "reason", reason, "status", status, "task", e.TaskID)
	r.reportLater(ctx, e)
}

// fetchResults reads a lookup's results from the processor's results_url, which must be on its own
// domain, with the authority's token. OpenDSR leaves the results' form open (specification 1); this
// adapter reads a JSON array of flat objects, or JSON Lines of them, each object one record of the
// configured category, its values as text.
func (r *Register) fetchResults(ctx context.Context, resultsURL string, w sdk.RecordWriter) error {
	u, err := url.Parse(resultsURL)
	if err != nil || u.Hostname() != r.cfg.Processor.Domain || !secure(u) {
		return &contracts.Error{Code: contracts.ErrInternal, Retryable: false,
			Message: "the processor's results_url is off its own domain " + r.cfg.Processor.Domain + "; not fetched"}
	}
	resp, data, err := r.do(ctx, http.MethodGet, resultsURL, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return sdk.Unavailable(fmt.Errorf("the processor's results: %d", resp.StatusCode))
	}
	var objects []map[string]any
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &objects); err != nil {
			return notResults(err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var o map[string]any
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				return notResults(err)
			}
			objects = append(objects, o)
		}
	}
	for _, o := range objects {
		fields := make(map[string]string, len(o))
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch v := o[k].(type) {
			case string:
				fields[k] = v
			case nil:
				fields[k] = ""
			default:
				b, _ := json.Marshal(v)
				fields[k] = string(b)
			}
		}
		if err := w.Write(contracts.Record{Category: r.cfg.ResultsCategory, Fields: fields}); err != nil {
			return err
		}
	}
	return nil
}

func notResults(err error) error {
	return &contracts.Error{Code: contracts.ErrInternal, Retryable: false,
		Message: "the processor's results are neither a JSON array of objects nor JSON Lines: " + err.Error()}
}
