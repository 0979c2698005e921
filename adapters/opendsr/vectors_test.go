package opendsr_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"kirjaamo.dev/adapters/opendsr"
)

// strictly decodes a document's example into v, refusing a field the type does not know: a field
// of the protocol the platform would silently drop is a failure.
func strictly(t *testing.T, name string, v any) []byte {
	t.Helper()
	data, err := opendsr.SpecExamples.ReadFile("testdata/spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

// sameMeaning fails unless two JSON documents hold the same values, whatever their layout.
func sameMeaning(t *testing.T, name string, want, got []byte) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%s changed meaning through the platform's types:\n want %s\n got  %s", name, want, got)
	}
}

// TestTheDocumentsExamplesKeepTheirMeaning decodes every example message of the OpenDSR documents
// into the type the platform reads or writes it with, and encodes it again: nothing is lost, added
// or changed.
func TestTheDocumentsExamplesKeepTheirMeaning(t *testing.T) {
	for name, v := range map[string]any{
		"readme-request.json": &opendsr.Request{}, "request.json": &opendsr.Request{}, "discovery.json": &opendsr.Discovery{},
		"receipt.json": &opendsr.Receipt{}, "status.json": &opendsr.StatusResponse{}, "callback.json": &opendsr.Callback{},
		"cancellation.json": &opendsr.Cancellation{}, "error.json": &opendsr.ErrorBody{},
	} {
		t.Run(name, func(t *testing.T) {
			data := strictly(t, name, v)
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			sameMeaning(t, name, data, again)
		})
	}
}

// TestTheDocumentsExamplesReadAsTheProtocolSays checks what the examples say, as the controller
// reads them: the discovery's identities and types, the statuses, the request's identity.
func TestTheDocumentsExamplesReadAsTheProtocolSays(t *testing.T) {
	var d opendsr.Discovery
	strictly(t, "discovery.json", &d)
	if !d.Supports(opendsr.TypeErasure) || d.Supports(opendsr.TypeAccess) {
		t.Errorf("discovery: erasure only, got %v", d.SupportedSubjectRequestTypes)
	}
	if !d.Takes(opendsr.IdentityEmail, opendsr.FormatSHA256) || !d.Takes(opendsr.IdentityEmail, opendsr.FormatRaw) || d.Takes(opendsr.IdentityEmail, opendsr.FormatMD5) {
		t.Errorf("discovery: e-mail raw and sha256, got %v", d.SupportedIdentities)
	}
	var s opendsr.StatusResponse
	strictly(t, "status.json", &s)
	var c opendsr.Callback
	strictly(t, "callback.json", &c)
	for _, st := range []opendsr.Status{s.RequestStatus, c.RequestStatus} {
		if st != opendsr.StatusPending || st.Final() {
			t.Errorf("status %q: want pending, not final", st)
		}
	}
	for _, name := range []string{"request.json", "readme-request.json"} {
		var r opendsr.Request
		strictly(t, name, &r)
		if r.SubjectRequestType != opendsr.TypeErasure || len(r.SubjectIdentities) != 1 ||
			r.SubjectIdentities[0] != (opendsr.Identity{Type: opendsr.IdentityEmail, Value: "johndoe@example.com", Format: opendsr.FormatRaw}) {
			t.Errorf("%s: an erasure for johndoe@example.com, raw; got %+v", name, r)
		}
	}
	// The controller sends identities hashed as the processor declares: the example address in
	// the format the example discovery takes besides raw, as sha256sum prints it.
	if h, err := opendsr.FormatSHA256.Hash("johndoe@example.com"); err != nil || h != "55e79200c1635b37ad31a378c39feb12f120f116625093a19bc32fff15041149" {
		t.Errorf("sha256 of the example address: %q, %v", h, err)
	}
}
