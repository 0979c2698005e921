// Package notifier delivers the outbox: e-mail over SMTP and text messages through an SMS gateway in
// production, and in dev a mailbox in the database that a person can read in the office. A message
// says only that something is ready and where to sign in to see it: the reply itself never travels
// by e-mail. The one exception is a one-time code, which goes to the identifier it confirms.
package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/texts"
)

// Config is the notifier's own configuration. There is no dev fallback: the public addresses and
// the office's e-mail are required, so that a production notifier cannot send a link to 127.0.0.1
// or an alarm to nobody.
type Config struct {
	// SMTPAddr is the mail relay, host:port. Empty means dev: capture messages in the mailbox.
	SMTPAddr string `env:"SMTP_ADDR" doc:"mail relay, host:port; unset means the dev mailbox"`
	From     string `env:"MAIL_FROM" default:"kirjaamo@localhost" doc:"the sender of e-mail"`
	// PortalURL is the portal's public address, for the link in a message to a subject.
	PortalURL string `env:"PORTAL_URL" required:"" doc:"the portal's public address, for the link in a message to a subject"`
	// OfficeURL is the office's address, for the link in a message to the office.
	OfficeURL string `env:"OFFICE_URL" required:"" doc:"the office's public address, for the link in a message to the office"`
	// OfficeEmail receives the deadline's reminders and escalations.
	OfficeEmail string `env:"OFFICE_EMAIL" required:"" doc:"where the registry office receives deadline reminders and escalations"`
	// SMSURL is the SMS gateway's endpoint, which takes POST {"to": "+358…", "text": "…"} as JSON and
	// answers 2xx once it has accepted the message; SMSToken, if set, goes as a bearer token. Empty
	// means dev: capture text messages in the mailbox. With SMTP configured (production) it is
	// required: a phone number is confirmed by a code sent to it, and a notifier that could not
	// send the code would leave subjects unable to confirm theirs.
	SMSURL   string        `env:"SMS_URL" doc:"SMS gateway for one-time codes: POST {\"to\": \"+358…\", \"text\": \"…\"} as JSON, 2xx once accepted; unset means the dev mailbox, and with _SMTP_ADDR set it is required"`
	SMSToken string        `env:"SMS_TOKEN" doc:"the SMS gateway's bearer token, if it takes one"`
	Every    time.Duration `env:"NOTIFIER_EVERY" default:"2s" doc:"how often the notifier looks at the outbox"`
}

// LoadConfig reads the notifier's configuration from the environment.
func LoadConfig() (Config, error) {
	var cfg Config
	return cfg, config.Load("KIRJAAMO_", &cfg)
}

// Check refuses a production configuration that would leave a kind of message undeliverable.
func (cfg *Config) Check() error {
	if cfg.SMTPAddr != "" && cfg.SMSURL == "" {
		return errors.New("notifier: KIRJAAMO_SMS_URL is required with KIRJAAMO_SMTP_ADDR: one-time codes to phone numbers go through an SMS gateway")
	}
	return nil
}

// Deps are what the notifier runs on: the outbox, nothing else.
type Deps struct {
	Outbox *outbox.Outbox
	Log    *slog.Logger
}

