package office

import (
	"context"
	"io"
	"log/slog"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/declarations"
	"kirjaamo.dev/services/internal/store/outbox"
	"kirjaamo.dev/services/internal/store/record"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// Deps are what the office runs on: the request workflow's client and the parts of the store it
// reads and writes, each as narrow as the office uses it, so that its handlers are tested against
// fakes without a server.
type Deps struct {
	Requests     Requests
	Cases        Cases
	Files        Files
	Record       Record
	Declarations Declarations
	Sessions     web.SessionStore
	Packages     Packages
	// Mailbox is the dev notifier's mailbox; nil outside the dev stack.
	Mailbox Mailbox
	// Limits counts calls against the rate limits (*limits.Counter).
	Limits web.Counter
	// Processing counts the processing events registers hold back (processing.go).
	Processing HeldBack
	Log        *slog.Logger
}

// Requests is the request workflow as the office uses it (*request.Client).
type Requests interface {
	Start(ctx context.Context, in request.Input) error
	Approve(ctx context.Context, requestID string, a request.Approval) (request.State, error)
	Extend(ctx context.Context, requestID string, x request.Extension) (request.State, error)
	VerifyIdentity(ctx context.Context, requestID string, v request.IdentityVerification) (request.State, error)
	RefuseIdentity(ctx context.Context, requestID string, x request.IdentityRefusal) (request.State, error)
	SendLiftNotice(ctx context.Context, requestID string, l request.Lift) (request.State, error)
	Lift(ctx context.Context, requestID string, l request.Lift) (request.State, error)
	Retry(ctx context.Context, requestID string, x request.Retry) (request.State, error)
}

// Cases is the case store as the office reads it (*cases.Repo).
type Cases interface {
	Case(ctx context.Context, requestID string) (cases.Case, error)
	List(ctx context.Context, f cases.Filter) ([]cases.Case, error)
	Registers(ctx context.Context, requestID string) ([]cases.Register, error)
	NeedingAttention(ctx context.Context) (int, error)
}

// Files assembles a case as people read it (casefile.Reader).
type Files interface {
	Load(ctx context.Context, requestID string) (*casefile.File, error)
}

// Record is the record of who did what (*record.Record).
type Record interface {
	Write(ctx context.Context, e record.Entry) error
	WriteOnce(ctx context.Context, e record.Entry, within time.Duration) (bool, error)
	Trail(ctx context.Context, requestID string) ([]record.Entry, error)
}

// Declarations is the register catalogue (*declarations.Store).
type Declarations interface {
	History(ctx context.Context) ([]declarations.Version, error)
	VersionsInForce(ctx context.Context, at time.Time) ([]declarations.Version, error)
	LastSeen(ctx context.Context) (map[string]time.Time, error)
	Approve(ctx context.Context, registerID, digest, dpo string) error
}

// Packages opens the packages registers delivered (*packages.Store).
type Packages interface {
	Open(ctx context.Context, requestID, registerID string, ref contracts.PackageRef) (io.ReadCloser, error)
}

// Mailbox lists what the dev notifier captured (*outbox.Outbox).
type Mailbox interface {
	Mailbox(ctx context.Context, limit int) ([]outbox.MailboxMessage, error)
}
