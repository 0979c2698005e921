package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

func init() {
	commands["register"] = Command{
		Summary: "check a register declaration before its owner announces it: register validate FILE",
		Run:     registerCommand,
	}
	commands["rules"] = Command{
		Summary: "explain the outcome for a register and a right: rules explain --register FILE --right RIGHT [--identifier TYPE]... [--lang fi|sv|en] [--json]",
		Run:     rulesCommand,
	}
}

// errInvalid marks a declaration with problems: exit code 1, each problem printed on its own line.
var errInvalid = errors.New("the declaration is not valid")

func registerCommand(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "validate" {
		return fmt.Errorf("%w: register validate FILE", errUsage)
	}
	decl, err := readDeclaration(args[1])
	if err == nil {
		err = decl.Validate()
	}
	if ve, ok := contracts.AsValidationError(err); ok {
		for _, f := range ve.Fields {
			fmt.Fprintf(stdout, "%s: %s: %s\n", args[1], f.Field, f.Message)
		}
		return fmt.Errorf("%w: %d problem(s)", errInvalid, len(ve.Fields))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s version %s is valid (digest %s)\n", args[1], decl.RegisterID, decl.Version, decl.Digest())
	return nil
}

// readDeclaration decodes a declaration strictly: a misspelt field is a problem, not a silent default.
func readDeclaration(path string) (*contracts.Declaration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d contracts.Declaration
	if err := dec.Decode(&d); err != nil {
		ve := &contracts.ValidationError{}
		ve.Add("(file)", "json", "not a declaration: "+strings.TrimPrefix(err.Error(), "json: "))
		return nil, ve
	}
	return &d, nil
}

// identifierFlags collects repeated --identifier flags.
type identifierFlags []contracts.IdentifierType

func (f *identifierFlags) String() string { return fmt.Sprint(*f) }
func (f *identifierFlags) Set(v string) error {
	t := contracts.IdentifierType(v)
	if !t.Valid() {
		return fmt.Errorf("unknown identifier type %q (have personal_identity_code, email, phone)", v)
	}
	*f = append(*f, t)
	return nil
}

func rulesCommand(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		return fmt.Errorf("%w: rules explain --register FILE --right RIGHT [--identifier TYPE]... [--json]", errUsage)
	}
	fs := flag.NewFlagSet("rules explain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("register", "", "the register's declaration (JSON)")
	right := fs.String("right", "", "the right, which "+contracts.MustBeOneOf(contracts.Rights))
	lang := fs.String("lang", "en", "fi, sv or en")
	level := fs.String("identity", string(rules.IdentityHigh), "how the subject was identified: none, basic, substantial, high")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	var ids identifierFlags
	fs.Var(&ids, "identifier", "an identifier the subject has verified (repeat)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *file == "" || *right == "" {
		return fmt.Errorf("%w: --register and --right are required", errUsage)
	}
	language, ok := contracts.ParseLanguage(*lang)
	if !ok {
		return fmt.Errorf("%w: --lang must be fi, sv or en", errUsage)
	}
	decl, err := readDeclaration(*file)
	if err != nil {
		return err
	}
	out, err := rules.Evaluate(rules.Request{Right: contracts.Right(*right), IdentityLevel: rules.IdentityLevel(*level),
		Supplied: ids, ReceivedAt: time.Now()}, decl)
	if ve, ok := contracts.AsValidationError(err); ok {
		for _, f := range ve.Fields {
			fmt.Fprintf(stdout, "%s: %s\n", f.Field, f.Message)
		}
		return errInvalid
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprint(stdout, rules.Explain(out, language))
	return nil
}