// Run delivers pending messages until ctx ends. It does not start with a configuration that could
// not deliver every kind of message (Check).
func Run(ctx context.Context, cfg Config, deps Deps) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	sms := &http.Client{Timeout: 15 * time.Second}
	send := func(ctx context.Context, tx pgx.Tx, m outbox.Message) error {
		if toOffice(m.Kind) {
			m.Recipient = cfg.OfficeEmail
		}
		if m.Recipient == "" {
			return nil // no address given: the subject reads it on the case page
		}
		subject, body, err := compose(cfg, m)
		if err != nil {
			return err
		}
		if channel, _ := m.Payload["channel"].(string); channel == "sms" {
			if cfg.SMSURL == "" {
				return deps.Outbox.CaptureInMailbox(ctx, tx, m.ID, outbox.MailboxMessage{Channel: "sms", Recipient: m.Recipient, Subject: subject, Body: body})
			}
			return sendSMS(ctx, sms, cfg, m.Recipient, body)
		}
		if cfg.SMTPAddr == "" {
			return deps.Outbox.CaptureInMailbox(ctx, tx, m.ID, outbox.MailboxMessage{Channel: "email", Recipient: m.Recipient, Subject: subject, Body: body})
		}
		msg := "From: " + cfg.From + "\r\nTo: " + m.Recipient + "\r\nSubject: " + subject +
			"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
		return smtp.SendMail(cfg.SMTPAddr, nil, cfg.From, []string{m.Recipient}, []byte(msg))
	}
	deps.Log.Info("notifier serving", "mode", map[bool]string{true: "dev mailbox", false: "smtp"}[cfg.SMTPAddr == ""],
		"sms", map[bool]string{true: "dev mailbox", false: "gateway"}[cfg.SMSURL == ""])
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		if n, err := deps.Outbox.SendPending(ctx, 100, send); err != nil && !errors.Is(err, context.Canceled) {
			deps.Log.Warn("notifier: delivery failed; will retry", "error", err)
		} else if n > 0 {
			deps.Log.Info("notifier: delivered", "messages", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// toOffice reports whether a kind of message goes to the registry office, not to a subject.
func toOffice(k outbox.Kind) bool {
	switch k {
	case outbox.KindDeadlineReminder, outbox.KindDeadlineMissed:
		return true
	case outbox.KindRequestReceived, outbox.KindReplyReady, outbox.KindDeadlineExtended, outbox.KindInformationNeeded, outbox.KindRequestWithdrawn,
		outbox.KindLiftNotice, outbox.KindRestrictionLifted, outbox.KindIdentityNotVerified, outbox.KindIdentifierCode,
		outbox.KindDisclosureNotice:
		return false
	}
	return false
}

// sendSMS hands a text message to the gateway. An error leaves the message in the outbox, to be
// retried; it never names the recipient, which would put the number in the log.
func sendSMS(ctx context.Context, hc *http.Client, cfg Config, to, text string) error {
	body, err := json.Marshal(map[string]string{"to": to, "text": text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.SMSURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cfg.SMSToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.SMSToken)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms gateway: answered %d", resp.StatusCode)
	}
	return nil
}

// compose writes a message in its language from the catalogue (mail.subject.<kind>,
// mail.body.<kind>). A message to a subject links to the case in the portal, one to the office to the
// case in the office. Two kinds carry more: a one-time code (%[1]s the code, %[2]d how many minutes it
// is valid; short enough for one text message, and saying what to do if the reader did not ask for
// it, since anyone may have typed the number), and the reasons a letter writer's identity could not
// be established (%[1]s), since the writer has no portal session to read them in.
func compose(cfg Config, m outbox.Message) (subject, body string, err error) {
	lang, _ := contracts.ParseLanguage(m.Language)
	t := texts.In(lang)
	subject, body = t.Of("mail.subject", m.Kind), t.Of("mail.body", m.Kind)
	switch m.Kind {
	case outbox.KindIdentifierCode:
		code, _ := m.Payload["code"].(string)
		if len(code) != 6 {
			return "", "", errors.New("a code message without its code")
		}
		minutes, _ := m.Payload["minutes"].(float64)
		return subject, fmt.Sprintf(body, code, int(minutes)), nil
	case outbox.KindIdentityNotVerified:
		reasons, _ := m.Payload["reasons"].(string)
		if reasons == "" {
			return "", "", errors.New("an identity refusal without its reasons")
		}
		return subject, fmt.Sprintf(body, reasons), nil
	case outbox.KindDeadlineReminder, outbox.KindDeadlineMissed:
		due, _ := m.Payload["deadline"].(string)
		return subject, fmt.Sprintf(body, strings.TrimRight(cfg.OfficeURL, "/")+"/cases/"+m.RequestID, due), nil
	case outbox.KindRequestReceived:
		// The reference and the deadline, so that the receipt is worth keeping on its own.
		due, err := time.ParseInLocation("2006-01-02", fmt.Sprint(m.Payload["deadline"]), texts.Helsinki)
		if err != nil {
			return "", "", errors.New("a receipt without its deadline")
		}
		link := strings.TrimRight(cfg.PortalURL, "/") + "/" + string(lang) + "/requests/" + m.RequestID
		return subject, fmt.Sprintf(body, link, strings.ToUpper(m.RequestID[:min(8, len(m.RequestID))]), t.Date(due)), nil
	case outbox.KindReplyReady, outbox.KindDeadlineExtended, outbox.KindInformationNeeded, outbox.KindRequestWithdrawn,
		outbox.KindLiftNotice, outbox.KindRestrictionLifted:
		link := strings.TrimRight(cfg.PortalURL, "/") + "/" + string(lang) + "/requests/" + m.RequestID
		return subject, fmt.Sprintf(body, link), nil
	case outbox.KindDisclosureNotice:
		// How many, and where to see them: who received the data is told only to the person signed in.
		count, _ := m.Payload["count"].(float64)
		return subject, fmt.Sprintf(body, int(count), strings.TrimRight(cfg.PortalURL, "/")+"/"+string(lang)+"/processing?operation=disclosure"), nil
	}
	return "", "", fmt.Errorf("no text for message kind %q", m.Kind)
}
