package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/devkit/pgcluster"
	"kirjaamo.dev/services/devstack"
	"kirjaamo.dev/services/internal/cli"
)

// 8. The platform's database, dumped with pg_dump as a backup would be, holds no demo person's
// identity code, name, e-mail address or phone number: a case's subject, the sessions, the one-time
// codes, the outbox and the dev mailbox are sealed, and found by blind indexes. The demo registers'
// own tables, which hold the people's data by design, are another database.
func databaseHoldsNoPersonalDataInClear(t *testing.T, stack *devstack.Stack, requestID string) {
	t.Helper()
	pgDump, err := pgcluster.Bin("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(pgDump, "--no-owner", "--dbname", stack.AdminURL)
	cmd.Stderr = &stderr
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	// A dump without the walk's case and record would pass the check below without proving anything.
	for _, must := range []string{"COPY public.cases", "COPY public.audit_log", "COPY public.sessions", "COPY public.dev_mailbox", requestID} {
		if !bytes.Contains(dump, []byte(must)) {
			t.Fatalf("the dump (%d bytes) has no %q: the check would prove nothing", len(dump), must)
		}
	}
	for _, p := range demo.People {
		secrets := personalData(p)
		// A phone number as a Finn writes it, and an identity code in lower case, too.
		secrets = append(secrets, "0"+strings.TrimPrefix(p.Phone, "+358"), strings.ToLower(p.PersonalIdentityCode))
		for _, secret := range secrets {
			if i := bytes.Index(dump, []byte(secret)); i >= 0 {
				from, to := max(0, i-120), min(len(dump), i+len(secret)+40)
				t.Errorf("the database holds %s's %q in clear: …%s…", p.Subject, secret, dump[from:to])
			}
		}
	}
	t.Logf("8. a dump of the platform's database (%d bytes) holds no demo person's identity code, name, e-mail or phone", len(dump))
}

// kirjaamo runs a kirjaamo command against the stack, as an operator would on its host.
func kirjaamo(t *testing.T, stack *devstack.Stack, args ...string) (int, string) {
	t.Helper()
	for k, v := range stack.Env() {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &out, nil)
	return code, out.String()
}

// 9. The record proves itself: `kirjaamo audit verify` finds the record as it was written after the
// walk, and names the entry after each kind of tampering — an entry edited, an entry removed, and
// entries cut off the end — by someone with the database's superuser, who can lift the append-only
// trigger the services' role cannot. Each tampering is undone before the next.
func theRecordProvesItself(t *testing.T, stack *devstack.Stack) {
	t.Helper()
	code, out := kirjaamo(t, stack, "audit", "checkpoint")
	m := regexp.MustCompile(`checkpoint published: entry (\d+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("kirjaamo audit checkpoint: exit %d\n%s", code, out)
	}
	var checkpointed int64
	fmt.Sscan(m[1], &checkpointed)
	verify := func(what string) string {
		t.Helper()
		code, out := kirjaamo(t, stack, "audit", "verify")
		if what == "" {
			if code != 0 || !strings.Contains(out, "intact") {
				t.Fatalf("kirjaamo audit verify on the untouched record: exit %d\n%s", code, out)
			}
			return out
		}
		if code != 1 || !regexp.MustCompile(what).MatchString(out) {
			t.Fatalf("kirjaamo audit verify: exit %d, want 1 and %q:\n%s", code, what, out)
		}
		return out
	}
	out = verify("")
	t.Logf("9. kirjaamo audit verify after the walk:\n%s", indent(out))

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, stack.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`)
	defer exec(`ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only`)
	var seqs []int64
	rows, _ := admin.Query(ctx, `SELECT seq FROM audit_log ORDER BY seq`)
	seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(seqs) < 10 {
		t.Fatalf("the walk left %d entries in the record (%v)", len(seqs), err)
	}
	if seqs[len(seqs)-1] != checkpointed {
		t.Fatalf("the record grew after its checkpoint, to entry %d: the walk is not over", seqs[len(seqs)-1])
	}
	row := func(seq int64) string {
		var js string
		if err := admin.QueryRow(ctx, `SELECT row_to_json(audit_log)::text FROM audit_log WHERE seq = $1`, seq).Scan(&js); err != nil {
			t.Fatal(err)
		}
		return js
	}
	restore := func(saved ...string) {
		for _, js := range saved {
			exec(`INSERT INTO audit_log SELECT * FROM json_populate_record(null::audit_log, $1::json)`, js)
		}
	}

	// An entry edited: the purpose a view was recorded with.
	edited := seqs[len(seqs)/2]
	before := row(edited)
	exec(`UPDATE audit_log SET purpose = 'nothing to see here' WHERE seq = $1`, edited)
	out = verify(fmt.Sprintf(`BROKEN: entry %d was changed after it was written`, edited))
	t.Logf("   an edited entry:\n%s", indent(out))
	exec(`DELETE FROM audit_log WHERE seq = $1`, edited)
	restore(before)
	verify("")

	// An entry removed.
	removed := seqs[len(seqs)/3]
	before = row(removed)
	exec(`DELETE FROM audit_log WHERE seq = $1`, removed)
	prev, next := seqs[len(seqs)/3-1], seqs[len(seqs)/3+1]
	out = verify(fmt.Sprintf(`BROKEN: entry %d does not follow entry %d`, next, prev))
	t.Logf("   a removed entry:\n%s", indent(out))
	restore(before)
	verify("")

	// Entries cut off the end, with the last one the checkpoint names.
	var tail []string
	for _, seq := range seqs[len(seqs)-3:] {
		tail = append(tail, row(seq))
	}
	exec(`DELETE FROM audit_log WHERE seq >= $1`, seqs[len(seqs)-3])
	out = verify(fmt.Sprintf(`BROKEN: entry %d is missing: the checkpoint .* covers the log up to it, and the log ends at entry %d`,
		checkpointed, seqs[len(seqs)-4]))
	t.Logf("   a cut-off end:\n%s", indent(out))
	restore(tail...)
	verify("")
}

func indent(s string) string {
	return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ")
}

// returnToPayloads are return_to values a browser would follow off the site, were they taken as
// they are: a backslash (read as a slash), a tab (stripped), a dot segment before a backslash, and
// a plain network-path reference.
var returnToPayloads = []string{`/\127.0.0.2:9/x`, "/\t/127.0.0.2:9/x", `/./\127.0.0.2:9/x`, "//127.0.0.2:9/x"}

// 6b. Signing in again through a link whose return_to points elsewhere lands on the site itself, in
// a real browser, which normalizes the address the way an attacker counts on, on both sites.
func signInLinksLandOnTheSite(t *testing.T, citizen, clerk *tab, stack *devstack.Stack) {
	t.Helper()
	for _, site := range []struct {
		b                   *tab
		url, login, subject string
	}{{citizen, stack.PortalURL, "/en/login", "demo-aino"}, {clerk, stack.OfficeURL, "/login", "staff-kaisa"}} {
		for _, payload := range returnToPayloads {
			site.b.open(site.url + site.login + "?return_to=" + url.QueryEscape(payload))
			if origin(site.b.location()) != stack.IDPURL {
				site.b.fatalf("the sign-in link did not lead to the identity provider")
			}
			site.b.clickAndWaitForPage(`button[name=subject][value="` + site.subject + `"]`)
			if got := origin(site.b.location()); got != site.url {
				site.b.fatalf("return_to %q took the signed-in browser to %s", payload, site.b.location())
			}
		}
	}
	t.Logf("6b. sign-in links with %d return_to values that point elsewhere landed on each site itself", len(returnToPayloads))
}
