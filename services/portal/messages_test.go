package portal

import (
	"testing"

	"kirjaamo.dev/contracts"
)

func TestEveryMessageInEveryLanguage(t *testing.T) {
	for key := range messages[contracts.Finnish] {
		for _, l := range contracts.Languages {
			if messages[l][key] == "" {
				t.Errorf("message %q has no %s text", key, l)
			}
		}
	}
	for _, l := range contracts.Languages {
		if len(messages[l]) != len(messages[contracts.Finnish]) {
			t.Errorf("%s has %d messages, fi has %d", l, len(messages[l]), len(messages[contracts.Finnish]))
		}
		for _, r := range contracts.Rights {
			if messages[l]["right_"+string(r)] == "" {
				t.Errorf("right %s has no %s name", r, l)
			}
		}
	}
}
