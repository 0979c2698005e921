package casefile

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
)

const packaged = `{"category":"processing log","fields":{"seq":"1"}}
{"category":"processing log","fields":{"seq":"2"}}
{"category":"processing log","fields":{"seq":"3"}}
`

func accessPackage() Package {
	ref := contracts.PackageRef{Bucket: contracts.PackageBucket("log"), Object: "r/log", Format: contracts.PackageFormat, Records: 3, Size: int64(len(packaged))}
	f := File{Registers: []Register{
		{ID: "clinic", Code: "found", Data: []contracts.Record{{Category: "invitations", Fields: map[string]string{"event": "Webinar"}}}},
		{ID: "log", Code: "found", Package: &ref},
		{ID: "empty", Code: "no_data"},
	}}
	f.Case.RequestID = "r"
	return f.Package(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
}

func opener(body string, err error) Opener {
	return func(_ context.Context, registerID string, _ contracts.PackageRef) (io.ReadCloser, error) {
		if registerID != "log" {
			return nil, errors.New("opened the package of a register that has none")
		}
		return io.NopCloser(io.MultiReader(strings.NewReader(body), errReader{err})), nil
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

func TestTheJSONPackageHasThePackagedRecordsInline(t *testing.T) {
	var out bytes.Buffer
	if err := accessPackage().WriteJSON(context.Background(), &out, opener(packaged, nil)); err != nil {
		t.Fatal(err)
	}
	var doc Package
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out.String())
	}
	got := map[string]int{}
	for _, r := range doc.Registers {
		got[r.RegisterID] = len(r.Records)
	}
	if got["clinic"] != 1 || got["log"] != 3 || got["empty"] != 0 || doc.RequestID != "r" {
		t.Fatalf("records per register: %v", got)
	}
	if doc.Registers[1].Records[2].Fields["seq"] != "3" {
		t.Fatalf("the packaged records are not the package's: %+v", doc.Registers[1].Records)
	}
}

func TestTheZIPCarriesThePackageAsItCame(t *testing.T) {
	var out bytes.Buffer
	if err := accessPackage().WriteZIP(context.Background(), &out, opener(packaged, nil)); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		files[f.Name] = string(b)
	}
	if files["log/records.jsonl"] != packaged {
		t.Fatalf("log/records.jsonl: %q", files["log/records.jsonl"])
	}
	if !strings.Contains(files["clinic/invitations.csv"], "Webinar") {
		t.Fatalf("inline records lost their CSV: %v", files)
	}
	var doc Package
	if err := json.Unmarshal([]byte(files["package.json"]), &doc); err != nil {
		t.Fatal(err)
	}
	if p := doc.Registers[1].Package; p == nil || p.File != "log/records.jsonl" || p.Records != 3 || len(doc.Registers[1].Records) != 0 {
		t.Fatalf("package.json must point at the file, not repeat it: %+v", doc.Registers[1])
	}
}

func TestAPackageThatDoesNotArriveWholeFailsTheDownload(t *testing.T) {
	broken := errors.New("the package did not arrive whole")
	if err := accessPackage().WriteZIP(context.Background(), io.Discard, opener(packaged[:20], broken)); !errors.Is(err, broken) {
		t.Fatalf("ZIP: %v", err)
	}
	if err := accessPackage().WriteJSON(context.Background(), io.Discard, opener(packaged, broken)); !errors.Is(err, broken) {
		t.Fatalf("JSON: %v", err)
	}
	if err := accessPackage().WriteJSON(context.Background(), io.Discard, opener("not json\n", nil)); err == nil {
		t.Fatal("a line that is not a record made it into the JSON document")
	}
}
