// Package devidptest drives the devidp identification page the way a browser
// does, for end-to-end tests of services that log in through devidp.
package devidptest

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Page is the parsed "choose a test person" form.
type Page struct {
	Action   string     // absolute URL the form posts to
	Hidden   url.Values // the hidden authorization request parameters
	Subjects []string   // the value of each person button, in page order
}

// ChoosePerson opens authURL (the URL from oidclogin.Client.Begin), picks
// the person with the given subject by submitting their button, and returns
// the redirect the provider answers with (the client's redirect URI with
// code and state, or with error). Redirects are not followed, so the caller
// decides what to do with the callback.
func ChoosePerson(ctx context.Context, hc *http.Client, authURL, subject string) (*url.URL, error) {
	page, err := Open(ctx, hc, authURL)
	if err != nil {
		return nil, err
	}
	return page.Submit(ctx, hc, subject)
}

// Open fetches and parses the identification page.
func Open(ctx context.Context, hc *http.Client, authURL string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, fmt.Errorf("devidptest: open: %w", err)
	}
	resp, err := noRedirects(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("devidptest: open: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("devidptest: open: status %s, location %q", resp.Status, resp.Header.Get("Location"))
	}
	page, err := parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("devidptest: open: %w", err)
	}
	base := resp.Request.URL
	action, err := base.Parse(page.Action)
	if err != nil {
		return nil, fmt.Errorf("devidptest: open: form action: %w", err)
	}
	page.Action = action.String()
	return page, nil
}

// Submit presses the button of the person with subject, or the Cancel
// button when subject is empty, and returns the redirect location.
func (p *Page) Submit(ctx context.Context, hc *http.Client, subject string) (*url.URL, error) {
	form := url.Values{}
	for k, v := range p.Hidden {
		form[k] = slices.Clone(v)
	}
	if subject == "" {
		form.Set("cancel", "1")
	} else {
		if !slices.Contains(p.Subjects, subject) {
			return nil, fmt.Errorf("devidptest: submit: no button for the requested person on the page")
		}
		form.Set("subject", subject)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Action, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("devidptest: submit: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirects(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("devidptest: submit: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil, fmt.Errorf("devidptest: submit: expected a redirect, got %s", resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("devidptest: submit: %w", err)
	}
	return loc, nil
}

// noRedirects copies hc so that the caller's client is left untouched.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// parse reads the page with encoding/xml in HTML mode, which is enough for
// the provider's own simple markup and avoids a dependency on an HTML parser.
func parse(r io.Reader) (*Page, error) {
	d := xml.NewDecoder(r)
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	page := &Page{Hidden: url.Values{}}
	inForm := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse page: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			a := attrs(t)
			switch strings.ToLower(t.Name.Local) {
			case "form":
				inForm = true
				page.Action = a["action"]
			case "input":
				if inForm && a["type"] == "hidden" {
					page.Hidden.Add(a["name"], a["value"])
				}
			case "button":
				if inForm && a["name"] == "subject" {
					page.Subjects = append(page.Subjects, a["value"])
				}
			}
		case xml.EndElement:
			if strings.EqualFold(t.Name.Local, "form") {
				inForm = false
			}
		}
	}
	if page.Action == "" {
		return nil, errors.New("parse page: no form found")
	}
	return page, nil
}

func attrs(e xml.StartElement) map[string]string {
	m := make(map[string]string, len(e.Attr))
	for _, a := range e.Attr {
		m[strings.ToLower(a.Name.Local)] = a.Value
	}
	return m
}
