// Package portal is the citizen's side: sign-in through OpenID Connect, the request form, the case
// page with the reply, the access package, and the public JSON API. Its pages are server-rendered,
// work without JavaScript, load nothing from another origin and set no cookie but the session's.
package portal

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/web"
)

// Config is the portal's own configuration: where it listens and how citizens sign in.
type Config struct {
	web.SiteConfig
}

// ConfigPrefix is the prefix of the portal's own variables.
const ConfigPrefix = "KIRJAAMO_PORTAL_"

// DefaultConfig is the portal's configuration before the environment is read.
func DefaultConfig() Config {
	return Config{SiteConfig: web.SiteConfig{Addr: "127.0.0.1:8080", ClientID: "kirjaamo-portal"}}
}

// LoadConfig reads the portal's configuration from the environment.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	return cfg, config.Load(ConfigPrefix, &cfg)
}

// CallbackPath is where the identity provider sends the browser back.
const CallbackPath = web.CallbackPath

// Run serves the portal until ctx ends.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	login, err := web.ConnectOIDC(ctx, cfg.OIDC("openid", "profile", "email", "phone"))
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	p, err := newPortal(cfg, deps, login)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	return web.Serve(ctx, srv, deps.Log.With("service", "portal"))
}

type portal struct {
	cfg   Config
	deps  Deps
	login *oidclogin.Client
	// tokens verifies the ID tokens the API is called with: login, or a test's own.
	tokens   web.TokenVerifier
	sessions *web.Sessions
	signIn   *web.Login
	pages    map[string]*template.Template
}

func newPortal(cfg Config, deps Deps, login *oidclogin.Client) (*portal, error) {
	pages, err := web.ParsePages(templates, funcs)
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	p := &portal{cfg: cfg, deps: deps, login: login, tokens: login, pages: pages,
		sessions: &web.Sessions{Store: deps.Sessions, Site: "portal", Cookie: "kirjaamo_portal", Secure: cfg.Secure(), TTL: 30 * time.Minute}}
	p.signIn = &web.Login{Client: login, Sessions: p.sessions,
		// Only strong identification with a personal identity code identifies a data subject here.
		Admit: func(id oidclogin.Identity) bool { return contracts.ValidPersonalIdentityCode(id.PersonalIdentityCode) },
		Fail: func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			if reason == "unavailable" {
				p.fail(w, r, status, "portal.try_again")
				return
			}
			p.fail(w, r, status, "portal.login_failed")
		}}
	return p, nil
}

func (p *portal) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/site.css", web.Static())
	mux.HandleFunc("GET /{$}", p.root)
	mux.HandleFunc("GET "+CallbackPath, p.signIn.Callback)
	p.cfg.MountJWKS(mux)
	// Each language has its own paths, so that a page's address says its language and no cookie has to.
	for _, l := range contracts.Languages {
		prefix := "/" + string(l)
		mux.HandleFunc("GET "+prefix+"/{$}", p.home)
		mux.HandleFunc("GET "+prefix+"/login", func(w http.ResponseWriter, r *http.Request) {
			p.signIn.Begin(w, r, prefix+"/requests")
		})
		mux.HandleFunc("POST "+prefix+"/logout", func(w http.ResponseWriter, r *http.Request) { p.signIn.SignOut(w, r, prefix+"/") })
		mux.HandleFunc("GET "+prefix+"/requests", p.listRequests)
		mux.HandleFunc("GET "+prefix+"/requests/new", p.newRequest)
		mux.HandleFunc("POST "+prefix+"/requests", p.submitRequest)
		mux.HandleFunc("GET "+prefix+"/requests/{id}", p.showRequest)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/identifiers", p.supplyPage)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/identifiers/verify", p.verifyPage)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/withdraw", p.withdrawPage)
		mux.HandleFunc("GET "+prefix+"/requests/{id}/package.json", p.downloadJSON)
		mux.HandleFunc("GET "+prefix+"/requests/{id}/package.zip", p.downloadZIP)
	}

	mux.HandleFunc("POST /api/v1/requests", p.apiSubmit)
	mux.HandleFunc("GET /api/v1/requests", p.apiList)
	mux.HandleFunc("GET /api/v1/requests/{id}", p.apiShow)
	mux.HandleFunc("POST /api/v1/requests/{id}/identifiers", p.apiSupply)
	mux.HandleFunc("POST /api/v1/requests/{id}/identifiers/verify", p.apiVerify)
	mux.HandleFunc("POST /api/v1/requests/{id}/withdraw", p.apiWithdraw)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		web.WriteProblem(w, http.StatusNotFound, "Not found", "no such endpoint", nil)
	})
	return web.Observed("portal", web.Logged(p.deps.Log.With("service", "portal"), web.SecurityHeaders(mux)))
}
