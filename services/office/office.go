// Package office is the registry office's side: staff sign in through OpenID Connect and get their
// roles, watch deadlines, open a case only after stating why (every view is recorded), review each
// register's outcome and approve the reply.
package office

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
)

// Config is the office's own configuration.
type Config struct {
	web.SiteConfig
	// Purposes are the purposes each role may open a case for.
	Purposes Purposes `env:"PURPOSES" doc:"the purposes a staff member may state to open a case, by role: role=purpose|purpose;role=… (roles clerk, dpo, auditor); the record keeps the one stated with every view and decision"`
	// ViewWindow is how long a view is one view: the same session reading the same case for the
	// same purpose again within it writes no new entry.
	ViewWindow time.Duration `env:"VIEW_WINDOW" doc:"repeated views of a case, its records, a list or the dev mailbox by one session for one purpose within this time are one entry of the record"`
	web.Limits
}

// ConfigPrefix is the prefix of the office's own variables.
const ConfigPrefix = "KIRJAAMO_OFFICE_"

// DefaultConfig is the office's configuration before the environment is read.
func DefaultConfig() Config {
	var purposes Purposes
	if err := purposes.UnmarshalText([]byte(DefaultPurposes)); err != nil {
		panic(err) // a constant, tested
	}
	return Config{SiteConfig: web.SiteConfig{Addr: "127.0.0.1:8081", ClientID: "kirjaamo-office"}, Purposes: purposes, ViewWindow: 10 * time.Minute,
		Limits: web.DefaultLimits()}
}

// LoadConfig reads the office's configuration from the environment.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	return cfg, config.Load(ConfigPrefix, &cfg)
}

// CallbackPath is where the identity provider sends the browser back.
const CallbackPath = web.CallbackPath

// Run serves the office until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	oidc := cfg.OIDC("openid", "profile", "email")
	// Staff have no identity code: sign-in asks the provider's userinfo only if the roles, which
	// decide what a staff member may do, are not in the ID token.
	oidc.NeededClaims = []string{"roles"}
	login, err := web.ConnectOIDC(ctx, oidc)
	if err != nil {
		return fmt.Errorf("office: %w", err)
	}
	o, err := newOffice(cfg, deps, login)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: o.routes(), ReadHeaderTimeout: 10 * time.Second}
	return web.Serve(ctx, srv, deps.Log.With("service", "office"))
}

func newOffice(cfg Config, deps Deps, login *oidclogin.Client) (*office, error) {
	pages, err := web.ParsePages(templates, funcs)
	if err != nil {
		return nil, fmt.Errorf("office: %w", err)
	}
	o := &office{cfg: cfg, deps: deps, login: login, tokens: login, pages: pages,
		sessions: &web.Sessions{Store: deps.Sessions, Site: "office", Cookie: web.CookieName("kirjaamo_office", cfg.Secure()),
			Secure: cfg.Secure(), TTL: 8 * time.Hour}}
	o.limiter = &web.Limiter{Site: "office", Limits: cfg.Limits, Counter: deps.Limits}
	// Who signs in, who is refused and who signs out is on the record: the record of who read what
	// starts there.
	write := func(r *http.Request, e record.Entry) {
		if err := o.deps.Record.Write(r.Context(), e); err != nil {
			o.deps.Log.Error("record sign-in", "action", e.Action, "error", err)
		}
	}
	o.signIn = &web.Login{Client: login, Sessions: o.sessions, PublicURL: cfg.PublicURL,
		Admit: func(id oidclogin.Identity) string {
			if !hasAnyRole(&id) {
				return "refused"
			}
			return ""
		},
		Fail: func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			o.fail(w, status, map[string]string{"unavailable": "The office is not available right now. Try again in a moment.",
				"failed": "Sign-in failed. Start again.", "refused": "Your account has no registry office role."}[reason])
		},
		SignedIn: func(r *http.Request, id *oidclogin.Identity) {
			write(r, record.Entry{Actor: staffName(id), Role: roles(id), Action: "signed_in"})
		},
		Refused: func(r *http.Request, id *oidclogin.Identity, reason string) {
			// Whoever was refused may be no staff member at all: the record names them by their subject
			// at the provider only, not by name.
			e := record.Entry{Actor: "unknown", Role: "none", Action: "sign_in_refused", Detail: map[string]any{"reason": reason}}
			if id != nil {
				e.Actor = "<" + id.Subject + ">"
			}
			write(r, e)
		},
		SignedOut: func(r *http.Request, id *oidclogin.Identity) {
			write(r, record.Entry{Actor: staffName(id), Role: roles(id), Action: "signed_out"})
		}}
	return o, nil
}

