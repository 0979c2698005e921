package request

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"kirjaamo.dev/workflows/codec"
)

// TestReplaySavedHistories replays every saved history against the current workflow code. A change
// that is not deterministic for workflows already running fails here, before it reaches them. The
// histories come from real runs of the platform (see services/devstack, KIRJAAMO_SAVE_REPLAY), each
// with the dev key its payloads were encrypted with.
func TestReplaySavedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no saved histories to replay (%v)", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			key, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".key")
			if err != nil {
				t.Fatal(err)
			}
			c, err := codec.ParseKeys(strings.TrimSpace(string(key)))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			history, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				DataConverter: c.DataConverter(), FailureConverter: c.FailureConverter()})
			if err != nil {
				t.Fatal(err)
			}
			replayer.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
			if err := replayer.ReplayWorkflowHistory(nil, history); err != nil {
				t.Fatalf("replay of %s: %v", file, err)
			}
		})
	}
}
