package catalogue

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDiffShowsWhatChanged(t *testing.T) {
	old := json.RawMessage(`{"register_id":"clinic","version":"1","identification":{"level":"linkable"}}`)
	new := json.RawMessage(`{"register_id":"clinic","version":"2","identification":{"level":"linkable"}}`)
	changes := Changes(Diff(old, new))
	if len(changes) != 2 || changes[0].Op != '-' || changes[0].Text != `  "version": "1",` || changes[1].Op != '+' || changes[1].Text != `  "version": "2",` {
		t.Fatalf("changes = %q", changes)
	}
	if got := Changes(Diff(nil, new)); len(got) != len(lines(new)) {
		t.Errorf("a first version: %d added lines, want all %d", len(got), len(lines(new)))
	}
	if got := Changes(Diff(old, old)); len(got) != 0 {
		t.Errorf("identical versions differ: %q", got)
	}
}

func TestAvailability(t *testing.T) {
	now := time.Now()
	if Available(time.Time{}, now) || Available(now.Add(-time.Minute), now) || !Available(now.Add(-5*time.Second), now) {
		t.Error("availability by heartbeat is wrong")
	}
}
