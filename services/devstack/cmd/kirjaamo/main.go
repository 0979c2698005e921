// Command kirjaamo, the dev build: every production command (package cli) plus those that run on
// embedded servers, `dev` and `bench`. `make build` puts it in bin/. It lives in the devstack module
// so that the Temporal server, the NATS server and the browser tests stay out of the production
// module's dependency graph.
package main

import (
	"os"

	"kirjaamo.dev/services/devstack"
	"kirjaamo.dev/services/internal/cli"
)

func main() {
	os.Exit(cli.Main(map[string]cli.Command{
		"dev":   {Summary: "run the whole platform in one process on embedded servers, with the demo registers", Run: dev},
		"bench": {Summary: "measure the platform against the bare Temporal engine on embedded servers (make bench)", Run: runBench},
		"cluster": {Summary: "the production shape on this machine, each server and service its own process: cluster up [-detach] | cluster down (make cluster)",
			Run: runCluster},
		"config": cli.ConfigCommand(devstack.Variables()),
	}))
}
