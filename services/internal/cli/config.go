package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/internal/config"
	"kirjaamo.dev/services/internal/flow"
	"kirjaamo.dev/services/internal/platform"
)

// Variables lists every environment variable the command reads: the platform's, each service's,
// the log's, and extra ones (the dev build's). It is the one source of the README's table.
func Variables(extra ...config.Service) []config.Row {
	all := []config.Service{{Name: "all", Vars: config.Describe(platform.Prefix, platform.Base{})}}
	names := slices.Sorted(maps.Keys(platform.Services))
	for _, name := range names {
		if platform.Services[name].Needs.NATS {
			all = append(all, config.Service{Name: name, Vars: config.Describe(platform.Prefix, bus.Config{})})
		}
	}
	for _, name := range names {
		if platform.Services[name].Needs.Temporal {
			all = append(all, config.Service{Name: name, Vars: config.Describe(platform.Prefix, flow.Config{})})
		}
	}
	for _, name := range names {
		all = append(all, config.Service{Name: name, Vars: platform.Services[name].Config})
	}
	all = append(all, config.Service{Name: "all", Vars: config.Describe("KIRJAAMO_", LogConfig{})},
		config.Service{Name: "all", Vars: config.Describe("KIRJAAMO_", OpsConfig{})},
		config.Service{Name: "kirjaamo migrate", Vars: config.Describe("KIRJAAMO_", MigrateConfig{})})
	return config.Rows(append(all, extra...))
}

// ConfigCommand prints the table of variables, with extra ones.
func ConfigCommand(extra ...config.Service) Command {
	return Command{
		Summary: "print every environment variable the services read, as the README's Markdown table",
		Run: func(_ context.Context, _ []string, stdout io.Writer) error {
			_, err := fmt.Fprint(stdout, config.Table(Variables(extra...)))
			return err
		},
	}
}

func init() { commands["config"] = ConfigCommand() }
