package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"kirjaamo.dev/services/auth/oidclogin"
)

// ParsePages parses each page template of a site together with the site's layout.html, keyed by
// the page's file name without .html.
func ParsePages(fsys fs.FS, funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// ConnectOIDC waits for the identity provider while it is unreachable: in dev it starts beside us,
// and in production a short outage at start-up should not need a restart.
func ConnectOIDC(ctx context.Context, cfg oidclogin.Config) (*oidclogin.Client, error) {
	for wait := 200 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		c, err := oidclogin.New(ctx, cfg)
		if err == nil || !errors.Is(err, oidclogin.ErrIssuerUnreachable) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// ParseForm reads a posted form of reasonable size and checks its CSRF token.
func ParseForm(w http.ResponseWriter, r *http.Request, sess *Session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return r.ParseForm() == nil && CheckCSRF(r, sess)
}
