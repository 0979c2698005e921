// Command kirjaamo-devidp is the dev identity provider as a process of its own (make cluster): the
// demo people and the registry office's staff sign in at it, and the portal and the office are its
// two clients. It reads KIRJAAMO_DEVIDP_ADDR (host:port), _ISSUER (its public URL), _SIGNING_KEY_FILE
// (kept, so that a restart keeps the key), and each site's client: KIRJAAMO_DEVIDP_PORTAL_SECRET and
// _PORTAL_REDIRECT, KIRJAAMO_DEVIDP_OFFICE_SECRET and _OFFICE_REDIRECT.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/devstack/devdata"
	"kirjaamo.dev/services/internal/web"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kirjaamo-devidp:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	idp, err := devidp.New(devidp.Config{Issuer: os.Getenv("KIRJAAMO_DEVIDP_ISSUER"), SigningKeyFile: os.Getenv("KIRJAAMO_DEVIDP_SIGNING_KEY_FILE"),
		Logger: log, People: devdata.People(),
		Clients: []devidp.Client{
			client("kirjaamo-portal", os.Getenv("KIRJAAMO_DEVIDP_PORTAL_SECRET"), os.Getenv("KIRJAAMO_DEVIDP_PORTAL_REDIRECT")),
			client("kirjaamo-office", os.Getenv("KIRJAAMO_DEVIDP_OFFICE_SECRET"), os.Getenv("KIRJAAMO_DEVIDP_OFFICE_REDIRECT")),
		}})
	if err != nil {
		return err
	}
	return web.Serve(ctx, &http.Server{Addr: os.Getenv("KIRJAAMO_DEVIDP_ADDR"), Handler: idp, ReadHeaderTimeout: 10 * time.Second}, log)
}

// client is a site at the provider: after signing out there, the person goes back to the site's
// front page, at the origin of its sign-in callback.
func client(id, secret, redirect string) devidp.Client {
	c := devidp.Client{ID: id, Secret: secret, RedirectURIs: []string{redirect}}
	if u, err := url.Parse(redirect); err == nil {
		c.PostLogoutRedirectURIs = []string{web.PostLogoutURL(u.Scheme + "://" + u.Host)}
	}
	return c
}
