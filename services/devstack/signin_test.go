package devstack

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/auth/devidp/devidptest"
	"kirjaamo.dev/services/internal/texts"
)

// openRedirects are return_to values a browser would follow off the site: backslashes, tabs and
// line breaks, dot segments, encoded slashes, another scheme or host, and mixtures of them.
var openRedirects = []string{
	"//127.0.0.2:9/x", `/\127.0.0.2:9/x`, `/\/127.0.0.2:9`, `/./\127.0.0.2:9`, "/\t/127.0.0.2:9", "/\n/127.0.0.2:9", `\\127.0.0.2:9`,
	"/%2F%2F127.0.0.2:9", "/%5C127.0.0.2:9", "http://127.0.0.2:9/", "http:/127.0.0.2:9", "//localhost@127.0.0.2:9", "/..//127.0.0.2:9",
	"/%2e%2e//127.0.0.2:9", `/.\/127.0.0.2:9`, "///127.0.0.2:9", "javascript:alert(1)",
}

// signInReturningTo signs a person in at a site's login path with a return_to, and returns where
// the site then sends the browser, resolved as a browser resolves a Location on the site.
func signInReturningTo(t *testing.T, site, loginPath, subject, returnTo string) *url.URL {
	t.Helper()
	hc := browser(t)
	resp, err := hc.Get(site + loginPath + "?return_to=" + url.QueryEscape(returnTo))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with return_to %q: %v %v", returnTo, resp, err)
	}
	back, err := devidptest.ChoosePerson(context.Background(), hc, resp.Header.Get("Location"), subject)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Get(back.String())
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	// A browser strips tabs and line breaks and reads a backslash as a slash before it resolves.
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	base, _ := url.Parse(site + "/")
	to, err := base.Parse(loc)
	if err != nil {
		t.Fatalf("the site sends the browser to %q", resp.Header.Get("Location"))
	}
	return to
}

func TestSignInReturnsOnlyToTheSameSiteOnBothSites(t *testing.T) {
	s := sharedStack(t)
	for _, site := range []struct{ url, login, subject, fallback string }{
		{s.PortalURL, "/en/login", "demo-matti", "/en/requests"},
		{s.OfficeURL, "/login", "staff-auli", "/"},
	} {
		own, _ := url.Parse(site.url)
		for _, payload := range openRedirects {
			to := signInReturningTo(t, site.url, site.login, site.subject, payload)
			if to.Host != own.Host || to.Scheme != own.Scheme {
				t.Errorf("%s: return_to %q sent the signed-in browser to %s", site.url, payload, to)
			}
		}
		// A path of the site is where the browser goes back to.
		if to := signInReturningTo(t, site.url, site.login, site.subject, site.fallback+"?x=1"); to.RequestURI() != site.fallback+"?x=1" {
			t.Errorf("%s: a return_to on the site led to %s", site.url, to)
		}
	}
}

func TestIdentificationBelowTheMinimumAssuranceIsRefusedWithAPageThatSaysWhy(t *testing.T) {
	s := sharedStack(t)
	for _, lang := range []string{"fi", "sv", "en"} {
		hc := browser(t)
		resp, err := hc.Get(s.PortalURL + "/" + lang + "/login")
		if err != nil {
			t.Fatal(err)
		}
		back, err := devidptest.ChoosePerson(context.Background(), hc, resp.Header.Get("Location"), LowAssurance.Subject)
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ := page(t, hc, back.String())
		want := texts.In(contracts.Language(lang)).T("portal.assurance_too_low")
		if status != http.StatusForbidden || !strings.Contains(body, want) {
			t.Errorf("%s: a low-assurance identification: %d, want 403 saying %q", lang, status, want)
		}
		if status, _, _ := page(t, hc, s.PortalURL+"/"+lang+"/requests"); status != http.StatusSeeOther {
			t.Errorf("%s: the refused person is signed in: %d", lang, status)
		}
	}
	if status, p := api(t, "GET", s.PortalURL+"/api/v1/requests", idToken(t, s, LowAssurance.Subject), "", ""); status != http.StatusForbidden {
		t.Errorf("the API with a low-assurance ID token: %d %v", status, p)
	}
}

func TestSigningOutEndsTheSessionAtTheProviderAndIsRecorded(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	for _, site := range []struct{ url, login, logout, subject, signedInPage string }{
		{s.PortalURL, "/en/login", "/en/logout", "demo-liisa", "/en/requests"},
		{s.OfficeURL, "/login", "/logout", "staff-tuomas", "/"},
	} {
		hc := browser(t)
		signIn(t, hc, site.url, site.login, site.subject)
		_, _, csrf := page(t, hc, site.url+site.signedInPage)
		resp, err := hc.PostForm(site.url+site.logout, url.Values{"csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		atProvider, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(atProvider.String(), s.IDPURL+"/logout?") ||
			atProvider.Query().Get("post_logout_redirect_uri") != site.url+"/" || atProvider.Query().Get("id_token_hint") == "" {
			t.Fatalf("%s: sign-out sent the browser to %q", site.url, atProvider)
		}
		resp, err = hc.Get(atProvider.String())
		if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != site.url+"/" {
			t.Fatalf("%s: the provider's logout: %v %v", site.url, resp, err)
		}
		if status, _, _ := page(t, hc, site.url+site.signedInPage); status != http.StatusSeeOther {
			t.Errorf("%s: still signed in after signing out: %d", site.url, status)
		}
	}
	// The office's record has the sign-out, and a sign-in it refused.
	outsider := browser(t)
	resp, _ := outsider.Get(s.OfficeURL + "/login")
	back, err := devidptest.ChoosePerson(ctx, outsider, resp.Header.Get("Location"), "demo-erik")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := page(t, outsider, back.String()); status != http.StatusForbidden {
		t.Fatalf("a citizen signing in to the office: %d", status)
	}
	rows, err := s.Platform.DB.Pool.Query(ctx, `SELECT action FROM audit_log WHERE actor LIKE $1 OR actor = $2`, "Tuomas Tietosuoja%", "<demo-erik>")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for rows.Next() {
		var a string
		_ = rows.Scan(&a)
		actions = append(actions, a)
	}
	for _, want := range []string{"signed_in", "signed_out", "sign_in_refused"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the record has %v, no %s", actions, want)
		}
	}
}
