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
	"kirjaamo.dev/services/internal/platform"
	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/web"
)

// Config is the office's own configuration.
type Config struct {
	web.SiteConfig
	// DevMailbox shows the messages the dev notifier captured. Only the dev stack turns it on.
	DevMailbox bool
}

// LoadConfig reads KIRJAAMO_OFFICE_ADDR, KIRJAAMO_OFFICE_URL, KIRJAAMO_OFFICE_OIDC_ISSUER,
// KIRJAAMO_OFFICE_OIDC_CLIENT_ID, KIRJAAMO_OFFICE_OIDC_CLIENT_SECRET or _OIDC_CLIENT_KEY_FILE,
// _OIDC_ENCRYPTION_KEY_FILE, _OIDC_IDENTITY_CODE_CLAIM, _OIDC_USERINFO (see web.LoadSiteConfig) and
// KIRJAAMO_OFFICE_DEV_MAILBOX.
func LoadConfig() (Config, error) {
	site, err := web.LoadSiteConfig("KIRJAAMO_OFFICE", "127.0.0.1:8081", "kirjaamo-office")
	return Config{SiteConfig: site, DevMailbox: platform.Env("KIRJAAMO_OFFICE_DEV_MAILBOX", "") == "true"}, err
}

// CallbackPath is where the identity provider sends the browser back.
const CallbackPath = web.CallbackPath

// Run serves the office until ctx ends.
func Run(ctx context.Context, cfg Config, deps *platform.Deps) error {
	oidc := cfg.OIDC("openid", "profile", "email")
	// Staff have no identity code: sign-in asks the provider's userinfo only if the roles, which
	// decide what a staff member may do, are not in the ID token.
	oidc.NeededClaims = []string{"roles"}
	login, err := web.ConnectOIDC(ctx, oidc)
	if err != nil {
		return fmt.Errorf("office: %w", err)
	}
	pages, err := web.ParsePages(templates, funcs)
	if err != nil {
		return fmt.Errorf("office: %w", err)
	}
	o := &office{cfg: cfg, deps: deps, login: login, pages: pages,
		sessions: &web.Sessions{DB: deps.DB, Site: "office", Cookie: "kirjaamo_office", Secure: cfg.Secure(), TTL: 8 * time.Hour}}
	o.signIn = &web.Login{Client: login, Sessions: o.sessions,
		Admit: func(id oidclogin.Identity) bool { return hasAnyRole(&id) },
		Fail: func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			o.fail(w, status, map[string]string{"unavailable": "The office is not available right now. Try again in a moment.",
				"failed": "Sign-in failed. Start again.", "refused": "Your account has no registry office role."}[reason])
		},
		SignedIn: func(r *http.Request, id *oidclogin.Identity) {
			_ = o.deps.DB.Audit(r.Context(), store.AuditEvent{Actor: staffName(id), Role: strings.Join(id.Roles, ","), Action: "signed_in"})
		}}
	srv := &http.Server{Addr: cfg.Addr, Handler: o.routes(), ReadHeaderTimeout: 10 * time.Second}
	return web.Serve(ctx, srv, deps.Log.With("service", "office"))
}

type office struct {
	cfg      Config
	deps     *platform.Deps
	login    *oidclogin.Client
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
	if o.cfg.DevMailbox {
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
	return web.Logged(o.deps.Log.With("service", "office"), web.SecurityHeaders(mux))
}
