package devidp

import (
	"net/http"
	"net/url"
	"slices"
)

// logout is the end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0): a relying party sends
// the browser here when a person signs out, and it comes back to the post_logout_redirect_uri the
// client registered, with its state. The provider keeps no session of its own (each sign-in picks a
// person), so there is nothing else to end; what is checked is what a real provider checks: the
// client, and that the redirect is one it registered, so that the endpoint is no open redirect.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, http.StatusBadRequest, "the logout request could not be read")
		return
	}
	c, ok := p.clients[r.Form.Get("client_id")]
	if !ok {
		p.errorPage(w, http.StatusBadRequest, "unknown client")
		return
	}
	back := r.Form.Get("post_logout_redirect_uri")
	if back == "" {
		p.renderHTML(w, http.StatusOK, errorTmpl, struct{ Message string }{"You have signed out."})
		return
	}
	if !slices.Contains(c.PostLogoutRedirectURIs, back) {
		p.errorPage(w, http.StatusBadRequest, "post_logout_redirect_uri is not registered for this client")
		return
	}
	u, err := url.Parse(back)
	if err != nil {
		p.errorPage(w, http.StatusBadRequest, "post_logout_redirect_uri is not a URL")
		return
	}
	if state := r.Form.Get("state"); state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	p.log.Info("devidp: signed out", "client", c.ID)
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
