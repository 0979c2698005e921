// Package portal is the citizen's side: sign-in through OpenID Connect, the request form, the case
// page with the reply, the access package, and the public JSON API. Its pages are server-rendered,
// work without JavaScript, load nothing from another origin and set no cookie but the session's.
package portal

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/web"
)

// Config is the portal's own configuration: where it listens, how citizens sign in, and where they
// reach the registry office.
type Config struct {
	web.SiteConfig
	// ContactEmail is the registry office's address on the help page, the accessibility statement
	// and the privacy notice.
	ContactEmail string `env:"CONTACT_EMAIL" required:"" doc:"the registry office's e-mail address that the portal's help page, accessibility statement and privacy notice give for questions and feedback"`
	// MinAssurance is the lowest level of assurance of an identification the portal accepts.
	MinAssurance string `env:"MIN_ASSURANCE" doc:"the lowest level of assurance of identification admitted (eIDAS): substantial or high (Suomi.fi's loa2, loa3); basic admits any; a lower one is refused with a page that says so"`
	// ACRValues are asked for at sign-in, space-separated, as Suomi.fi requires.
	ACRValues string `env:"OIDC_ACR_VALUES" doc:"the authentication context classes asked for at sign-in (acr_values), space-separated, e.g. http://ftn.ficora.fi/2017/loa2 http://ftn.ficora.fi/2017/loa3 at Suomi.fi; unset asks for none"`
	RequestLimits
}

// RequestLimits are the portal's rate limits: those on every state-changing call, and on requests.
type RequestLimits struct {
	web.Limits
	// SubmissionsPerHour bounds the requests one person sends in an hour; MaxOpenRequests, how many
	// of theirs may be open at once.
	SubmissionsPerHour int `env:"SUBMISSIONS_PER_HOUR" doc:"requests one person may send in an hour, through the form and the API together; past it, 429 with Retry-After"`
	MaxOpenRequests    int `env:"MAX_OPEN_REQUESTS" doc:"requests one person may have open (not yet answered) at once; past it, a new one is refused with 429 until one is answered or withdrawn"`
}

// Check refuses limits that would let no request through.
func (l *RequestLimits) Check() error {
	if l.SubmissionsPerHour < 1 || l.MaxOpenRequests < 1 {
		return errors.New("_SUBMISSIONS_PER_HOUR and _MAX_OPEN_REQUESTS must be positive")
	}
	return nil
}

// Check refuses a level of assurance that is not one, and limits that let nothing through.
func (c *Config) Check() error {
	return errors.Join(checkAssurance(c.MinAssurance), c.RequestLimits.Check(), c.Limits.Check())
}

// ConfigPrefix is the prefix of the portal's own variables.
const ConfigPrefix = "KIRJAAMO_PORTAL_"

// DefaultConfig is the portal's configuration before the environment is read.
func DefaultConfig() Config {
	return Config{SiteConfig: web.SiteConfig{Addr: "127.0.0.1:8080", ClientID: "kirjaamo-portal"}, MinAssurance: "substantial",
		RequestLimits: RequestLimits{Limits: web.DefaultLimits(), SubmissionsPerHour: 10, MaxOpenRequests: 20}}
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
	oidc := cfg.OIDC("openid", "profile", "email", "phone")
	oidc.ACRValues = strings.Fields(cfg.ACRValues)
	login, err := web.ConnectOIDC(ctx, oidc)
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
	limiter  *web.Limiter
	pages    map[string]*template.Template
}

func newPortal(cfg Config, deps Deps, login *oidclogin.Client) (*portal, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	pages, err := web.ParsePages(templates, funcs)
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	p := &portal{cfg: cfg, deps: deps, login: login, tokens: login, pages: pages,
		sessions: &web.Sessions{Store: deps.Sessions, Site: "portal", Cookie: web.CookieName("kirjaamo_portal", cfg.Secure()),
			Secure: cfg.Secure(), TTL: 30 * time.Minute}}
	p.limiter = &web.Limiter{Site: "portal", Limits: cfg.Limits, Counter: deps.Limits}
	p.signIn = &web.Login{Client: login, Sessions: p.sessions, PublicURL: cfg.PublicURL, Admit: p.admit,
		Fail: func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			if r.URL.Path == CallbackPath {
				r = p.atReturn(r)
			}
			switch reason {
			case "unavailable":
				p.fail(w, r, status, "portal.try_again")
			case "assurance":
				p.fail(w, r, status, "portal.assurance_too_low")
			default:
				p.fail(w, r, status, "portal.login_failed")
			}
		}}
	return p, nil
}

