package devstack

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store/record"
)

// TestALargeResultArrivesAsAPackage: Liisa's Kanta processing log is too long to travel inline, so
// the register (on the generic SQL adapter) streams it sealed into its bucket; only the reference
// reaches the case, and the subject's download carries every entry, checked whole.
func TestALargeResultArrivesAsAPackage(t *testing.T) {
	s := sharedStack(t)
	ctx := context.Background()
	const register = "kanta-processing-log"
	liisa := demo.People[2]
	var want int
	if err := openRegisters(t, s).QueryRow(ctx, `SELECT count(*) FROM kanta_log.entries WHERE personal_identity_code = $1`,
		liisa.PersonalIdentityCode).Scan(&want); err != nil || want <= demo.LongLogEntries {
		t.Fatalf("Liisa's log holds %d entries (%v)", want, err)
	}

	status, created := api(t, "POST", s.PortalURL+"/api/v1/requests", idToken(t, s, liisa.Subject), "application/json",
		`{"right":"access","language":"en"}`)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["request_id"].(string)
	waitStatus(t, s, id, "in_review")

	file, err := s.Platform.Files.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var ref *contracts.PackageRef
	for _, r := range file.Registers {
		if r.ID == register {
			if len(r.Data) > 0 || r.Package == nil || r.Package.Records != int64(want) {
				t.Fatalf("the log's answer: %d records inline, package %+v; want %d records in a package", len(r.Data), r.Package, want)
			}
			ref = r.Package
		}
	}
	if ref == nil {
		t.Fatal("the processing log did not answer")
	}

	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	// The clerk can read the package before replying, and the record says who read which register's.
	_, casePage, _ := page(t, clerk, s.OfficeURL+"/cases/"+id)
	if !strings.Contains(casePage, `id="records-`+register+`"`) {
		t.Fatal("the office's case page has no link to the log's records")
	}
	status, records, _ := page(t, clerk, s.OfficeURL+"/cases/"+id+"/registers/"+register+"/records")
	if n := strings.Count(records, "\n"); status != http.StatusOK || n != want {
		t.Fatalf("the clerk's view of the log: %d with %d records, want %d", status, n, want)
	}
	trail, _ := s.Platform.Record.Trail(ctx, id)
	if !slices.ContainsFunc(trail, func(e record.Entry) bool {
		return e.Action == "viewed_records" && e.Detail["register_id"] == register && e.Purpose != "" && strings.Contains(e.Actor, "staff-kaisa")
	}) {
		t.Error("the record does not say that the clerk read the log's records, and why")
	}
	if status, body := post(t, clerk, s.OfficeURL+"/cases/"+id+"/approve", url.Values{"csrf": {csrf}}); status != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", status, body)
	}
	waitStatus(t, s, id, "replied")

	subject := browser(t)
	signIn(t, subject, s.PortalURL, "/en/login", liisa.Subject)
	download := func(name string) []byte {
		t.Helper()
		resp, err := subject.Get(s.PortalURL + "/en/requests/" + id + "/" + name)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("download %s: %v %v", name, resp.Status, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("download %s cut short: %v", name, err)
		}
		return b
	}

	zipped := download("package.zip")
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	// The log's records come streamed from its package into its CSV, one line each under the header,
	// with the labels the register declares.
	lines := 0
	for _, f := range zr.File {
		if f.Name != "kanta-services-processing-log.csv" {
			continue
		}
		rc, _ := f.Open()
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			if lines == 0 && !strings.Contains(sc.Text(), "Organisation that processed") {
				t.Fatalf("the CSV's header is %q", sc.Text())
			}
			if lines > 0 && !strings.HasPrefix(sc.Text(), "Processing log,") {
				t.Fatalf("line %d is not a processing log record: %s", lines, sc.Text())
			}
			lines++
		}
		rc.Close()
	}
	if lines != want+1 {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		t.Fatalf("the ZIP's CSV of the log has %d lines, want %d records and a header; the ZIP holds %v", lines, want, names)
	}

	var doc casefile.Package
	if err := json.Unmarshal(download("package.json"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Registers {
		if r.RegisterID == register && len(r.Records) != want {
			t.Fatalf("the JSON package has %d of the log's %d records", len(r.Records), want)
		}
	}
}