type office struct {
	cfg   Config
	deps  Deps
	login *oidclogin.Client
	// tokens verifies the ID tokens the API is called with: login, or a test's own.
	tokens   web.TokenVerifier
	sessions *web.Sessions
	signIn   *web.Login
	limiter  *web.Limiter
	pages    map[string]*template.Template
}

func (o *office) routes() http.Handler {
	return web.Observed("office", web.Logged(o.deps.Log.With("service", "office"), web.SecurityHeaders(o.limiter.PerAddress(o.mux(), o.tooMany), o.cfg.Secure())))
}

// Patterns are the routes the office serves, for the test that holds them against the API description.
func Patterns() []string {
	o, err := newOffice(DefaultConfig(), Deps{}, nil)
	if err != nil {
		panic(err) // the templates are embedded, and parsed by every test of the package
	}
	return o.mux().Patterns()
}

func (o *office) mux() *web.Mux {
	mux := web.NewMux()
	mux.Handle("GET /static/site.css", web.Static())
	mux.HandleFunc("GET /{$}", o.listCases)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) { o.signIn.Begin(w, r, "/") })
	mux.HandleFunc("GET "+CallbackPath, o.signIn.Callback)
	o.cfg.MountJWKS(mux)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) { o.signIn.SignOut(w, r, "/") })
	mux.HandleFunc("GET /cases/new", o.showRegistration)
	mux.HandleFunc("POST /cases", o.registerRequest)
	mux.HandleFunc("GET /cases/{id}", o.showCase)
	mux.HandleFunc("POST /cases/{id}/purpose", o.statePurpose)
	mux.HandleFunc("GET /cases/{id}/registers/{register}/records", o.showRecords)
	mux.HandleFunc("POST /cases/{id}/{decision}", o.decide)
	mux.HandleFunc("GET /registers", o.listRegisters)
	mux.HandleFunc("GET /processing", o.processingHeld)
	mux.HandleFunc("GET /registers/{id}", o.showRegister)
	mux.HandleFunc("POST /registers/{id}/approve", o.approveDeclaration)
	if o.deps.Mailbox != nil {
		mux.HandleFunc("GET /dev/mailbox", o.mailbox)
	}
	mux.HandleFunc("GET /api/v1/cases", o.apiList)
	mux.HandleFunc("POST /api/v1/cases", o.apiRegister)
	mux.HandleFunc("GET /api/v1/cases/{id}", o.apiShow)
	mux.HandleFunc("POST /api/v1/cases/{id}/reply", o.apiApprove)
	mux.HandleFunc("POST /api/v1/cases/{id}/verify-identity", o.apiDecideIdentity)
	mux.HandleFunc("POST /api/v1/cases/{id}/refuse-identity", o.apiDecideIdentity)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such endpoint", nil)
	})
	return mux
}

// tooMany answers a call past a rate limit: the API with a problem document, a page with a page.
func (o *office) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		web.TooMany(w, retry, "too many calls in a short time; try again after Retry-After seconds")
		return
	}
	web.RetryAfter(w, retry)
	o.fail(w, http.StatusTooManyRequests, "Too many changes in a short time. Wait a moment and try again.")
}

// withinLimit counts a state-changing call against the staff member making it, and answers the
// call itself if it is past their limit.
func (o *office) withinLimit(w http.ResponseWriter, r *http.Request, id *oidclogin.Identity) bool {
	retry, err := o.limiter.Subject(r, id.Subject)
	if err != nil {
		o.deps.Log.Warn("rate limit not counted", "error", err)
		return true
	}
	if retry > 0 {
		o.tooMany(w, r, retry)
		return false
	}
	return true
}
