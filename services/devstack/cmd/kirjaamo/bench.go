package main

import (
	"context"
	"flag"
	"io"

	"kirjaamo.dev/services/devstack/bench"
)

// runBench measures the platform against the bare engine; `kirjaamo bench processing` measures the
// processing events instead (make bench-processing).
func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "processing" {
		shape := bench.DefaultProcessingShape
		flags := flag.NewFlagSet("bench processing", flag.ContinueOnError)
		flags.IntVar(&shape.Ingest, "ingest", shape.Ingest, "events stored through JetStream and the processing service, timed")
		flags.IntVar(&shape.People, "people", shape.People, "people the ingested events are about")
		flags.Int64Var(&shape.Stored, "stored", shape.Stored, "events loaded in bulk before the pages are timed")
		flags.IntVar(&shape.Pages, "pages", shape.Pages, "pages timed at each sixth of the load")
		flags.StringVar(&shape.Dir, "dir", shape.Dir, "where the throwaway PostgreSQL cluster goes (default: the temporary directory)")
		flags.Uint64Var(&shape.MinFreeDisk, "min-free-disk", shape.MinFreeDisk, "bytes left free on the disk: the load stops before")
		if err := flags.Parse(args[1:]); err != nil {
			return err
		}
		return bench.Processing(ctx, stdout, shape)
	}
	return bench.Run(ctx, stdout, bench.Shapes)
}