// atReturn is the sign-in's callback as if it came to the page the sign-in was to return to, so that
// a refusal is shown in that page's language: the callback's own path has none.
func (p *portal) atReturn(r *http.Request) *http.Request {
	sess, err := p.sessions.Load(r)
	if err != nil || sess.ReturnTo == "" {
		return r
	}
	u, err := url.Parse(sess.ReturnTo)
	if err != nil {
		return r
	}
	at := r.Clone(r.Context())
	at.URL = &url.URL{Path: u.Path}
	return at
}

func (p *portal) routes() http.Handler {
	return web.Observed("portal", web.Logged(p.deps.Log.With("service", "portal"), web.SecurityHeaders(p.limiter.PerAddress(p.recovered(p.mux()), p.tooMany), p.cfg.Secure())))
}

// Patterns are the routes the portal serves, for the test that holds them against the API description.
func Patterns() []string {
	p, err := newPortal(DefaultConfig(), Deps{}, nil)
	if err != nil {
		panic(err) // the templates are embedded, and parsed by every test of the package
	}
	return p.mux().Patterns()
}

func (p *portal) mux() *web.Mux {
	mux := web.NewMux()
	mux.Handle("GET /static/portal.css", web.Static())
	mux.HandleFunc("GET /{$}", p.root)
	mux.HandleFunc("GET "+CallbackPath, p.signIn.Callback)
	p.cfg.MountJWKS(mux)
	// Each language has its own paths, so that a page's address says its language and no cookie has to.
	for _, l := range contracts.Languages {
		prefix := "/" + string(l)
		mux.HandleFunc("GET "+prefix+"/{$}", p.home)
		mux.HandleFunc("GET "+prefix+"/accessibility", p.info("accessibility"))
		mux.HandleFunc("GET "+prefix+"/help", p.info("help"))
		mux.HandleFunc("GET "+prefix+"/privacy", p.info("privacy"))
		mux.HandleFunc("GET "+prefix+"/login", func(w http.ResponseWriter, r *http.Request) {
			p.signIn.Begin(w, r, prefix+"/requests")
		})
		mux.HandleFunc("POST "+prefix+"/logout", func(w http.ResponseWriter, r *http.Request) { p.signIn.SignOut(w, r, prefix+"/") })
		p.processingRoutes(mux, prefix)
		mux.HandleFunc("GET "+prefix+"/requests", p.listRequests)
		mux.HandleFunc("GET "+prefix+"/requests/new", p.formStep(stepRight))
		mux.HandleFunc("POST "+prefix+"/requests/new", p.answerStep(stepRight))
		for _, step := range []string{stepDetails, stepContact} {
			mux.HandleFunc("GET "+prefix+"/requests/new/"+step, p.formStep(step))
			mux.HandleFunc("POST "+prefix+"/requests/new/"+step, p.answerStep(step))
		}
		mux.HandleFunc("GET "+prefix+"/requests/new/check", p.formStep("check"))
		mux.HandleFunc("POST "+prefix+"/requests", p.sendRequest)
		mux.HandleFunc("GET "+prefix+"/requests/{id}", p.showRequest)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/identifiers", p.supplyPage)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/identifiers/verify", p.verifyPage)
		mux.HandleFunc("GET "+prefix+"/requests/{id}/withdraw", p.withdrawConfirm)
		mux.HandleFunc("POST "+prefix+"/requests/{id}/withdraw", p.withdrawPage)
		mux.HandleFunc("GET "+prefix+"/requests/{id}/package.json", p.download("json"))
		mux.HandleFunc("GET "+prefix+"/requests/{id}/package.zip", p.download("zip"))
		mux.HandleFunc("GET "+prefix+"/requests/{id}/cover.pdf", p.download("pdf"))
	}

	mux.HandleFunc("POST /api/v1/requests", p.apiSubmit)
	mux.HandleFunc("GET /api/v1/requests", p.apiList)
	mux.HandleFunc("GET /api/v1/requests/{id}", p.apiShow)
	mux.HandleFunc("POST /api/v1/requests/{id}/identifiers", p.apiSupply)
	mux.HandleFunc("POST /api/v1/requests/{id}/identifiers/verify", p.apiVerify)
	mux.HandleFunc("POST /api/v1/requests/{id}/withdraw", p.apiWithdraw)
	// Any other address: the API's problem document, or the styled page in the path's language.
	mux.HandleFunc("/", p.notFound)
	return mux
}
