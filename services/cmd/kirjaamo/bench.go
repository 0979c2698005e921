//go:build devstack

package main

import (
	"context"
	"io"

	"kirjaamo.dev/services/bench"
)

func init() {
	commands["bench"] = command{
		summary: "measure the platform against the bare Temporal engine on embedded servers (make bench)",
		run: func(ctx context.Context, _ []string, stdout io.Writer) error {
			return bench.Run(ctx, stdout, bench.Shapes)
		},
	}
}
