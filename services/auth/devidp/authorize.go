package devidp

import (
	"crypto/rand"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxFormBytes bounds request bodies; every legitimate form here is tiny.
const maxFormBytes = 64 << 10

// maxParamLen bounds state and nonce so they cannot bloat the page or codes.
const maxParamLen = 512

// authParams are the authorization request parameters carried from the GET
// request through the page's hidden fields into the POST, in page order.
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope",
	"state", "nonce", "code_challenge", "code_challenge_method",
}

type authRequest struct {
	client      Client
	redirectURI string
	state       string
	nonce       string
	challenge   string
}

// authorize serves GET (show the chooser) and POST (a person was chosen).
// The POST re-validates everything because the hidden fields come back from
// the browser and must not be trusted more than the original query.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		params = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.errorPage(w, http.StatusBadRequest, "The request could not be read.")
			return
		}
		params = r.PostForm
	default:
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}

	// Until client and redirect URI are known good we must not redirect:
	// that would make us an open redirector (RFC 6749 section 4.1.2.1).
	client, redirectURI, msg := p.checkClient(params)
	if msg != "" {
		p.log.Info("authorize rejected", "client_id", params.Get("client_id"), "reason", msg)
		p.errorPage(w, http.StatusBadRequest, msg)
		return
	}
	state := params.Get("state")
	ar, code, desc := checkAuthParams(client, redirectURI, params)
	if code != "" {
		p.log.Info("authorize rejected", "client_id", client.ID, "error", code)
		redirectWith(w, r, redirectURI, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
		return
	}

	if r.Method == http.MethodGet {
		p.renderChooser(w, params)
		return
	}
	if params.Has("cancel") {
		p.log.Info("authorize cancelled", "client_id", client.ID)
		redirectWith(w, r, redirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled"}, "state": {state}})
		return
	}
	person, ok := p.byID[params.Get("subject")]
	if !ok {
		p.log.Info("authorize rejected", "client_id", client.ID, "error", "unknown person")
		redirectWith(w, r, redirectURI, url.Values{"error": {"invalid_request"}, "error_description": {"unknown test person"}, "state": {state}})
		return
	}
	codeValue := p.issueCode(ar, person.Subject)
	p.log.Info("authorization code issued", "client_id", client.ID)
	redirectWith(w, r, redirectURI, url.Values{"code": {codeValue}, "state": {state}})
}

// checkClient returns a non-empty message when the client or redirect URI is
// unacceptable; these errors are shown to the user, never redirected.
func (p *Provider) checkClient(params url.Values) (Client, string, string) {
	if len(params["client_id"]) != 1 || len(params["redirect_uri"]) != 1 {
		return Client{}, "", "The request must contain exactly one client_id and one redirect_uri."
	}
	client, ok := p.clients[params.Get("client_id")]
	if !ok {
		return Client{}, "", "Unknown client."
	}
	redirectURI := params.Get("redirect_uri")
	if !slices.Contains(client.RedirectURIs, redirectURI) {
		return Client{}, "", "The redirect_uri is not registered for this client."
	}
	return client, redirectURI, ""
}

// checkAuthParams validates the rest of the request. A non-empty code is an
// OAuth 2.0 error to send back to the (already verified) redirect URI.
func checkAuthParams(client Client, redirectURI string, params url.Values) (authRequest, string, string) {
	for _, name := range authParams {
		if len(params[name]) > 1 {
			return authRequest{}, "invalid_request", "duplicate parameter " + name
		}
	}
	if params.Get("response_type") != "code" {
		return authRequest{}, "unsupported_response_type", "only response_type=code is supported"
	}
	if !slices.Contains(strings.Fields(params.Get("scope")), "openid") {
		return authRequest{}, "invalid_scope", "scope must contain openid"
	}
	state, nonce := params.Get("state"), params.Get("nonce")
	if state == "" || len(state) > maxParamLen {
		return authRequest{}, "invalid_request", "state is required"
	}
	if nonce == "" || len(nonce) > maxParamLen {
		return authRequest{}, "invalid_request", "nonce is required"
	}
	// PKCE is mandatory, and only S256: "plain" would give no protection
	// against a leaked authorization request.
	if params.Get("code_challenge_method") != "S256" {
		return authRequest{}, "invalid_request", "code_challenge_method must be S256"
	}
	challenge := params.Get("code_challenge")
	if !validChallenge(challenge) {
		return authRequest{}, "invalid_request", "code_challenge must be a base64url SHA-256 value"
	}
	return authRequest{client: client, redirectURI: redirectURI, state: state, nonce: nonce, challenge: challenge}, "", ""
}

// validChallenge accepts exactly what S256 produces: 43 base64url chars.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range []byte(s) {
		if !isBase64URL(c) {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// redirectWith adds params to the registered redirect URI, keeping any query
// it already has. 303 turns the POST into a GET at the client.
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		// Registered URIs were validated in New, so this cannot happen.
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range params {
		if len(vs) > 0 && vs[0] != "" {
			q.Set(k, vs[0])
		}
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (p *Provider) issueCode(ar authRequest, subject string) string {
	code := rand.Text()
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now)
	p.codes[code] = &grant{
		clientID:    ar.client.ID,
		redirectURI: ar.redirectURI,
		subject:     subject,
		nonce:       ar.nonce,
		challenge:   ar.challenge,
		authTime:    now,
		expires:     now.Add(codeTTL),
	}
	return code
}

// sweepLocked drops expired codes and tokens so memory stays bounded in a
// long-running dev environment. Redeemed codes are kept until they expire
// so that a replay within their lifetime is still recognised.
func (p *Provider) sweepLocked(now time.Time) {
	for k, g := range p.codes {
		if now.After(g.expires) {
			delete(p.codes, k)
		}
	}
	for k, t := range p.tokens {
		if now.After(t.expires) {
			delete(p.tokens, k)
		}
	}
	for k, exp := range p.jtis {
		if now.After(exp) {
			delete(p.jtis, k)
		}
	}
}

type hiddenField struct{ Name, Value string }

type personChoice struct{ Subject, Label, Detail string }

func (p *Provider) renderChooser(w http.ResponseWriter, params url.Values) {
	data := struct {
		Action   string
		ClientID string
		Hidden   []hiddenField
		People   []personChoice
	}{Action: p.issuer + "/authorize", ClientID: params.Get("client_id")}
	for _, name := range authParams {
		data.Hidden = append(data.Hidden, hiddenField{name, params.Get(name)})
	}
	for _, person := range p.people {
		data.People = append(data.People, personChoice{person.Subject, displayName(person), personDetail(person)})
	}
	p.renderHTML(w, http.StatusOK, chooserTmpl, data)
}

func displayName(person Person) string {
	if person.Name != "" {
		return person.Name
	}
	if n := strings.TrimSpace(person.GivenName + " " + person.FamilyName); n != "" {
		return n
	}
	return person.Subject
}

func personDetail(person Person) string {
	var parts []string
	if person.PersonalIdentityCode != "" {
		parts = append(parts, "Citizen, identity code "+maskHETU(person.PersonalIdentityCode))
	}
	if len(person.Roles) > 0 {
		parts = append(parts, "Staff, roles: "+strings.Join(person.Roles, ", "))
	}
	if person.ACR != "" {
		parts = append(parts, "level: "+person.ACR)
	}
	return strings.Join(parts, " · ")
}

// maskHETU keeps the birth date and century sign, hiding the individual
// number and check character; enough to tell test people apart.
func maskHETU(hetu string) string {
	if len(hetu) < 7 {
		return "****"
	}
	return hetu[:7] + strings.Repeat("*", len(hetu)-7)
}

func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	p.renderHTML(w, status, errorTmpl, struct{ Message string }{msg})
}

func (p *Provider) renderHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		p.log.Error("render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Inline CSS only, nothing else may load. form-action is deliberately
	// absent: browsers apply it to the redirect after submission, which
	// would block the redirect back to the client.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

const pageStyle = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a;background:#fff}
h1{font-size:1.6rem}
.note{border-left:4px solid #8a5300;background:#fff4e0;padding:.5rem 1rem}
fieldset{border:0;padding:0;margin:0}
legend{font-weight:bold;margin-bottom:.5rem}
ul{list-style:none;padding:0;margin:0}
li{margin:.5rem 0}
button{font:inherit;width:100%;text-align:left;padding:.75rem 1rem;border:2px solid #0b4f8a;background:#f4f8fc;color:#0b1f33;border-radius:4px;cursor:pointer}
button:hover{background:#dde9f5}
button:focus-visible{outline:3px solid #c05600;outline-offset:2px}
.detail{display:block;font-size:.9rem;color:#333}
.cancel{margin-top:1.5rem;border-color:#555;background:#fff;width:auto}
`

var chooserTmpl = template.Must(template.New("chooser").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test identification — choose a test person</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<h1>Test identification — choose a test person</h1>
<p class="note">This is a development identity provider. No real identification takes place and every person listed is made up.</p>
<p>Signing in to <strong>{{.ClientID}}</strong>.</p>
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<fieldset>
<legend>Test people</legend>
<ul>
{{range .People}}<li><button type="submit" name="subject" value="{{.Subject}}">{{.Label}}{{if .Detail}}<span class="detail">{{.Detail}}</span>{{end}}</button></li>
{{end}}</ul>
</fieldset>
<button type="submit" name="cancel" value="1" class="cancel">Cancel</button>
</form>
</main>
</body>
</html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test identification — error</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<h1>Test identification — error</h1>
<p role="alert">{{.Message}}</p>
<p>Return to the service you came from and try again.</p>
</main>
</body>
</html>
`))
