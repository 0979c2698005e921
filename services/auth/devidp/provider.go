// Package devidp is a small but real OpenID Connect provider for development
// and tests. It stands in for Suomi.fi identification (citizens) and the
// authority's staff login, so the portal and the office run the very same
// authorization-code + PKCE flow, with signed ID tokens, that they run in
// production. Only the identification step is replaced: the user picks a
// configured test person instead of authenticating.
//
// It must never be deployed where real people can reach it.
package devidp

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// defaultIdentityCodeClaim is the identity code's claim unless configured.
const defaultIdentityCodeClaim = "personal_identity_code"

const (
	// codeTTL is short because the code only has to survive one redirect and
	// one back-channel call; a short life limits replay after leakage.
	codeTTL = 60 * time.Second
	// tokenTTL bounds both the ID token and the access token.
	tokenTTL = 10 * time.Minute
)

// Config configures a Provider.
type Config struct {
	// Issuer is the absolute URL the provider is reachable at, e.g.
	// http://127.0.0.1:8090. It is the "iss" of every token and the prefix
	// of every endpoint. A trailing slash is removed.
	Issuer  string
	Clients []Client
	People  []Person
	// SigningKeyFile, if set, persists the RSA signing key (PKCS#8 PEM,
	// mode 0600) so that a restart keeps the key and tokens issued before
	// the restart stay verifiable. Empty means an in-memory key.
	SigningKeyFile string
	// Now is the clock; nil means time.Now. Tests use it to expire codes.
	Now    func() time.Time
	Logger *slog.Logger
	// IdentityCodeClaim names the claim carrying a person's identity code;
	// empty means "personal_identity_code". Set "urn:oid:1.2.246.21" to act
	// like Suomi.fi.
	IdentityCodeClaim string
	// HTTPClient fetches the JWKS of clients registered with a JWKSURL.
	// Nil means a client with a 5 s timeout.
	HTTPClient *http.Client
	// AttributesInUserinfoOnly leaves the person's attributes (name, identity
	// code, email, phone, roles) out of the ID token, which then says only
	// who authenticated and how (sub, acr, auth_time); they come from the
	// userinfo endpoint alone, as Suomi.fi e-Identification delivers them.
	AttributesInUserinfoOnly bool
}

// Client is a registered relying party. It authenticates either with its
// Secret (client_secret_basic or _post), or, registered the way Suomi.fi
// e-Identification registers clients, with private_key_jwt: then it has no
// secret but a JWKSURL or PublicKeys, and its ID tokens and userinfo are
// encrypted to its first "enc" key.
type Client struct {
	ID     string
	Secret string
	// JWKSURL is where the client publishes its public keys; it is fetched
	// at each token request, so a rotation is seen at once.
	JWKSURL string
	// PublicKeys are the client's public keys given at registration,
	// instead of a JWKSURL.
	PublicKeys *jose.JSONWebKeySet
	// ContentEncryption is the JWE "enc" for this client's tokens; empty
	// means A256GCM. Suomi.fi may also use A128CBC-HS256.
	ContentEncryption string
	// RedirectURIs are compared by exact string match, as OAuth 2.0 Security
	// BCP requires; no prefix or wildcard matching.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where the end_session_endpoint may send
	// the browser back after a sign-out, by exact match.
	PostLogoutRedirectURIs []string
}

// Person is a test identity offered on the identification page.
type Person struct {
	Subject    string
	Name       string
	GivenName  string
	FamilyName string
	// PersonalIdentityCode is the Finnish HETU, set for citizens only.
	// Use made-up codes.
	PersonalIdentityCode string
	Email                string
	Phone                string
	// Roles are staff roles such as "clerk", "dpo", "auditor",
	// "register_owner"; empty for citizens.
	Roles []string
	// ACR is the authentication context class, e.g.
	// "http://ftn.ficora.fi/2017/loa3".
	ACR string
}

