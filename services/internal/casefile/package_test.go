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

	"github.com/santhosh-tekuri/jsonschema/v6"

	"kirjaamo.dev/contracts"
)

const packaged = `{"category":"processing log","fields":{"seq":"1"}}
{"category":"processing log","fields":{"seq":"2"}}
{"category":"processing log","fields":{"seq":"3"}}
`

func accessPackage(lang contracts.Language) Package {
	ref := contracts.PackageRef{Bucket: contracts.PackageBucket("log"), Object: "r/log", Format: contracts.PackageFormat, Records: 3, Size: int64(len(packaged))}
	clinic := &contracts.Declaration{Records: []contracts.RecordType{{Category: "invitations",
		Name: contracts.Text{FI: "Kutsut", SV: "Inbjudningar", EN: "Invitations"},
		Fields: []contracts.RecordField{
			{Name: "event", Label: contracts.Text{FI: "Tilaisuus", SV: "Evenemang", EN: "Event"}, Format: contracts.FormatText},
			{Name: "invited_at", Label: contracts.Text{FI: "Kutsuttu", SV: "Inbjuden", EN: "Invited"}, Format: contracts.FormatDateTime},
			{Name: "opted_out", Label: contracts.Text{FI: "Kieltäytynyt", SV: "Avböjt", EN: "Opted out"}, Format: contracts.FormatBoolean}}}}}
	f := File{Registers: []Register{
		{ID: "clinic", Code: "granted", Name: contracts.Text{FI: "Klinikan kutsut", SV: "Klinikens inbjudningar", EN: "Clinic invitations"}, Records: 1,
			Declaration: clinic, Data: []contracts.Record{{Category: "invitations",
				Fields: map[string]string{"event": "Webinar", "invited_at": "2026-03-19T22:30:00Z", "opted_out": "false"}}}},
		{ID: "log", Code: "granted", Name: contracts.Text{FI: "Käsittelyloki", SV: "Behandlingslogg", EN: "Processing log"}, Records: 3, Package: &ref},
		{ID: "empty", Code: "no_data_held", Name: contracts.Text{FI: "Tyhjä", SV: "Tom", EN: "Empty"}},
	}}
	f.Case.RequestID, f.Case.Right = "0195d5c8-8d3e-7c1a-9f00-00000000aaaa", contracts.RightAccess
	return f.Package(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), lang)
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
	if err := accessPackage(contracts.English).WriteJSON(context.Background(), &out, opener(packaged, nil)); err != nil {
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
	// The document is what its published schema says.
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("access-package.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("access-package.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(out.Bytes()))
	if err := schema.Validate(inst); err != nil {
		t.Errorf("the package does not follow its schema: %v", err)
	}
	if got["clinic"] != 1 || got["log"] != 3 || got["empty"] != 0 || doc.RequestID != "0195d5c8-8d3e-7c1a-9f00-00000000aaaa" {
		t.Fatalf("records per register: %v", got)
	}
	if doc.Registers[1].Records[2].Fields["seq"] != "3" {
		t.Fatalf("the packaged records are not the package's: %+v", doc.Registers[1].Records)
	}
}

func TestTheZIPHoldsTheCoverLetterTheJSONAndACSVPerRegisterInTheLanguage(t *testing.T) {
	var out bytes.Buffer
	if err := accessPackage(contracts.Finnish).WriteZIP(context.Background(), &out, opener(packaged, nil)); err != nil {
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
	// The clinic's CSV: Finnish headers, a semicolon, the time in Finnish time, yes and no in words.
	clinic := files["klinikan-kutsut.csv"]
	for _, want := range []string{"\ufeffTietoryhmä;Tilaisuus;Kutsuttu;Kieltäytynyt", "Kutsut;Webinar;20.3.2026 0.30;ei"} {
		if !strings.Contains(clinic, want) {
			t.Errorf("klinikan-kutsut.csv does not hold %q:\n%s", want, clinic)
		}
	}
	// The packaged log is streamed into its own CSV, record by record.
	if log := files["kasittelyloki.csv"]; strings.Count(log, "\n") != 4 || !strings.Contains(log, "seq: 3") {
		t.Errorf("kasittelyloki.csv: %q", log)
	}
	if _, ok := files["tyhja.csv"]; ok {
		t.Error("a register without records has a CSV")
	}
	for _, name := range []string{"saatekirje.html", "saatekirje.pdf", "tiedot.json"} {
		if files[name] == "" {
			t.Errorf("the ZIP has no %s: %v", name, keys(files))
		}
	}
	if !strings.HasPrefix(files["saatekirje.pdf"], "%PDF-") {
		t.Error("saatekirje.pdf is not a PDF")
	}
	for _, want := range []string{`lang="fi"`, "Vastaus tietosuojapyyntöösi", "Tietosi ovat liitteenä", "Rekisterissä ei ole sinusta tietoja", "0195D5C8"} {
		if !strings.Contains(files["saatekirje.html"], want) {
			t.Errorf("the cover letter does not say %q", want)
		}
	}
	var doc Package
	if err := json.Unmarshal([]byte(files["tiedot.json"]), &doc); err != nil {
		t.Fatal(err)
	}
	// The ZIP's JSON names the packaged log's CSV rather than carry its records twice.
	if doc.Language != contracts.Finnish || len(doc.Registers[1].Records) != 0 || doc.Registers[1].File != "kasittelyloki.csv" ||
		len(doc.Registers[0].Records) != 1 || doc.Registers[0].File != "klinikan-kutsut.csv" {
		t.Fatalf("tiedot.json: %+v", doc.Registers)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAPackageThatDoesNotArriveWholeFailsTheDownload(t *testing.T) {
	broken := errors.New("the package did not arrive whole")
	// Cut short, the package's last line is no record, or the reader's error is the reason.
	if err := accessPackage(contracts.English).WriteZIP(context.Background(), io.Discard, opener(packaged[:20], broken)); err == nil {
		t.Fatalf("ZIP: %v", err)
	}
	if err := accessPackage(contracts.English).WriteJSON(context.Background(), io.Discard, opener(packaged, broken)); !errors.Is(err, broken) {
		t.Fatalf("JSON: %v", err)
	}
	if err := accessPackage(contracts.English).WriteJSON(context.Background(), io.Discard, opener("not json\n", nil)); err == nil {
		t.Fatal("a line that is not a record made it into the JSON document")
	}
}
