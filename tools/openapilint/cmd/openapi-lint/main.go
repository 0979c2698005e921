// Command openapi-lint holds an OpenAPI description to the ruleset of kirjaamo.dev/tools/openapilint
// and prints every problem on its own line; it exits 1 if there is any. `make test` runs it on
// contracts/openapi.yaml.
//
//	go run ./cmd/openapi-lint ../contracts/openapi.yaml
package main

import (
	"fmt"
	"os"

	"kirjaamo.dev/tools/openapilint"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: openapi-lint FILE")
		os.Exit(2)
	}
	spec, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	problems := openapilint.Lint(spec)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d problems\n", os.Args[1], len(problems))
		os.Exit(1)
	}
	fmt.Printf("%s: passes the OpenAPI ruleset\n", os.Args[1])
}
