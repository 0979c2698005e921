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

	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/store/outbox"
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
				return outbox.CaptureInMailbox(ctx, tx, m.ID, outbox.MailboxMessage{Channel: "sms", Recipient: m.Recipient, Subject: subject, Body: body})
			}
			return sendSMS(ctx, sms, cfg, m.Recipient, body)
		}
		if cfg.SMTPAddr == "" {
			return outbox.CaptureInMailbox(ctx, tx, m.ID, outbox.MailboxMessage{Channel: "email", Recipient: m.Recipient, Subject: subject, Body: body})
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
	case outbox.KindReplyReady, outbox.KindDeadlineExtended, outbox.KindInformationNeeded, outbox.KindRequestWithdrawn,
		outbox.KindLiftNotice, outbox.KindRestrictionLifted, outbox.KindIdentityNotVerified, outbox.KindIdentifierCode:
		return false
	}
	return false
}

// officeTexts go to the registry office; their link opens the case in the office.
var officeTexts = map[outbox.Kind][2]string{
	"deadline_reminder": {"Deadline approaching: a data protection request", "The legal deadline of a request is %[2]s. Open the case:\n%[1]s"},
	"deadline_missed":   {"Deadline missed: a data protection request", "The legal deadline of a request, %[2]s, has passed without a reply. Open the case:\n%[1]s"},
}

