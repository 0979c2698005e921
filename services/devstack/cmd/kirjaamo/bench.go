package main

import (
	"context"
	"io"

	"kirjaamo.dev/services/devstack/bench"
)

func runBench(ctx context.Context, _ []string, stdout io.Writer) error {
	return bench.Run(ctx, stdout, bench.Shapes)
}
