// Command kirjaamo-mailbox shows the dev mailbox as a process of its own (make cluster): what the
// notifier, run without a mail relay or an SMS gateway, captured instead of sending. It reads
// KIRJAAMO_DATABASE_URL and KIRJAAMO_PAYLOAD_KEYS (the outbox is sealed under them) and serves
// KIRJAAMO_MAILBOX_ADDR (host:port). Like the office, whose dev page it stands in for, it is in
// English, and like it, it puts every reading of the mailbox on the record first.
package main

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/codec"
)

var page = template.Must(template.New("mailbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev mailbox</title></head>
<body><h1>Dev mailbox</h1>
<p>What the notifier would have sent, newest first.</p>
{{range .}}<article><h2>{{.Subject}}</h2><p>{{.Channel}} to {{.Recipient}}, {{.SentAt.Format "2006-01-02 15:04:05"}}</p><pre>{{.Body}}</pre></article>
{{else}}<p>Nothing yet.</p>{{end}}
</body></html>
`))

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kirjaamo-mailbox:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	keys, err := codec.ParseKeys(os.Getenv("KIRJAAMO_PAYLOAD_KEYS"))
	if err != nil {
		return err
	}
	ring, err := store.NewKeyring(keys)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, os.Getenv("KIRJAAMO_DATABASE_URL"), ring, log)
	if err != nil {
		return err
	}
	defer db.Close()
	box, rec := outbox.New(db), record.New(db)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		msgs, err := box.Mailbox(r.Context(), 100)
		if err == nil {
			ids := make([]int64, len(msgs))
			for i, m := range msgs {
				ids[i] = m.ID
			}
			_, err = rec.WriteOnce(r.Context(), record.Entry{Actor: "dev mailbox", Role: "dev", Action: "read_mailbox",
				Detail: map[string]any{"messages": ids}}, time.Minute)
		}
		if err != nil {
			http.Error(w, "The mailbox is not available right now.", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, msgs)
	})
	return web.Serve(ctx, &http.Server{Addr: os.Getenv("KIRJAAMO_MAILBOX_ADDR"), Handler: web.SecurityHeaders(mux, false),
		ReadHeaderTimeout: 10 * time.Second}, log)
}
