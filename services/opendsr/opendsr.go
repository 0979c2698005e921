// Package opendsr is the authority as an OpenDSR processor, for controllers that send requests to
// it: another authority or a company that holds a request a person made of them and passes it on.
// It serves the processor's endpoints (/opendsr/v1/discovery, POST /opendsr/v1/opengdpr_requests,
// GET for the status and DELETE to cancel), each controller authenticated by its bearer token; every
// answer is signed with the platform's key, whose certificate discovery names, and so is every
// status callback. A request received this way becomes a request of the api channel with the
// controller named as its requester, started through the request workflow's client and handled by
// the same rules and deadlines as any other.
package opendsr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	wire "kirjaamo.dev/adapters/opendsr"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/internal/config"
	stored "kirjaamo.dev/services/internal/store/opendsr"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// Config is the OpenDSR service's configuration.
type Config struct {
	Addr string `env:"ADDR" default:"127.0.0.1:8082" doc:"where the OpenDSR processor endpoints listen, host:port"`
	// URL is where controllers reach the endpoints; its host is the authority's OpenDSR domain.
	URL             string        `env:"URL" required:"" doc:"where controllers reach the OpenDSR endpoints, e.g. https://opendsr.kirjaamo.example.fi; its host is the OpenDSR domain the certificate must name"`
	SigningKeyFile  string        `env:"SIGNING_KEY_FILE" required:"" doc:"the RSA key (PEM, 2048 bits or more) that signs every OpenDSR answer and status callback"`
	CertificateFile string        `env:"CERTIFICATE_FILE" required:"" doc:"its certificate chain (PEM, leaf first), issued by a CA for the OpenDSR domain, published at /opendsr/v1/certificate.pem"`
	ControllersFile string        `env:"CONTROLLERS_FILE" required:"" doc:"the controllers allowed to send requests (JSON): id, name, the SHA-256 of each one's bearer token, the identity level it vouches for, the language of its requests"`
	CallbackEvery   time.Duration `env:"CALLBACK_EVERY" default:"5s" doc:"how often the status of the controllers' requests is looked at for callbacks"`

	signer      *wire.Signer
	controllers []Controller
	domain      string
}

// ConfigPrefix is the prefix of the service's variables.
const ConfigPrefix = "KIRJAAMO_OPENDSR_"

// LoadConfig reads the configuration from the environment.
func LoadConfig() (Config, error) {
	var cfg Config
	return cfg, config.Load(ConfigPrefix, &cfg)
}

// Controller is a controller allowed to send requests.
type Controller struct {
	// ID is its controller_id in the answers.
	ID string `json:"id"`
	// Name is how the office and the record name it, as the request's requester.
	Name string `json:"name"`
	// TokenSHA256 is the hex SHA-256 of its bearer token: the authority keeps no token itself.
	TokenSHA256 string `json:"token_sha256"`
	// IdentityLevel is how strongly the controller verified its requesters' identity, by agreement:
	// basic, substantial or high (the rules ask for what a register's data call for).
	IdentityLevel rules.IdentityLevel `json:"identity_level"`
	// Language is the language of its requests' notices: fi, sv or en.
	Language string `json:"language"`
}

// Check loads the key, the certificate and the controllers, and refuses what cannot serve.
func (c *Config) Check() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, errors.New("_URL must be an absolute http(s) URL"))
	} else {
		c.domain = u.Hostname()
	}
	if c.signer, err = wire.LoadSigner(c.SigningKeyFile, c.CertificateFile); err != nil {
		errs = append(errs, fmt.Errorf("_SIGNING_KEY_FILE, _CERTIFICATE_FILE: %w", err))
	} else if c.domain != "" && c.signer.Certificate().VerifyHostname(c.domain) != nil {
		errs = append(errs, fmt.Errorf("_CERTIFICATE_FILE: the certificate is not issued for %s", c.domain))
	}
	if c.controllers, err = ReadControllers(c.ControllersFile); err != nil {
		errs = append(errs, fmt.Errorf("_CONTROLLERS_FILE: %w", err))
	}
	return errors.Join(errs...)
}

// ReadControllers reads and checks a controllers file.
func ReadControllers(path string) ([]Controller, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []Controller
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	var problems []string
	for i, c := range list {
		if c.ID == "" || c.Name == "" {
			problems = append(problems, fmt.Sprintf("controller %d: id and name are required", i+1))
		}
		if b, err := hex.DecodeString(c.TokenSHA256); err != nil || len(b) != sha256.Size {
			problems = append(problems, fmt.Sprintf("controller %s: token_sha256 must be a hex SHA-256", c.ID))
		}
		if !slices.Contains([]rules.IdentityLevel{rules.IdentityBasic, rules.IdentitySubstantial, rules.IdentityHigh}, c.IdentityLevel) {
			problems = append(problems, fmt.Sprintf("controller %s: identity_level must be basic, substantial or high", c.ID))
		}
		if !slices.Contains(contracts.Languages, contracts.Language(c.Language)) {
			problems = append(problems, fmt.Sprintf("controller %s: language must be fi, sv or en", c.ID))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return list, nil
}

// Deps are what the service runs on.
type Deps struct {
	Requests Requests
	Store    Store
	Log      *slog.Logger
}

// Requests is the request workflow as the service uses it (*request.Client).
type Requests interface {
	Start(ctx context.Context, in request.Input) error
	Withdraw(ctx context.Context, requestID string, w request.Withdrawal) (request.State, error)
}

// Store keeps the controllers' requests (*opendsr.Store).
type Store interface {
	Save(ctx context.Context, r stored.Request) (stored.Request, error)
	Find(ctx context.Context, controllerID, subjectRequestID string) (stored.Request, error)
	Unsent(ctx context.Context, limit int) ([]stored.Request, error)
	MarkSent(ctx context.Context, requestID, status string) error
}

// Run serves the endpoints and sends the callbacks until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if cfg.signer == nil { // not from LoadConfig, which checks it
		if err := cfg.Check(); err != nil {
			return fmt.Errorf("opendsr: %w", err)
		}
	}
	s := newService(cfg, deps)
	go s.callbacks(ctx)
	srv := &http.Server{Addr: cfg.Addr, Handler: web.Logged(deps.Log, s.mux()), ReadHeaderTimeout: 10 * time.Second}
	return web.Serve(ctx, srv, deps.Log)
}

type service struct {
	cfg    Config
	deps   Deps
	client *http.Client
}

func newService(cfg Config, deps Deps) *service {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &service{cfg: cfg, deps: deps, client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Base is where the endpoints are, below the service's address.
const Base = "/opendsr/v1"

// Patterns are the routes the service serves, for the test that holds them against the API description.
func Patterns() []string { return newService(Config{}, Deps{}).mux().Patterns() }

func (s *service) mux() *web.Mux {
	mux := web.NewMux()
	mux.HandleFunc("GET "+Base+wire.PathDiscovery, s.discovery)
	mux.HandleFunc("GET "+Base+"/certificate.pem", s.certificate)
	mux.HandleFunc("POST "+Base+wire.PathRequests, s.submit)
	mux.HandleFunc("GET "+Base+wire.PathRequests+"/{subject_request_id}", s.status)
	mux.HandleFunc("DELETE "+Base+wire.PathRequests+"/{subject_request_id}", s.cancel)
	return mux
}
