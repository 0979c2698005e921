package devstack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/services/natsauth"
)

// natsAuth is the dev stack's NATS authorization, as in production: the platform's services connect
// as the platform's user, and each demo register's adapter with credentials of its own that reach
// its own subjects only. The keys and .creds files are made once and kept in <data dir>/nats-auth
// (0700, files 0600), because the account key names where JetStream keeps the account's streams:
// a new key on every start would lose the cases under way.
type natsAuth struct {
	*natsauth.Issued
	// configure installs the trust chain in the embedded server (natsdev.Options.Configure).
	configure func(*server.Options)
}

func natsCredentials(dataDir string, registerIDs []string) (*natsAuth, error) {
	issued, err := natsauth.Issue(filepath.Join(dataDir, "nats-auth"), registerIDs)
	if err != nil {
		return nil, fmt.Errorf("devstack: nats credentials: %w", err)
	}
	configure, err := natsauth.ServerOptions(issued.ServerConfig)
	if err != nil {
		return nil, fmt.Errorf("devstack: nats credentials: %w", err)
	}
	return &natsAuth{Issued: issued, configure: configure}, nil
}

// provision creates the demo registers' effect records and package buckets as the platform: their
// own credentials may not create streams.
func (a *natsAuth) provision(ctx context.Context, js jetstream.JetStream) error {
	for id := range a.RegisterCreds {
		if err := natsauth.ProvisionRegister(ctx, js, id, 1); err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
	}
	return nil
}

// registerIDs lists the registers the stack runs, from their declarations, which need no database.
func registerIDs(newRegisters func(*pgxpool.Pool) []demo.Register) []string {
	var ids []string
	for _, reg := range newRegisters(nil) {
		ids = append(ids, reg.Declaration().RegisterID)
	}
	return ids
}
