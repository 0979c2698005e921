package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// LongLogEntries is how many generated entries Liisa's processing log holds besides her two own.
const LongLogEntries = 3000

// KantaProcessingLog is the Kanta Services log of who processed a person's data and why (seed 001).
// An access request returns the organisations, dates and purposes. Log data is protected against
// editing and deletion, so lookup is its only operation.
type KantaProcessingLog struct{ DB *pgxpool.Pool }

func (KantaProcessingLog) Declaration() contracts.Declaration {
	return mustDeclaration("kanta-processing-log")
}

func (r KantaProcessingLog) Setup(ctx context.Context) error {
	return setup(ctx, r.DB, "kanta_log", `CREATE TABLE kanta_log.entries (id bigserial PRIMARY KEY,
		personal_identity_code text NOT NULL, processed_at timestamptz NOT NULL, organisation text NOT NULL,
		purpose text NOT NULL, service text NOT NULL);`,
		func(tx pgx.Tx) error {
			aino, liisa := People[0].PersonalIdentityCode, People[2].PersonalIdentityCode
			_, err := tx.Exec(context.Background(), `INSERT INTO kanta_log.entries
				(personal_identity_code, processed_at, organisation, purpose, service) VALUES
				($1, '2026-02-03 09:14+02', 'Esimerkkilän terveyskeskus', 'care relationship: appointment', 'Patient Data Repository'),
				($1, '2026-02-03 09:20+02', 'Apteekki Esimerkki', 'dispensing a prescription', 'Prescription Centre'),
				($2, '2025-11-21 14:02+02', 'Esimerkkilän sosiaalitoimi', 'social welfare client relationship', 'Client Data Repository for Social Welfare'),
				($2, '2026-01-08 10:45+02', 'Kela', 'fault investigation requested by the client', 'Kanta Services maintenance')`,
				aino, liisa)
			if err != nil {
				return err
			}
			// Years of home care: Liisa's log is too long to travel inline, so her access package
			// shows the large-result path (a sealed package) in the dev stack.
			_, err = tx.Exec(context.Background(), `INSERT INTO kanta_log.entries
				(personal_identity_code, processed_at, organisation, purpose, service)
				SELECT $1, timestamptz '2021-01-04 08:00+02' + n * interval '13 hours 7 minutes',
					(ARRAY['Esimerkkilän kotihoito', 'Esimerkkilän terveyskeskus', 'Apteekki Esimerkki'])[n % 3 + 1],
					(ARRAY['care relationship: home care visit', 'care relationship: nurse consultation', 'dispensing a prescription'])[n % 3 + 1],
					(ARRAY['Patient Data Repository', 'Patient Data Repository', 'Prescription Centre'])[n % 3 + 1]
				FROM generate_series(1, $2) n`, liisa, LongLogEntries)
			return err
		})
}

func (r KantaProcessingLog) Operations() sdk.Operations { return sdk.Operations{Lookup: r.lookup} }

func (r KantaProcessingLog) lookup(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
	hetu, _ := q.Identifier(contracts.IdentifierPersonalIdentityCode)
	rows, err := r.DB.Query(ctx, `SELECT processed_at, organisation, purpose, service FROM kanta_log.entries
		WHERE personal_identity_code = $1 ORDER BY processed_at`, hetu)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return records(rows, "processing log")
}
