package contracts

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kirjaamo.dev/contracts/schemas"
)

func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	f, err := schemas.FS.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "https://kirjaamo.dev/schemas/" + name
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTheSchemasAgreeWithTheGoTypes checks that what the Go types produce and accept, the published
// schemas accept, and that what the Go validation refuses, the schemas refuse too: an adapter in
// another language that follows the schemas speaks the same protocol.
func TestTheSchemasAgreeWithTheGoTypes(t *testing.T) {
	const rid = "0195d5c8-8d3e-7c1a-9f00-000000000001"
	now := time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)
	task := Task{Protocol: TaskProtocol, TaskID: TaskID(rid, "clinic-event-invitations"), RequestID: rid, RegisterID: "clinic-event-invitations",
		Operation: OpErase, Right: RightErasure, Identifiers: []Identifier{{Type: IdentifierEmail, Value: "aino@example.fi"}},
		ReceivedAt: now, Deadline: now.AddDate(0, 1, 0)}
	lift := task
	lift.TaskID, lift.Operation = FollowUpTaskID(rid, "clinic-event-invitations", OpLiftRestriction), OpLiftRestriction
	found := Result{Protocol: ResultProtocol, TaskID: task.TaskID, RequestID: rid, RegisterID: task.RegisterID, Operation: OpLookup,
		Status: StatusFound, Records: []Record{{Category: "event invitations", Fields: map[string]string{"event": "Webinar"}}}, FinishedAt: now}
	refused := Result{Protocol: ResultProtocol, TaskID: task.TaskID, RequestID: rid, RegisterID: task.RegisterID, Operation: OpRectify,
		Status: StatusRefused, Refusal: &Refusal{Reason: "nothing to correct", Citation: "GDPR Art 16"}, FinishedAt: now}
	failed := Result{Protocol: ResultProtocol, TaskID: task.TaskID, RequestID: rid, RegisterID: task.RegisterID, Operation: OpErase,
		Status: StatusFailed, Error: NewError(ErrUnsupportedOperation, "no erase"), FinishedAt: now}
	beat := Heartbeat{Protocol: HeartbeatProtocol, RegisterID: "koronavilkku", Instance: "host-1", Digest: "sha256:ab", At: now}

	for name, c := range map[string]struct {
		schema string
		msg    any
		valid  func() error
	}{
		"task":      {"task.v1.schema.json", task, task.Validate},
		"follow-up": {"task.v1.schema.json", lift, lift.Validate},
		"found":     {"result.v1.schema.json", found, found.Validate},
		"refused":   {"result.v1.schema.json", refused, refused.Validate},
		"failed":    {"result.v1.schema.json", failed, failed.Validate},
		"heartbeat": {"heartbeat.v1.schema.json", beat, func() error { return Validate(&beat) }},
	} {
		if err := c.valid(); err != nil {
			t.Errorf("%s: the Go validation refuses it: %v", name, err)
		}
		raw, _ := json.Marshal(c.msg)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err := compileSchema(t, c.schema).Validate(inst); err != nil {
			t.Errorf("%s: the schema refuses what the Go types produce: %v", name, err)
		}
	}

	for name, c := range map[string]struct {
		schema string
		raw    string
	}{
		"task without identifiers":   {"task.v1.schema.json", `{"protocol":"kirjaamo.task/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","right":"access","identifiers":[],"received_at":"2026-04-30T10:00:00Z","deadline":"2026-06-01T00:00:00Z"}`},
		"unknown operation":          {"task.v1.schema.json", `{"protocol":"kirjaamo.task/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"teleport","right":"access","identifiers":[{"type":"phone","value":"+358401110001"}],"received_at":"2026-04-30T10:00:00Z","deadline":"2026-06-01T00:00:00Z"}`},
		"failed without error":       {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"failed","finished_at":"2026-04-30T10:00:00Z"}`},
		"records with no_data":       {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"no_data","records":[{"category":"c","fields":{}}],"finished_at":"2026-04-30T10:00:00Z"}`},
		"result without finished_at": {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"no_data"}`},
	} {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(c.raw)))
		if err != nil {
			t.Fatal(err)
		}
		if err := compileSchema(t, c.schema).Validate(inst); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}
