// Package forward is a register whose data an external processor holds, served by forwarding each of
// its tasks to the processor over OpenDSR, with no code: a configuration file names the processor,
// maps the platform's identifiers to OpenDSR identity types, and carries the register's declaration
// (kirjaamo-opendsr-adapter -config FILE). The adapter is the platform's controller side of the
// protocol:
//
//   - it asks the processor's discovery which request types and identities it takes, and fetches the
//     certificate it names, which must be issued for the processor's domain by a trusted authority;
//   - a lookup (access, portability) or an erasure becomes an OpenDSR request of that type, with the
//     subject's identities hashed in the strongest format the processor takes, and only those the
//     platform sent (the identifiers the register's declaration, approved by the DPO, says it
//     matches); a hashed address is still personal data, and is sent only where a raw one would be;
//   - the processor's signed receipt goes to the platform's record (contracts.EventForwarded);
//   - the task waits for the processor's status: every callback is verified against the
//     certificate, on the processor's declared domain, before it is read, and one that is unsigned
//     or badly signed is refused and written to the record (contracts.EventCallbackRefused); a
//     signed status answer, polled now and then, completes a task whose callback never came;
//   - completed turns into the register's answer (applied, or no data held if the processor counted
//     none; for a lookup, the records at its results_url), and a withdrawn request is cancelled at
//     the processor (DELETE) while it is still pending there.
package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/contracts"
)

// Config is a forwarding register's configuration file.
type Config struct {
	// Declaration is the register's declaration, as for any register: the DPO approves it, and the
	// platform sends the register only the identifiers it declares and the operations it declares.
	// A forwarding register declares lookup, erase or both: OpenDSR has no other request types.
	Declaration contracts.Declaration `json:"declaration"`
	Processor   Processor             `json:"processor"`
	// Identities maps each identifier type the declaration matches to the OpenDSR identity type the
	// processor knows it by, e.g. {"email": "email"}.
	Identities map[contracts.IdentifierType]string `json:"identities"`
	Callback   Callback                            `json:"callback"`
	// PollEvery is how often a waiting task asks the processor for its status, in case a callback
	// was lost (Go duration, default "5m").
	PollEvery string `json:"poll_every,omitempty"`
	// ResultsCategory is the category of the records a lookup brings back from the processor's
	// results_url, e.g. "web analytics events". Required with lookup.
	ResultsCategory string `json:"results_category,omitempty"`
}

// Processor is the OpenDSR processor the register's data are at.
type Processor struct {
	// URL is the base of its endpoints, with the major version (specification 3.4), e.g.
	// https://opendsr.vendor.example/v1: discovery at URL/discovery, requests at
	// URL/opengdpr_requests.
	URL string `json:"url"`
	// Domain is its OpenDSR domain: the URL's host, the certificate's name, and what its answers and
	// callbacks must say in X-OpenGDPR-Processor-Domain.
	Domain string `json:"domain"`
	// CAFile holds the certificate authorities (PEM) trusted for its certificate, and for its TLS;
	// the system's when empty.
	CAFile string `json:"ca_file,omitempty"`
	// TokenFile holds the bearer token the processor gave the authority for its API (OpenDSR leaves
	// API authentication to the processor, specification 4.3). Empty: none is sent.
	TokenFile string `json:"token_file,omitempty"`
}

// Callback is the adapter's endpoint for the processor's status callbacks.
type Callback struct {
	// Listen is where the endpoint listens, host:port.
	Listen string `json:"listen"`
	// URL is where the processor reaches it, as sent in status_callback_urls: https, or http on the
	// loopback only (dev). The path of the URL is the path served.
	URL string `json:"url"`
	// TLSCertFile and TLSKeyFile, if set, make the endpoint serve TLS itself rather than behind a
	// terminating proxy.
	TLSCertFile string `json:"tls_cert_file,omitempty"`
	TLSKeyFile  string `json:"tls_key_file,omitempty"`
}