// Provider is an http.Handler serving the OpenID Connect endpoints below the
// issuer URL: /.well-known/openid-configuration, /jwks, /authorize, /token
// and /userinfo. It may be mounted with or without http.StripPrefix of the
// issuer path.
type Provider struct {
	issuer   string
	basePath string
	clients  map[string]Client
	people   []Person
	byID     map[string]Person
	now      func() time.Time
	log      *slog.Logger
	hc       *http.Client
	// hetuClaim is the claim name of the identity code.
	hetuClaim string
	// attrsInUserinfo keeps attributes out of ID tokens.
	attrsInUserinfo bool

	key    *rsa.PrivateKey
	jwk    jose.JSONWebKey // public half, with kid
	signer jose.Signer

	mu     sync.Mutex
	codes  map[string]*grant
	tokens map[string]accessToken
	// jtis are the client assertions seen, until they expire, so that a
	// replayed assertion is refused (RFC 7523 section 3, item 7).
	jtis map[string]time.Time
}

// grant is an issued authorization code and everything needed to redeem it.
type grant struct {
	clientID    string
	redirectURI string
	subject     string
	nonce       string
	challenge   string
	authTime    time.Time
	expires     time.Time
	// accessToken is set once the code has been redeemed; the entry is kept
	// until expiry so a replay can be detected and the token revoked
	// (RFC 6749 section 4.1.2).
	redeemed    bool
	accessToken string
}

type accessToken struct {
	clientID string
	subject  string
	authTime time.Time
	expires  time.Time
}

// New validates cfg, loads or creates the signing key and returns a Provider.
func New(cfg Config) (*Provider, error) {
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("devidp: new: issuer %q must be an absolute http(s) URL without query or fragment", cfg.Issuer)
	}
	p := &Provider{
		issuer:          issuer,
		basePath:        u.Path,
		clients:         make(map[string]Client, len(cfg.Clients)),
		byID:            make(map[string]Person, len(cfg.People)),
		now:             cfg.Now,
		log:             cfg.Logger,
		codes:           make(map[string]*grant),
		tokens:          make(map[string]accessToken),
		jtis:            make(map[string]time.Time),
		hc:              cfg.HTTPClient,
		hetuClaim:       cfg.IdentityCodeClaim,
		attrsInUserinfo: cfg.AttributesInUserinfoOnly,
	}
	if p.hetuClaim == "" {
		p.hetuClaim = defaultIdentityCodeClaim
	}
	if p.hc == nil {
		p.hc = &http.Client{Timeout: 5 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("component", "devidp")

	if len(cfg.Clients) == 0 {
		return nil, errors.New("devidp: new: no clients configured")
	}
	for _, c := range cfg.Clients {
		if err := validateClient(c); err != nil {
			return nil, fmt.Errorf("devidp: new: %w", err)
		}
		if _, dup := p.clients[c.ID]; dup {
			return nil, fmt.Errorf("devidp: new: duplicate client %q", c.ID)
		}
		// Copy so later changes to the caller's slice cannot widen the
		// redirect allow-list behind our back.
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		p.clients[c.ID] = c
	}
	if len(cfg.People) == 0 {
		return nil, errors.New("devidp: new: no people configured")
	}
	for i, person := range cfg.People {
		if person.Subject == "" {
			return nil, fmt.Errorf("devidp: new: person %d has no subject", i)
		}
		if _, dup := p.byID[person.Subject]; dup {
			return nil, fmt.Errorf("devidp: new: duplicate person subject at index %d", i)
		}
		person.Roles = slices.Clone(person.Roles)
		p.byID[person.Subject] = person
		p.people = append(p.people, person)
	}

	if p.key, err = loadOrCreateKey(cfg.SigningKeyFile); err != nil {
		return nil, fmt.Errorf("devidp: new: %w", err)
	}
	p.jwk = jose.JSONWebKey{Key: &p.key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	if p.jwk.KeyID, err = keyID(p.jwk); err != nil {
		return nil, fmt.Errorf("devidp: new: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), p.jwk.KeyID)
	if p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key}, opts); err != nil {
		return nil, fmt.Errorf("devidp: new: signer: %w", err)
	}
	return p, nil
}

func validateClient(c Client) error {
	if c.ID == "" {
		return errors.New("client needs an id")
	}
	switch {
	case c.Secret == "" && !c.usesKeys():
		return fmt.Errorf("client %q needs a secret, or a JWKS URL or public keys", c.ID)
	case c.Secret != "" && c.usesKeys():
		return fmt.Errorf("client %q: a secret and keys are exclusive", c.ID)
	case c.JWKSURL != "" && c.PublicKeys != nil:
		return fmt.Errorf("client %q: give a JWKS URL or public keys, not both", c.ID)
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("client %q: JWKS URL must be an absolute http(s) URL", c.ID)
		}
	}
	if c.PublicKeys != nil {
		for _, k := range c.PublicKeys.Keys {
			if !k.IsPublic() || !k.Valid() {
				return fmt.Errorf("client %q: public keys must be valid public keys", c.ID)
			}
		}
	}
	// The ciphers a client may ask for, of go-jose's; any other is refused.
	//exhaustive:ignore
	switch jose.ContentEncryption(c.ContentEncryption) {
	case "", jose.A256GCM, jose.A128GCM, jose.A128CBC_HS256, jose.A256CBC_HS512:
	default:
		return fmt.Errorf("client %q: unsupported content encryption %q", c.ID, c.ContentEncryption)
	}
	if len(c.RedirectURIs) == 0 {
		return fmt.Errorf("client %q has no redirect URIs", c.ID)
	}
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return fmt.Errorf("client %q: redirect URI %q must be absolute without fragment", c.ID, r)
		}
	}
	return nil
}