var texts = map[outbox.Kind]map[string][2]string{
	"reply_ready": {
		"fi": {"Vastaus tietosuojapyyntöösi on valmis", "Hei,\n\nvastaus tietosuojapyyntöösi on valmis. Voit lukea sen tunnistautumalla palveluun:\n%s\n\nKirjaamo"},
		"sv": {"Svaret på din dataskyddsbegäran är klart", "Hej,\n\nsvaret på din dataskyddsbegäran är klart. Du kan läsa det genom att identifiera dig i tjänsten:\n%s\n\nKirjaamo"},
		"en": {"The reply to your data protection request is ready", "Hello,\n\nthe reply to your data protection request is ready. Identify yourself in the service to read it:\n%s\n\nKirjaamo"},
	},
	"deadline_extended": {
		"fi": {"Tietosuojapyyntösi käsittelyaikaa on jatkettu", "Hei,\n\ntietosuojapyyntösi käsittelyaikaa on jatkettu. Perustelut ja uuden määräajan näet tunnistautumalla palveluun:\n%s\n\nKirjaamo"},
		"sv": {"Tiden för behandlingen av din dataskyddsbegäran har förlängts", "Hej,\n\ntiden för behandlingen av din dataskyddsbegäran har förlängts. Skälen och den nya tidsfristen ser du genom att identifiera dig i tjänsten:\n%s\n\nKirjaamo"},
		"en": {"The time to handle your data protection request has been extended", "Hello,\n\nthe time to handle your data protection request has been extended. Identify yourself in the service to read the reasons and the new deadline:\n%s\n\nKirjaamo"},
	},
	"lift_notice": {
		"fi": {"Käsittelyn rajoitus poistetaan", "Hei,\n\ntietojesi käsittelyn rajoitus poistetaan pian (tietosuoja-asetuksen 18 artiklan 3 kohta). Lisätiedot:\n%s\n\nKirjaamo"},
		"sv": {"Begränsningen av behandlingen hävs", "Hej,\n\nbegränsningen av behandlingen av dina uppgifter hävs snart (artikel 18.3 i dataskyddsförordningen). Mer information:\n%s\n\nKirjaamo"},
		"en": {"The restriction of processing will be lifted", "Hello,\n\nthe restriction of the processing of your data will soon be lifted (GDPR Art 18(3)). More:\n%s\n\nKirjaamo"},
	},
	"information_needed": {
		"fi": {"Lisätiedoilla voimme hakea useammasta rekisteristä", "Hei,\n\nosa rekistereistämme ei voi yhdistää tietoja sinuun niillä tunnisteilla, jotka meillä on (tietosuoja-asetuksen 11 artiklan 2 kohta). Jos lisäät pyyntöösi esimerkiksi puhelinnumeron, haemme myös niistä. Näet, mitä tarvitaan, tunnistautumalla palveluun:\n%s\n\nKirjaamo"},
		"sv": {"Med fler uppgifter kan vi söka i fler register", "Hej,\n\nen del av våra register kan inte koppla uppgifter till dig med de identifierare vi har (artikel 11.2 i dataskyddsförordningen). Om du lägger till till exempel ett telefonnummer i din begäran söker vi också i dem. Vad som behövs ser du genom att identifiera dig i tjänsten:\n%s\n\nKirjaamo"},
		"en": {"With more information we can search more registers", "Hello,\n\nsome of our registers cannot link data to you by the identifiers we have (GDPR Art 11(2)). If you add, for example, a phone number to your request, we search them too. Identify yourself in the service to see what is needed:\n%s\n\nKirjaamo"},
	},
	"request_withdrawn": {
		"fi": {"Tietosuojapyyntösi on peruttu", "Hei,\n\ntietosuojapyyntösi on peruttu. Näet tunnistautumalla palveluun, mitkä rekisterit ehtivät jo toteuttaa sen:\n%s\n\nKirjaamo"},
		"sv": {"Din dataskyddsbegäran har återkallats", "Hej,\n\ndin dataskyddsbegäran har återkallats. Vilka register som redan hann verkställa den ser du genom att identifiera dig i tjänsten:\n%s\n\nKirjaamo"},
		"en": {"Your data protection request has been withdrawn", "Hello,\n\nyour data protection request has been withdrawn. Identify yourself in the service to see which registers had already carried it out:\n%s\n\nKirjaamo"},
	},
	"restriction_lifted": {
		"fi": {"Käsittelyn rajoitus on poistettu", "Hei,\n\ntietojesi käsittelyn rajoitus on poistettu. Lisätiedot:\n%s\n\nKirjaamo"},
		"sv": {"Begränsningen av behandlingen har hävts", "Hej,\n\nbegränsningen av behandlingen av dina uppgifter har hävts. Mer information:\n%s\n\nKirjaamo"},
		"en": {"The restriction of processing has been lifted", "Hello,\n\nthe restriction of the processing of your data has been lifted. More:\n%s\n\nKirjaamo"},
	},
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

// codeTexts carry a one-time code to the identifier it confirms: %[1]s is the code, %[2]d how many
// minutes it is valid. They are short enough for one text message and say what to do if the
// reader did not ask for the code, since anyone may have typed the number.
var codeTexts = map[string][2]string{
	"fi": {"Kirjaamo: vahvistuskoodi", "Kirjaamo: vahvistuskoodisi on %[1]s. Se on voimassa %[2]d minuuttia. Jos et itse antanut tätä tunnistetta tietosuojapyyntöön, älä kerro koodia kenellekään."},
	"sv": {"Kirjaamo: verifieringskod", "Kirjaamo: din verifieringskod är %[1]s. Den gäller i %[2]d minuter. Om du inte själv angav denna identifierare i en dataskyddsbegäran, ge inte koden till någon."},
	"en": {"Kirjaamo: confirmation code", "Kirjaamo: your confirmation code is %[1]s. It is valid for %[2]d minutes. If you did not give this identifier in a data protection request yourself, tell nobody the code."},
}

// identityTexts tell the sender why, and of the right to complain and to a judicial remedy (Art
// 12(4)): %[1]s is the clerk's reasons.
var identityTexts = map[string][2]string{
	"fi": {"Tietosuojapyyntöäsi ei voitu käsitellä", "Hei,\n\nemme voineet varmistaa henkilöllisyyttäsi, joten emme voi toteuttaa tietosuojapyyntöäsi (tietosuoja-asetuksen 12 artiklan 2 ja 6 kohta). Perustelut:\n\n%[1]s\n\nVoit tehdä pyynnön uudelleen ja varmistaa henkilöllisyytesi. Sinulla on oikeus tehdä valitus tietosuojavaltuutetulle ja hakea muutosta tuomioistuimessa.\n\nKirjaamo"},
	"sv": {"Din dataskyddsbegäran kunde inte behandlas", "Hej,\n\nvi kunde inte fastställa din identitet och kan därför inte verkställa din dataskyddsbegäran (artikel 12.2 och 12.6 i dataskyddsförordningen). Skälen:\n\n%[1]s\n\nDu kan göra en ny begäran och bekräfta din identitet. Du har rätt att lämna in klagomål till dataombudsmannen och att söka ändring i domstol.\n\nKirjaamo"},
	"en": {"Your data protection request could not be acted on", "Hello,\n\nwe could not establish your identity, so we cannot act on your data protection request (GDPR Art 12(2), 12(6)). The reasons:\n\n%[1]s\n\nYou may make the request again and confirm your identity. You have the right to lodge a complaint with the Data Protection Ombudsman and to seek a judicial remedy.\n\nKirjaamo"},
}

func compose(cfg Config, m outbox.Message) (subject, body string, err error) {
	if m.Kind == outbox.KindIdentifierCode {
		code, _ := m.Payload["code"].(string)
		if len(code) != 6 {
			return "", "", errors.New("a code message without its code")
		}
		minutes, _ := m.Payload["minutes"].(float64)
		t, ok := codeTexts[m.Language]
		if !ok {
			t = codeTexts["fi"]
		}
		return t[0], fmt.Sprintf(t[1], code, int(minutes)), nil
	}
	if m.Kind == outbox.KindIdentityNotVerified {
		// The sender of a letter has no portal session: the reasons go in the message itself.
		reasons, _ := m.Payload["reasons"].(string)
		if reasons == "" {
			return "", "", errors.New("an identity refusal without its reasons")
		}
		t, ok := identityTexts[m.Language]
		if !ok {
			t = identityTexts["fi"]
		}
		return t[0], fmt.Sprintf(t[1], reasons), nil
	}
	if t, ok := officeTexts[m.Kind]; ok {
		link := strings.TrimRight(cfg.OfficeURL, "/") + "/cases/" + m.RequestID
		due, _ := m.Payload["deadline"].(string)
		return t[0], fmt.Sprintf(t[1], link, due), nil
	}
	byLang, ok := texts[m.Kind]
	if !ok {
		return "", "", fmt.Errorf("no text for message kind %q", m.Kind)
	}
	t, ok := byLang[m.Language]
	if !ok {
		t = byLang["fi"]
	}
	lang := m.Language
	if lang == "" {
		lang = "fi"
	}
	link := strings.TrimRight(cfg.PortalURL, "/") + "/" + lang + "/requests/" + m.RequestID
	return t[0], fmt.Sprintf(t[1], link), nil
}