// ReadConfig reads and checks a configuration file.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("forward: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig reads and checks a configuration.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("forward: configuration: %w", err)
	}
	return cfg, cfg.Check()
}

// forwarded are the operations OpenDSR can carry, and the request type of each right.
var forwarded = []contracts.Operation{contracts.OpLookup, contracts.OpErase}

// RequestType is the OpenDSR request type that carries out a right at the register, if any.
func RequestType(r contracts.Right) (opendsr.RequestType, bool) {
	switch r {
	case contracts.RightAccess:
		return opendsr.TypeAccess, true
	case contracts.RightPortability:
		return opendsr.TypePortability, true
	case contracts.RightErasure:
		return opendsr.TypeErasure, true
	case contracts.RightRectification, contracts.RightRestriction, contracts.RightObjection:
	}
	return "", false
}

// Check reports every problem of the configuration.
func (c *Config) Check() error {
	var problems []string
	if err := c.Declaration.Validate(); err != nil {
		problems = append(problems, "declaration: "+err.Error())
	}
	for _, op := range c.Declaration.Operations {
		if !slices.Contains(forwarded, op) {
			problems = append(problems, fmt.Sprintf("the declaration declares %s, which OpenDSR cannot carry: only lookup (access, portability) and erase", op))
		}
	}
	declared := c.Declaration.IdentifierTypes()
	for _, t := range declared {
		if c.Identities[t] == "" {
			problems = append(problems, fmt.Sprintf("identities: the declaration matches %s, which is mapped to no OpenDSR identity type", t))
		}
	}
	for t, it := range c.Identities {
		if !slices.Contains(declared, t) {
			problems = append(problems, fmt.Sprintf("identities: %s is not an identifier the declaration matches, and the platform never sends it", t))
		}
		if it == "" {
			problems = append(problems, fmt.Sprintf("identities: %s maps to no identity type", t))
		}
	}
	if c.Declaration.Supports(contracts.OpLookup) && c.ResultsCategory == "" {
		problems = append(problems, "results_category is required with lookup: the category of the records the processor returns")
	}
	u, err := url.Parse(c.Processor.URL)
	switch {
	case err != nil || u.Host == "":
		problems = append(problems, "processor.url must be an absolute URL")
	case !secure(u):
		problems = append(problems, "processor.url must be https (http only on the loopback)")
	case u.Hostname() != c.Processor.Domain:
		problems = append(problems, fmt.Sprintf("processor.domain %q must be processor.url's host, %q", c.Processor.Domain, u.Hostname()))
	}
	cb, err := url.Parse(c.Callback.URL)
	switch {
	case err != nil || cb.Host == "":
		problems = append(problems, "callback.url must be an absolute URL")
	case !secure(cb):
		problems = append(problems, "callback.url must be https (http only on the loopback)")
	}
	if c.Callback.Listen == "" {
		problems = append(problems, "callback.listen is required: where the callback endpoint listens")
	}
	if (c.Callback.TLSCertFile == "") != (c.Callback.TLSKeyFile == "") {
		problems = append(problems, "callback.tls_cert_file and callback.tls_key_file come together")
	}
	if _, err := c.pollEvery(); err != nil {
		problems = append(problems, "poll_every: "+err.Error())
	}
	if len(problems) > 0 {
		return errors.New("forward: the configuration of " + c.Declaration.RegisterID + ":\n\t" + strings.Join(problems, "\n\t"))
	}
	return nil
}

func (c *Config) pollEvery() (time.Duration, error) {
	if c.PollEvery == "" {
		return 5 * time.Minute, nil
	}
	d, err := time.ParseDuration(c.PollEvery)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 5m, not %q", c.PollEvery)
	}
	return d, nil
}

// secure reports whether a URL is https, or http to the loopback (dev and tests).
func secure(u *url.URL) bool {
	if u.Scheme == "https" {
		return true
	}
	if u.Scheme != "http" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
