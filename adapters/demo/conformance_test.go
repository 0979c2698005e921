package demo

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/adapters/sdk/conformance"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/devkit/natstest"
	"kirjaamo.dev/devkit/pgtest"
)

// TestDemoRegistersPassTheConformanceKit runs the kit that register owners run against each of the
// five demo registers, over real NATS and PostgreSQL: what an owner is told to do, the demo does.
func TestDemoRegistersPassTheConformanceKit(t *testing.T) {
	srv := natstest.New(t)
	db, err := pgxpool.New(t.Context(), pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	aino := People[0]
	known := conformance.Subject{Identifiers: []contracts.Identifier{
		{Type: contracts.IdentifierPersonalIdentityCode, Value: aino.PersonalIdentityCode},
		{Type: contracts.IdentifierEmail, Value: aino.Email},
		{Type: contracts.IdentifierPhone, Value: aino.Phone},
	}}
	quiet := slog.New(slog.DiscardHandler)
	for _, reg := range Registers(db) {
		id := reg.Declaration().RegisterID
		if err := reg.Setup(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			conformance.Run(t, conformance.Config{NATSURL: srv.ClientURL(), RegisterID: id, Known: known,
				Timeout: 10 * time.Second, Logger: quiet,
				Adapter: func(ctx context.Context) error {
					return sdk.Run(ctx, reg, sdk.Config{NATSURL: srv.ClientURL(), AckWait: 5 * time.Second, Logger: quiet})
				}})
		})
	}
}
