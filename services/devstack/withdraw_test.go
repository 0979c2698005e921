package devstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/apiclient"
)

const clinicID = "clinic-event-invitations"

// TestAWithdrawnErasureIsNotCarriedOut withdraws Aino's erasure while the clinic's task waits for
// its adapter, which is stopped: the task is cancelled in the clinic's effect record, and when the
// adapter comes back it answers the task with the cancellation and erases nothing.
func TestAWithdrawnErasureIsNotCarriedOut(t *testing.T) {
	var clinic demo.Register
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := &syncBuffer{}
	dir := t.TempDir()
	s, err := Start(ctx, Config{DataDir: dir, FastPostgres: true, Limits: TestLimits, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Registers: func(db *pgxpool.Pool) []demo.Register {
			var others []demo.Register
			for _, reg := range demoRegisters(db) {
				if reg.Declaration().RegisterID == clinicID {
					clinic = reg // run by the test, when it chooses
				} else {
					others = append(others, reg)
				}
			}
			return others
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := clinic.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	runClinic := func() (stop func()) {
		runCtx, stopRun := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- sdk.Run(runCtx, clinic, sdk.Config{NATSURL: s.NATSURL, CredentialsFile: s.NATSCredentials,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})
		}()
		return func() {
			stopRun()
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Logf("clinic adapter: %v", err)
			}
		}
	}
	// The clinic announces itself once, so that its declaration is in force, then stops.
	stop := runClinic()
	for {
		inForce, _ := s.Platform.Declarations.VersionsInForce(ctx, time.Now())
		ok := false
		for _, v := range inForce {
			ok = ok || v.RegisterID == clinicID
		}
		if ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the clinic's declaration never came into force")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	aino := demo.People[0]
	client := portalClient(t, s, aino.Subject)
	email := openapi_types.Email(aino.Email)
	created, err := client.SubmitRequestWithResponse(ctx, apiclient.SubmitRequest{Right: apiclient.RightErasure,
		Language: apiclient.SubmitRequestLanguageFi, ContactEmail: &email})
	if err != nil || created.JSON202 == nil {
		t.Fatalf("submit: %v %s", err, created.Body)
	}
	requestID := created.JSON202.RequestId
	id := requestID.String()
	for {
		regs, _ := s.Platform.Cases.Registers(ctx, id)
		dispatched := false
		for _, r := range regs {
			dispatched = dispatched || (r.RegisterID == clinicID && r.DispatchedAt != nil)
		}
		if dispatched {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the clinic's task was never dispatched")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if res, err := portalClient(t, s, "demo-matti").WithdrawRequestWithResponse(ctx, requestID); err != nil || res.ApplicationproblemJSON404 == nil {
		t.Errorf("withdrawing another person's request: %v %s, want 404", err, res.Body)
	}
	res, err := client.WithdrawRequestWithResponse(ctx, requestID)
	if err != nil || res.JSON200 == nil || res.JSON200.Status != "withdrawn" || res.JSON200.Cancelled == nil || !slices.Contains(*res.JSON200.Cancelled, clinicID) {
		t.Fatalf("withdraw: %v %s, want withdrawn with the clinic's task cancelled", err, res.Body)
	}
	waitStatus(t, s, id, "withdrawn")
	if res, err := client.WithdrawRequestWithResponse(ctx, requestID); err != nil || res.ApplicationproblemJSON409 == nil {
		t.Errorf("a second withdrawal: %v %s, want 409", err, res.Body)
	}
	if res, err := client.SupplyIdentifierWithResponse(ctx, requestID, apiclient.SuppliedIdentifier{Type: apiclient.SuppliedIdentifierTypePhone,
		Value: "+358401110001"}); err != nil || res.ApplicationproblemJSON409 == nil {
		t.Errorf("a supply after the withdrawal: %v %s, want 409", err, res.Body)
	}
	desc, err := s.Platform.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || desc.WorkflowExecutionInfo.CloseTime == nil {
		t.Errorf("the workflow is not closed after the withdrawal: %v", err)
	}

	// The adapter comes back, gets the task, and answers it with the recorded cancellation.
	stop = runClinic()
	defer stop()
	for {
		regs, _ := s.Platform.Cases.Registers(ctx, id)
		var answered string
		for _, r := range regs {
			if r.RegisterID == clinicID {
				if r.CancelledAt == nil {
					t.Fatal("the case does not mark the clinic's task cancelled")
				}
				if len(r.Result) > 0 {
					answered = string(r.Result)
				}
			}
		}
		if answered != "" {
			var r contracts.Result
			if err := json.Unmarshal([]byte(answered), &r); err != nil || r.Status != contracts.StatusFailed || r.Error == nil ||
				r.Error.Code != contracts.ErrCancelled {
				t.Errorf("the clinic answered %s, want its task cancelled", answered)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the clinic never answered its cancelled task")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var left int
	hash := contracts.HashSHA256(contracts.IdentifierEmail, aino.Email)
	if err := openRegisters(t, s).QueryRow(ctx, `SELECT count(*) FROM clinic.invitations WHERE email_sha256 = $1`, hash).Scan(&left); err != nil || left == 0 {
		t.Errorf("the clinic erased Aino's invitations after the withdrawal (%d left, %v)", left, err)
	}

	// The office sees the withdrawal and the cancelled task; the citizen's page says which register did nothing.
	clerk := browser(t)
	signIn(t, clerk, s.OfficeURL, "/login", "staff-kaisa")
	_, _, csrf := page(t, clerk, s.OfficeURL+"/cases/"+id)
	post(t, clerk, s.OfficeURL+"/cases/"+id+"/purpose", url.Values{"csrf": {csrf}, "purpose": {"handling the request"}})
	if _, body, _ := page(t, clerk, s.OfficeURL+"/cases/"+id); !strings.Contains(body, `id="status">withdrawn<`) ||
		!strings.Contains(body, `data-cancelled="`+clinicID+`"`) || strings.Contains(body, `id="approve"`) {
		t.Errorf("the office's case page does not show the withdrawal:\n%s", body)
	}
	citizen := browser(t)
	signIn(t, citizen, s.PortalURL, "/en/login", aino.Subject)
	if _, body, _ := page(t, citizen, s.PortalURL+"/en/requests/"+id); !strings.Contains(body, "Withdrawn") ||
		!strings.Contains(body, `id="cancelled"`) || strings.Contains(body, `id="withdraw"`) {
		t.Errorf("the citizen's case page does not show the withdrawal:\n%s", body)
	}
	trail, _ := s.Platform.Record.Trail(ctx, id)
	var withdrawn bool
	for _, e := range trail {
		withdrawn = withdrawn || e.Action == "withdrawn"
	}
	if !withdrawn {
		t.Error("the record has no withdrawal")
	}
	history := rawHistory(t, s, id)
	assertNoPersonalData(t, history, aino.PersonalIdentityCode, aino.Email, aino.Name())
	saveForReplay(t, s, dir, history)
}
