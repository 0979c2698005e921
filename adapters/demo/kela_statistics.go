package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// KelaWebStatistics is Kela's website statistics, taken from the server (seed 000): page views by
// day and path, with no personal data, so the rights have nothing to act on. The IP addresses
// collected during the 2022 cookie incident are a closed dataset that the declaration states as
// deleted.
type KelaWebStatistics struct{ DB *pgxpool.Pool }

func (KelaWebStatistics) Declaration() contracts.Declaration {
	return mustDeclaration("kela-web-statistics")
}

func (r KelaWebStatistics) Setup(ctx context.Context) error {
	return setup(ctx, r.DB, "kela_stats", `CREATE TABLE kela_stats.page_views (day date NOT NULL, path text NOT NULL,
		views int NOT NULL, PRIMARY KEY (day, path));`,
		func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO kela_stats.page_views (day, path, views) VALUES
				('2026-11-01', '/en/families', 1204), ('2026-11-01', '/en/students', 988), ('2026-11-02', '/en/families', 1377)`)
			return err
		})
}

// Operations are none: the declaration declares none, as the statistics hold no identifier to search
// by and no one's data to act on, so the platform never sends the register a task. Its adapter
// announces the declaration and keeps the register shown as alive.
func (KelaWebStatistics) Operations() sdk.Operations { return sdk.Operations{} }
