package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/contracts"
)

const adapterUsage = "adapter check --nats URL --register ID [--creds FILE] [--ca FILE] [--known TYPE=VALUE]... [--unknown TYPE=VALUE]... " +
	"[--read-only] [--timeout 10s] [--announce-timeout 1m] [--json]"

func init() {
	commands["adapter"] = Command{
		Summary: "check that a register's adapter speaks the protocol, in any language: " + adapterUsage,
		Run:     adapterCommand,
	}
}

// errChecksFailed marks an adapter that failed a check: exit code 1, each failure on its own line.
var errChecksFailed = errors.New("the adapter failed the conformance kit")

// adapterCommand plays the platform against a register's adapter on a NATS server of its own. The
// adapter announces itself once, when it starts, so it is started after the check.
func adapterCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: %s", errUsage, adapterUsage)
	}
	fs := flag.NewFlagSet("adapter check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	natsURL := fs.String("nats", "", "the NATS server the adapter connects to (JetStream enabled), e.g. nats://127.0.0.1:4222")
	registerID := fs.String("register", "", "the register id of the adapter")
	creds := fs.String("creds", "", "a NATS .creds file with the platform's permissions, for a server with authentication")
	ca := fs.String("ca", "", "the CA certificate (PEM) of a NATS server served over TLS (a tls:// URL)")
	readOnly := fs.Bool("read-only", false, "skip the check that erases or restricts the known subject's data")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each answer")
	announceTimeout := fs.Duration("announce-timeout", time.Minute, "how long to wait for the adapter to announce itself")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var known, unknown subjectFlag
	fs.Var(&known, "known", "an identifier of a person the register holds data on, TYPE=VALUE (repeat)")
	fs.Var(&unknown, "unknown", "an identifier of a person it holds nothing on, TYPE=VALUE (repeat); made up if not given")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *natsURL == "" || *registerID == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --nats and --register are required: %s", errUsage, adapterUsage)
	}
	log, err := NewLogger()
	if err != nil {
		return err
	}
	report, err := conformance.Check(ctx, conformance.Config{NATSURL: *natsURL, CredentialsFile: *creds, CAFile: *ca, RegisterID: *registerID,
		Known: conformance.Subject{Identifiers: known}, Unknown: conformance.Subject{Identifiers: unknown}, ReadOnly: *readOnly,
		Timeout: *timeout, AnnounceTimeout: *announceTimeout, Logger: log})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		for _, c := range report.Checks {
			fmt.Fprintf(stdout, "%s %s: %s\n", strings.ToUpper(string(c.Outcome)), c.Name, c.Message)
		}
	}
	if failed := len(report.Failures()); failed > 0 {
		return fmt.Errorf("%w: %d of %d checks", errChecksFailed, failed, len(report.Checks))
	}
	return nil
}

// subjectFlag collects repeated TYPE=VALUE identifiers.
type subjectFlag []contracts.Identifier

func (f *subjectFlag) String() string { return fmt.Sprint(len(*f), " identifier(s)") }

func (f *subjectFlag) Set(v string) error {
	typ, value, ok := strings.Cut(v, "=")
	id := contracts.Identifier{Type: contracts.IdentifierType(typ), Value: value}
	if !ok || !id.Type.Valid() {
		return fmt.Errorf("want TYPE=VALUE with TYPE one of personal_identity_code, email, phone; got %q", typ)
	}
	// The value is personal data: the message names its type, never the value.
	if err := contracts.Validate(&id); err != nil {
		return fmt.Errorf("the %s given is not a valid one", typ)
	}
	*f = append(*f, id)
	return nil
}
