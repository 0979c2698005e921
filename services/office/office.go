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
}

// ConfigPrefix is the prefix of the office's own variables.
const ConfigPrefix = "KIRJAAMO_OFFICE_"

// DefaultConfig is the office's configuration before the environment is read.
func DefaultConfig() Config {
	return Config{SiteConfig: web.SiteConfig{Addr: "127.0.0.1:8081", ClientID: "kirjaamo-office"}}
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
		sessions: &web.Sessions{Store: deps.Sessions, Site: "office", Cookie: "kirjaamo_office", Secure: cfg.Secure(), TTL: 8 * time.Hour}}
	o.signIn = &web.Login{Client: login, Sessions: o.sessions,
		Admit: func(id oidclogin.Identity) bool { return hasAnyRole(&id) },
		Fail: func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			o.fail(w, status, map[string]string{"unavailable": "The office is not available right now. Try again in a moment.",
				"failed": "Sign-in failed. Start again.", "refused": "Your account has no registry office role."}[reason])
		},
		SignedIn: func(r *http.Request, id *oidclogin.Identity) {
			_ = o.deps.Record.Write(r.Context(), record.Entry{Actor: staffName(id), Role: strings.Join(id.Roles, ","), Action: "signed_in"})
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
	pages    map[string]*template.Template
}

func (o *office) routes() http.Handler {
	mux := http.NewServeMux()
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
	return web.Observed("office", web.Logged(o.deps.Log.With("service", "office"), web.SecurityHeaders(mux)))
}
