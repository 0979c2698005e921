package notifier

import (
	"strings"
	"testing"

	"kirjaamo.dev/services/internal/store"
)

func TestEveryKindHasItsText(t *testing.T) {
	cfg := Config{PortalURL: "https://portal.example", OfficeURL: "https://office.example"}
	for _, kind := range []string{"reply_ready", "deadline_extended", "lift_notice", "restriction_lifted", "deadline_reminder", "deadline_missed"} {
		for _, lang := range []string{"fi", "sv", "en"} {
			subject, body, err := compose(cfg, store.OutboxMessage{Kind: kind, Language: lang, RequestID: "r-1",
				Payload: map[string]any{"deadline": "2026-06-01"}})
			if err != nil || subject == "" || !strings.Contains(body, "r-1") || strings.Contains(body, "%!") {
				t.Errorf("%s/%s: %q %q %v", kind, lang, subject, body, err)
			}
		}
	}
	if _, _, err := compose(cfg, store.OutboxMessage{Kind: "unknown"}); err == nil {
		t.Error("an unknown kind composes")
	}
}
