package notifier

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kirjaamo.dev/services/internal/store/outbox"
)

func TestEveryKindHasItsText(t *testing.T) {
	cfg := Config{PortalURL: "https://portal.example", OfficeURL: "https://office.example"}
	for _, kind := range outbox.Kinds {
		for _, lang := range []string{"fi", "sv", "en"} {
			m := outbox.Message{Kind: kind, Language: lang, RequestID: "r-1",
				Payload: map[string]any{"deadline": "2026-06-01", "code": "042917", "minutes": float64(15), "reasons": "no reply to our letter",
					"count": float64(2)}}
			subject, body, err := compose(cfg, m)
			if err != nil || subject == "" || strings.Contains(body, "%!") {
				t.Errorf("%s/%s: %q %q %v", kind, lang, subject, body, err)
			}
			// Every message but a code (which goes to a number anyone may have typed) links to the case;
			// a disclosure notice, which is about no case, to the disclosures in the portal.
			if kind != outbox.KindIdentifierCode && kind != outbox.KindIdentityNotVerified && kind != outbox.KindDisclosureNotice &&
				!strings.Contains(body, "r-1") {
				t.Errorf("%s/%s does not link to the case: %q", kind, lang, body)
			}
		}
	}
	if _, _, err := compose(cfg, outbox.Message{Kind: "unknown"}); err == nil {
		t.Error("an unknown kind composes")
	}
}

func TestADisclosureNoticeSaysHowManyAndWhereOnly(t *testing.T) {
	for _, lang := range []string{"fi", "sv", "en"} {
		_, body, err := compose(Config{PortalURL: "https://portal.example/"}, outbox.Message{Kind: outbox.KindDisclosureNotice, Language: lang,
			Payload: map[string]any{"count": float64(3)}})
		if err != nil || !strings.Contains(body, "3") || !strings.Contains(body, "https://portal.example/"+lang+"/processing?operation=disclosure") {
			t.Errorf("%s: %q (%v)", lang, body, err)
		}
	}
}

func TestACodeGoesInItsLanguageWithItsValidity(t *testing.T) {
	for _, lang := range []string{"fi", "sv", "en", ""} {
		subject, body, err := compose(Config{}, outbox.Message{Kind: outbox.KindIdentifierCode, Language: lang, RequestID: "r-1",
			Payload: map[string]any{"code": "042917", "channel": "sms", "minutes": float64(15)}})
		if err != nil || subject == "" || !strings.Contains(body, "042917") || !strings.Contains(body, "15") || strings.Contains(body, "%!") ||
			strings.Contains(body, "r-1") || len(body) > 200 {
			t.Errorf("%q: %q %q %v", lang, subject, body, err)
		}
	}
	if _, _, err := compose(Config{}, outbox.Message{Kind: outbox.KindIdentifierCode, Payload: map[string]any{}}); err == nil {
		t.Error("a code message without its code composes")
	}
}

func TestProductionNeedsAnSMSGateway(t *testing.T) {
	if err := (&Config{SMTPAddr: "mail:25"}).Check(); err == nil || !strings.Contains(err.Error(), "KIRJAAMO_SMS_URL") {
		t.Errorf("SMTP without an SMS gateway: %v, want refused naming KIRJAAMO_SMS_URL", err)
	}
	for _, ok := range []Config{{}, {SMTPAddr: "mail:25", SMSURL: "https://sms.example/send"}} {
		if err := ok.Check(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestATextMessageGoesToTheGateway(t *testing.T) {
	var got map[string]string
	var auth string
	status := http.StatusAccepted
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(status)
	}))
	defer gw.Close()
	cfg := Config{SMSURL: gw.URL, SMSToken: "t0ken"}
	if err := sendSMS(context.Background(), gw.Client(), cfg, "+358401110001", "code 042917"); err != nil {
		t.Fatal(err)
	}
	if got["to"] != "+358401110001" || got["text"] != "code 042917" || auth != "Bearer t0ken" {
		t.Errorf("the gateway got %v with %q", got, auth)
	}
	status = http.StatusBadGateway
	err := sendSMS(context.Background(), gw.Client(), cfg, "+358401110001", "code 042917")
	if err == nil || strings.Contains(err.Error(), "+358") {
		t.Errorf("a refusing gateway: %v, want an error that does not name the number", err)
	}
}