// Issuer returns the normalised issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP routes to the endpoints. The issuer path prefix is optional in
// the request path so the provider works both mounted at its full path and
// behind http.StripPrefix.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if p.basePath != "" {
		path = strings.TrimPrefix(path, p.basePath)
	}
	switch path {
	case "/.well-known/openid-configuration":
		p.discovery(w, r)
	case "/jwks":
		p.jwks(w, r)
	case "/authorize":
		p.authorize(w, r)
	case "/logout":
		p.logout(w, r)
	case "/token":
		p.token(w, r)
	case "/userinfo":
		p.userinfo(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                           p.issuer,
		"authorization_endpoint":                           p.issuer + "/authorize",
		"token_endpoint":                                   p.issuer + "/token",
		"userinfo_endpoint":                                p.issuer + "/userinfo",
		"end_session_endpoint":                             p.issuer + "/logout",
		"jwks_uri":                                         p.issuer + "/jwks",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{string(jose.RS256)},
		"scopes_supported":                                 []string{"openid", "profile", "email", "phone"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": algNames(assertionAlgs),
		// Only for clients registered with keys, as Suomi.fi does.
		"id_token_encryption_alg_values_supported": []string{string(jose.RSA_OAEP_256), string(jose.RSA_OAEP)},
		"id_token_encryption_enc_values_supported": []string{string(jose.A256GCM), string(jose.A128GCM), string(jose.A128CBC_HS256), string(jose.A256CBC_HS512)},
		"userinfo_encryption_alg_values_supported": []string{string(jose.RSA_OAEP_256), string(jose.RSA_OAEP)},
		"userinfo_encryption_enc_values_supported": []string{string(jose.A256GCM), string(jose.A128GCM), string(jose.A128CBC_HS256), string(jose.A256CBC_HS512)},
		"userinfo_signing_alg_values_supported":    []string{string(jose.RS256)},
		"code_challenge_methods_supported":         []string{"S256"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr",
			"name", "given_name", "family_name", "email", "phone_number",
			p.hetuClaim, "roles",
		},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{p.jwk}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own static shapes reach here, so this is a programming
		// error; still answer rather than panic.
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// oauthError writes an RFC 6749 section 5.2 error body.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}
