package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"kirjaamo.dev/rules/deadline"
)

func init() {
	commands["deadline"] = Command{
		Summary: "print a request's legal deadline, internal target and extended deadline: deadline --received YYYY-MM-DD",
		Run:     deadlineCommand,
	}
}

func deadlineCommand(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("deadline", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	received := fs.String("received", "", "date of receipt, YYYY-MM-DD (Europe/Helsinki)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *received == "" {
		return fmt.Errorf("%w: --received YYYY-MM-DD is required", errUsage)
	}
	day, err := time.ParseInLocation("2006-01-02", *received, deadline.Helsinki)
	if err != nil {
		return fmt.Errorf("%w: --received: want a date such as 2026-04-30", errUsage)
	}
	d := deadline.Compute(day)
	const layout = "Monday 2 January 2006"
	fmt.Fprintf(stdout, "received:                  %s\n", d.Received.Format(layout))
	fmt.Fprintf(stdout, "legal deadline:            %s  (GDPR Art 12(3): one month, moved past weekends and holidays)\n", d.Legal.Format(layout))
	fmt.Fprintf(stdout, "internal target:           %s  (the last working day on or before the unmoved date)\n", d.InternalTarget.Format(layout))
	fmt.Fprintf(stdout, "extended deadline:         %s  (receipt + 3 months, if extended)\n", d.Extended.Format(layout))
	fmt.Fprintf(stdout, "extension to be decided by: %s\n", d.ExtensionDecisionBy.Format(layout))
	return nil
}
