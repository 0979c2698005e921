package portal

import (
	"context"
	"io"
	"log/slog"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/internal/casefile"
	"kirjaamo.dev/services/internal/store/cases"
	"kirjaamo.dev/services/internal/store/challenges"
	"kirjaamo.dev/services/internal/web"
	"kirjaamo.dev/workflows/request"
)

// Deps are what the portal runs on: the request workflow's client and the parts of the store it
// reads and writes, each as narrow as the portal uses it, so that its handlers are tested against
// fakes without a server.
type Deps struct {
	Requests   Requests
	Cases      Cases
	Files      Files
	Challenges Challenges
	Sessions   web.SessionStore
	Packages   Packages
	Catalogue  Catalogue
	// Limits counts calls against the rate limits (*limits.Counter).
	Limits web.Counter
	// Processing is the person's processing events (processing.go); what the registers declare
	// about them is in their declarations in the Catalogue.
	Processing Processing
	Log        *slog.Logger
}

// Catalogue is the register catalogue as the portal reads it (*declarations.Store): the registers in
// force, whose correctable fields the rectification form offers, whose rules the check of an
// erasure asks which would act at once, and whose processing events "Who has used my data" names.
type Catalogue interface {
	InForce(ctx context.Context, at time.Time) ([]request.Declared, error)
}

// Requests is the request workflow as the portal uses it (*request.Client).
type Requests interface {
	Start(ctx context.Context, in request.Input) error
	Running(ctx context.Context, requestID string) (bool, error)
	Supply(ctx context.Context, requestID string, s request.Supply) (request.State, error)
	Withdraw(ctx context.Context, requestID string, w request.Withdrawal) (request.State, error)
}

// Cases is the case store as the portal reads it (*cases.Repo).
type Cases interface {
	List(ctx context.Context, f cases.Filter) ([]cases.Case, error)
	Registers(ctx context.Context, requestID string) ([]cases.Register, error)
	Waiting(ctx context.Context, k cases.Case) ([]request.WaitingRegister, error)
	Owned(ctx context.Context, requestID, subject, identityCode string) (bool, error)
	OpenFor(ctx context.Context, subject, identityCode string) (int, error)
}

// Files assembles a case as people read it (casefile.Reader).
type Files interface {
	Load(ctx context.Context, requestID string) (*casefile.File, error)
}

// Challenges are the one-time codes that confirm a supplied identifier (*challenges.Store).
type Challenges interface {
	New(ctx context.Context, requestID, subjectID, idType, value, channel, language string) (challenges.Challenge, error)
	Verify(ctx context.Context, requestID, idType, code string) (challenges.Challenge, error)
	Used(ctx context.Context, id string) error
	Pending(ctx context.Context, requestID string) ([]challenges.Challenge, error)
}

// Packages opens the packages registers delivered (*packages.Store).
type Packages interface {
	Open(ctx context.Context, requestID, registerID string, ref contracts.PackageRef) (io.ReadCloser, error)
}

// opener is Packages.Open for one request, in the shape the access package takes.
func opener(p Packages, requestID string) casefile.Opener {
	return func(ctx context.Context, registerID string, ref contracts.PackageRef) (io.ReadCloser, error) {
		return p.Open(ctx, requestID, registerID, ref)
	}
}
