package devstack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// rawHistory reads a workflow's history as the Temporal server stores it, payloads undecoded.
func rawHistory(t *testing.T, s *Stack, workflowID string) *historypb.History {
	return rawRunHistory(t, s, workflowID, "")
}

// rawRunHistory reads one run's history, the latest if runID is empty.
func rawRunHistory(t *testing.T, s *Stack, workflowID, runID string) *historypb.History {
	t.Helper()
	iter := s.Platform.Temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}

// assertNoPersonalData fails if any of the secrets appears anywhere in the history's bytes.
func assertNoPersonalData(t *testing.T, h *historypb.History, secrets ...string) {
	t.Helper()
	raw, err := proto.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) < 10 {
		t.Fatalf("history has only %d events: the check would prove nothing", len(h.Events))
	}
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the Temporal history holds personal data in clear text: %q", s)
		}
	}
}

// saveForReplay keeps a finished workflow's history, and the dev key that decrypts it, as a replay
// test case for the workflow package, when KIRJAAMO_SAVE_REPLAY names the case. Replaying old
// histories against new workflow code is how a non-deterministic change is caught before release.
func saveForReplay(t *testing.T, s *Stack, dataDir string, h *historypb.History, suffix ...string) {
	name := os.Getenv("KIRJAAMO_SAVE_REPLAY")
	if name == "" {
		return
	}
	name += strings.Join(suffix, "")
	dir := filepath.Join("..", "..", "workflows", "request", "testdata", "replay")
	data, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, "payload-keys"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved replay case %s", name)
}
