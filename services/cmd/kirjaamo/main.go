// Command kirjaamo is the production binary: the services against external PostgreSQL, NATS and
// Temporal, and the tools around them (see package cli). It links none of the embedded servers; the
// dev build with `kirjaamo dev` is services/devstack/cmd/kirjaamo.
package main

import (
	"os"

	"kirjaamo.dev/services/internal/cli"
)

func main() { os.Exit(cli.Main(nil)) }
