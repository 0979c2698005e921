package contracts

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
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
const packageJSON = `{"bucket":"register-koronavilkku-packages","object":"x","format":"application/x-ndjson","records":1,"size":10,` +
	`"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",` +
	`"sealing":{"scheme":"x25519-hkdf-sha256-aes256gcm-stream/v1","ephemeral_key":"OaG3k8b2p4jFoPHyZg79O17UbsTm0IuSP9m+sf15nns=","chunk_size":65536}}`

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
		Status: StatusRefused, Refusal: &Refusal{Code: "nothing_to_correct", Reason: Text{FI: "Korjattavaa ei ole.", SV: "Inget att rätta.", EN: "Nothing to correct."}, Citation: "GDPR Art 16; Act 1227/2016 s. 43c"}, FinishedAt: now}
	failed := Result{Protocol: ResultProtocol, TaskID: task.TaskID, RequestID: rid, RegisterID: task.RegisterID, Operation: OpErase,
		Status: StatusFailed, Error: NewError(ErrUnsupportedOperation, "no erase"), FinishedAt: now}
	lookup := task
	lookup.Operation, lookup.Right = OpLookup, RightAccess
	lookup.Package = &PackageTarget{Key: "POULoGY+RFcDomwgcgcEKXhO3LzWbFnnid0Ruk8s6x0=", InlineLimit: DefaultInlineLimit}
	packaged := found
	packaged.Records = nil
	packaged.Package = &PackageRef{Bucket: PackageBucket(task.RegisterID), Object: PackageObject(task.TaskID), Format: PackageFormat,
		Records: 5_000_000, Size: 1 << 30, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Sealing: Sealing{Scheme: SealingScheme, EphemeralKey: "OaG3k8b2p4jFoPHyZg79O17UbsTm0IuSP9m+sf15nns=", ChunkSize: 65536}}
	cancelled := failed
	cancelled.Error = NewError(ErrCancelled, "the request was withdrawn")
	event := Event{Protocol: EventProtocol, RegisterID: task.RegisterID, Kind: EventCallbackRefused, TaskID: task.TaskID, RequestID: rid,
		Detail: map[string]string{"reason": "bad signature"}, At: now}
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
		"lookup":    {"task.v1.schema.json", lookup, lookup.Validate},
		"packaged":  {"result.v1.schema.json", packaged, packaged.Validate},
		"cancelled": {"result.v1.schema.json", cancelled, cancelled.Validate},
		"heartbeat": {"heartbeat.v1.schema.json", beat, func() error { return Validate(&beat) }},
		"event":     {"event.v1.schema.json", event, event.Validate},
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
		"task without identifiers":    {"task.v1.schema.json", `{"protocol":"kirjaamo.task/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","right":"access","identifiers":[],"received_at":"2026-04-30T10:00:00Z","deadline":"2026-06-01T00:00:00Z"}`},
		"unknown operation":           {"task.v1.schema.json", `{"protocol":"kirjaamo.task/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"teleport","right":"access","identifiers":[{"type":"phone","value":"+358401110001"}],"received_at":"2026-04-30T10:00:00Z","deadline":"2026-06-01T00:00:00Z"}`},
		"failed without error":        {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"failed","finished_at":"2026-04-30T10:00:00Z"}`},
		"records with no_data":        {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"no_data","records":[{"category":"c","fields":{}}],"finished_at":"2026-04-30T10:00:00Z"}`},
		"package with no_data":        {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"no_data","package":` + packageJSON + `,"finished_at":"2026-04-30T10:00:00Z"}`},
		"records and package":         {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"found","records":[{"category":"c","fields":{}}],"package":` + packageJSON + `,"finished_at":"2026-04-30T10:00:00Z"}`},
		"package with upper-case sha": {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"found","package":` + strings.Replace(packageJSON, "9f86d0", "9F86D0", 1) + `,"finished_at":"2026-04-30T10:00:00Z"}`},
		"event of an unknown kind":    {"event.v1.schema.json", `{"protocol":"kirjaamo.event/v1","register_id":"koronavilkku","kind":"gossip","at":"2026-04-30T10:00:00Z"}`},
		"refusal in English alone":    {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"rectify","status":"refused","refusal":{"reason":"nothing to correct","citation":"GDPR Art 16"},"finished_at":"2026-04-30T10:00:00Z"}`},
		"refusal without a code":      {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"rectify","status":"refused","refusal":{"reason":{"fi":"a","sv":"b","en":"c"},"citation":"GDPR Art 16"},"finished_at":"2026-04-30T10:00:00Z"}`},
		"refusal citing in prose":     {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"rectify","status":"refused","refusal":{"code":"x_y","reason":{"fi":"a","sv":"b","en":"c"},"citation":"the Communicable Diseases Act"},"finished_at":"2026-04-30T10:00:00Z"}`},
		"result without finished_at":  {"result.v1.schema.json", `{"protocol":"kirjaamo.result/v1","task_id":"x","request_id":"` + rid + `","register_id":"koronavilkku","operation":"lookup","status":"no_data"}`},
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

// TestAPackageRefMustPointAtItsOwnTask: a register can only refer the platform to its own bucket
// and to the task's own object, never to another register's package.
func TestAPackageRefMustPointAtItsOwnTask(t *testing.T) {
	const rid = "0195d5c8-8d3e-7c1a-9f00-000000000001"
	ok := Result{Protocol: ResultProtocol, TaskID: TaskID(rid, "koronavilkku"), RequestID: rid, RegisterID: "koronavilkku",
		Operation: OpLookup, Status: StatusFound, FinishedAt: time.Now(),
		Package: &PackageRef{Bucket: PackageBucket("koronavilkku"), Object: TaskID(rid, "koronavilkku"), Format: PackageFormat,
			Records: 1, Size: 10, SHA256: strings.Repeat("ab", 32),
			Sealing: Sealing{Scheme: SealingScheme, EphemeralKey: "OaG3k8b2p4jFoPHyZg79O17UbsTm0IuSP9m+sf15nns=", ChunkSize: 65536}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid packaged result is refused: %v", err)
	}
	for field, change := range map[string]func(r *Result){
		"package.bucket": func(r *Result) { r.Package.Bucket = PackageBucket("kanta-client-register") },
		"package.object": func(r *Result) { r.Package.Object = TaskID(rid, "kanta-client-register") },
		"package":        func(r *Result) { r.Records = []Record{{Category: "c", Fields: map[string]string{}}} },
	} {
		r := ok
		p := *ok.Package
		r.Package = &p
		change(&r)
		ve, isVE := AsValidationError(r.Validate())
		if !isVE || !slices.ContainsFunc(ve.Fields, func(f FieldError) bool { return f.Field == field }) {
			t.Errorf("%s: want a field error on %s, got %v", field, field, r.Validate())
		}
	}
}
