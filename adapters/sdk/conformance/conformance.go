// Package conformance tells a register owner whether their adapter speaks the register protocol
// (contracts/PROTOCOL.md) right, whatever language it is written in. It plays the platform's side
// against a running adapter on a NATS server: it answers the adapter's announcement as the register
// catalogue would, sends it tasks as the orchestrator would, and judges the results.
//
// Run it against a NATS server of its own, not the platform's: the kit answers announcements, and it
// erases (or restricts) the known subject's data to check that an effect is applied once, so the
// adapter should run on test data. Start the check first and the adapter after it, because an
// adapter announces itself once, when it starts. In a Go test, set Config.Adapter and the kit starts
// and stops the adapter itself:
//
//	conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: "my-register",
//		Known: conformance.Subject{Identifiers: ...},
//		Adapter: func(ctx context.Context) error { return sdk.Run(ctx, myRegister{}, sdk.Config{NATSURL: url}) }})
//
// From a shell: kirjaamo adapter check --nats URL --register ID --known email=someone@example.org.
package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"kirjaamo.dev/contracts"
)

// Subject is a data subject as the kit asks a register about them: their verified identifiers. The
// kit sends a register only the identifiers of the types its declaration names, as the platform does.
type Subject struct {
	Identifiers []contracts.Identifier `json:"identifiers"`
}

// Config says which adapter to check and on whom.
type Config struct {
	// NATSURL is the NATS server the adapter is connected to, with JetStream enabled.
	NATSURL string
	// CredentialsFile is a .creds file for that server, for one that requires authentication. The kit
	// needs the platform's permissions on the register's subjects, not the register's own.
	CredentialsFile string
	// CAFile is the CA certificate (PEM) of a server served over TLS (a tls:// URL).
	CAFile string
	// RegisterID is the register whose adapter is checked.
	RegisterID string
	// Known is a person the register holds data on. A lookup must find their data, and the effect
	// check changes it (see ReadOnly). Without one, the checks that need a known person are skipped.
	Known Subject
	// Unknown is a person the register holds nothing on. If empty, the kit makes one up: identifiers
	// no real person has (an identity code in the test range, an address under example.invalid, a
	// number under the unassigned +999 country code).
	Unknown Subject
	// ReadOnly skips the check that changes the known subject's data.
	ReadOnly bool
	// Timeout is how long the kit waits for each answer. Default 10 s.
	Timeout time.Duration
	// AnnounceTimeout is how long the kit waits for the adapter to announce itself. Default 1 min:
	// the Go SDK retries an unanswered announcement after 1, 2, 4 ... 30 s.
	AnnounceTimeout time.Duration
	// Adapter, when set, runs the adapter under test in this process until ctx ends, as sdk.Run does.
	// The kit starts it once it listens for the announcement, and stops it to check that a stop
	// drains. Without it the adapter is started by hand, and the graceful-stop check is skipped.
	Adapter func(ctx context.Context) error
	// Logger receives the kit's progress. It never logs identifiers or records.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.AnnounceTimeout <= 0 {
		c.AnnounceTimeout = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var problems []string
	if c.NATSURL == "" {
		problems = append(problems, "the NATS URL is required")
	}
	if contracts.Validator().Var(c.RegisterID, "register_id") != nil {
		problems = append(problems, fmt.Sprintf("register id %q: must be 3-64 lower-case letters, digits and hyphens", c.RegisterID))
	}
	for name, s := range map[string]Subject{"known": c.Known, "unknown": c.Unknown} {
		for i := range s.Identifiers {
			if err := contracts.Validate(&s.Identifiers[i]); err != nil {
				problems = append(problems, fmt.Sprintf("%s subject, identifier %d (%s): not a valid identifier of its type",
					name, i+1, s.Identifiers[i].Type))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("conformance: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Outcome is how one check ended.
type Outcome string

const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	// Skip: the check could not be made, for the reason its message gives. It does not fail the run.
	Skip Outcome = "skip"
)

// Names of the checks, in the order they run.
const (
	CheckDeclaration    = "declaration"
	CheckUnknownSubject = "unknown-subject"
	CheckKnownSubject   = "known-subject"
	CheckPastDeadline   = "past-deadline"
	CheckInvalidTask    = "invalid-task"
	CheckLargeResult    = "large-result"
	CheckCancellation   = "cancellation"
	CheckEffectOnce     = "effect-once"
	CheckRefusal        = "refusal"
	CheckGracefulStop   = "graceful-stop"
	CheckResultsValid   = "results-valid"
	CheckAcknowledged   = "acknowledged"
	// CheckProcessingEvents judges the processing events the register published during the check.
	CheckProcessingEvents = "processing-events"
)

// Finding is the outcome of one check. A failure's message says what to fix.
type Finding struct {
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	Message string  `json:"message"`
}

// Report is what the kit found.
type Report struct {
	RegisterID string        `json:"register_id"`
	Checks     []Finding     `json:"checks"`
	Took       time.Duration `json:"took_ns"`
}

// Passed reports whether no check failed.
func (r Report) Passed() bool { return len(r.Failures()) == 0 }

// Failures lists the checks that failed.
func (r Report) Failures() []Finding {
	var out []Finding
	for _, c := range r.Checks {
		if c.Outcome == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Find returns the check of a name.
func (r Report) Find(name string) (Finding, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Finding{}, false
}

// Run checks an adapter from a Go test: each failed check is a test error that says what to fix.
func Run(t testing.TB, cfg Config) {
	t.Helper()
	report, err := Check(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		switch c.Outcome {
		case Fail:
			t.Errorf("%s: %s", c.Name, c.Message)
		case Pass, Skip:
			t.Logf("%s %s: %s", strings.ToUpper(string(c.Outcome)), c.Name, c.Message)
		}
	}
}
